"""What a chat file input is (MediaKind "file"): a PDF, a Word, Excel or PowerPoint document, or plain
text (txt, jsonl, csv, markdown), recognised by its bytes and checked whole.
"""

from __future__ import annotations

import codecs
import zipfile
from typing import BinaryIO

from ..errors import InputRefused

ACCEPTED = "a PDF, a Word, Excel or PowerPoint document, or UTF-8 text"
PDF = "application/pdf"
TEXT = "text/plain"
# An Office Open XML document is a ZIP archive whose parts sit under one of these folders.
OFFICE = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
ZIP_MAGIC = b"PK\x03\x04"
PDF_TAIL = 1024  # %%EOF sits within the last kilobyte of a whole PDF
CHUNK = 1024 * 1024


def whole_file(file: BinaryIO, size: int, head: bytes) -> str:
    """The MIME type of the `size` bytes in `file` (starting with `head`) if they are a whole document
    of a kind chat file parts take, else a refusal saying what they look like."""
    if not head:
        raise InputRefused("it is empty")
    if head.startswith(b"%PDF-"):
        file.seek(max(size - PDF_TAIL, 0))
        if b"%%EOF" not in file.read(PDF_TAIL):
            raise InputRefused("it starts like a PDF but is not a whole one (no %%EOF at its end)")
        return PDF
    if head.startswith(ZIP_MAGIC):
        return _office(file)
    if _is_text(file):
        return TEXT
    raise InputRefused(f"it is not {ACCEPTED}")


def _office(file: BinaryIO) -> str:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputRefused(f"it starts like a ZIP archive but is not a whole one ({exc})") from None
    for folder, mime_type in OFFICE.items():
        if "[Content_Types].xml" in names and any(name.startswith(folder) for name in names):
            return mime_type
    raise InputRefused(f"it is a ZIP archive, not {ACCEPTED}")


def _is_text(file: BinaryIO) -> bool:
    """UTF-8 throughout, without control characters other than tabs, line and page breaks."""
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(CHUNK):
            text = decoder.decode(chunk)
            if any(not (char.isprintable() or char in "\t\r\n\f") for char in text):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
