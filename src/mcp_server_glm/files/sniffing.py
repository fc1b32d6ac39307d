"""What media bytes are: recognised by their magic numbers, and checked whole (formats.py walks them).

A refusal says what the bytes look like instead (an HTML error page, a PDF, text).
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO

from .. import formats
from ..errors import Damaged, InputRefused
from . import documents
from .mpeg import mpeg_frame
from .types import MediaKind

SNIFF_BYTES = 512  # enough to recognise media, and to say what a refused body looks like
ACCEPTED: dict[MediaKind, str] = {
    "image": "PNG, JPEG, WEBP or GIF",
    "audio": "WAV or MP3",
    "video": "MP4 or MOV",
    "document": "PDF, PNG or JPEG",
    "file": documents.ACCEPTED,
}
NOUNS: dict[MediaKind, str] = {
    "image": "an image",
    "audio": "audio",
    "video": "a video",
    "document": "a document",
    "file": "a document",
}
DOCUMENT_FORMATS = (".pdf", ".png", ".jpg")  # what GLM-OCR reads
# extension: (MIME type, how messages name it)
FORMATS = {
    ".png": ("image/png", "a PNG image"),
    ".jpg": ("image/jpeg", "a JPEG image"),
    ".webp": ("image/webp", "a WEBP image"),
    ".gif": ("image/gif", "a GIF image"),
    ".wav": ("audio/wav", "WAV audio"),
    ".mp3": ("audio/mpeg", "MP3 audio"),
    ".mp4": ("video/mp4", "an MP4 video"),
    ".mov": ("video/quicktime", "a QuickTime (MOV) video"),
    ".pdf": ("application/pdf", "a PDF document"),
}
QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free")


def sniff(data: bytes) -> tuple[MediaKind, str] | None:
    """(kind, extension) of media recognised by its first bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image", ".jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image", ".gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image", ".webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio", ".wav"
    if data.startswith(b"ID3") or mpeg_frame(data[:4]) is not None:
        return "audio", ".mp3"
    if data[4:8] == b"ftyp":
        return "video", ".mov" if data[8:12] == b"qt  " else ".mp4"
    if data[4:8] in QUICKTIME_ATOMS:
        return "video", ".mov"
    if data.startswith(b"%PDF-"):
        return "document", ".pdf"
    return None


def expect(kind: MediaKind, data: bytes) -> str:
    """The MIME type of `data` if it is media of `kind`, else a refusal saying what it looks like."""
    if not data:
        raise InputRefused("it is empty")
    found = sniff(data)
    if found is not None and (found[0] == kind or (kind == "document" and found[1] in DOCUMENT_FORMATS)):
        return FORMATS[found[1]][0]
    looks = f"it is {FORMATS[found[1]][1]}" if found else f"{looks_like(data)}it is not {ACCEPTED[kind]}"
    raise InputRefused(f"it is not {NOUNS[kind]} ({looks})")


def whole(kind: MediaKind, file: BinaryIO, size: int, head: bytes) -> str:
    """The MIME type of the `size` bytes in `file`, which start with `head`, if they are whole media of
    `kind` (its structure walked to the end, not only its first bytes), else a refusal."""
    if kind == "file":
        return documents.whole_file(file, size, head)
    mime_type = expect(kind, head)
    ext = extension(head)
    try:
        formats.check(ext, file, size)
    except Damaged as exc:
        raise InputRefused(f"it starts like {FORMATS[ext][1]} but is not one: {exc}") from None
    return mime_type


def looks_like(data: bytes) -> str:
    head = data[:512]
    if head.startswith(b"%PDF-"):
        return "it looks like a PDF; "
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive; "
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # tolerates a cut last character
    except UnicodeDecodeError:
        return ""
    if not all(char.isprintable() or char in "\t\r\n\f" for char in text):
        return ""
    return "it looks like HTML; " if re.search(r"<(!doctype|html)", text, re.I) else "it looks like text; "


def extension(head: bytes) -> str:
    """The extension of media `expect` accepted."""
    found = sniff(head)
    assert found is not None  # only called on bytes `expect` accepted
    return found[1]
