"""Small but whole media files for tests that read inputs: the file guard walks each format's structure,
so a header followed by anything does not pass for a picture or a recording.

JPEG, GIF and WEBP are 2x2 pictures encoded once by Pillow; the rest are built here.
"""

from __future__ import annotations

import base64
import struct
import zlib

from tests.conftest import wav_file


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(text: bytes = b"") -> bytes:
    """A 1x1 grey PNG, carrying `text` in a tEXt chunk if given."""
    extra = png_chunk(b"tEXt", b"Comment\x00" + text) if text else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + extra
        + png_chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + png_chunk(b"IEND", b"")
    )


MP3_HEADER = b"\xff\xfb\x90\x64"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames


def mp3(frames: int = 4, *, id3: bool = False) -> bytes:
    """`frames` silent MPEG-1 layer III frames, after an empty ID3v2 tag if `id3`."""
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00" if id3 else b""
    return tag + (MP3_HEADER + bytes(417 - 4)) * frames


def box(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data) + 8) + kind + data


PNG = png()
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDACgcHiMeGSgjISMtKygwPGRBPDc3PHtYXUlkkYCZlo+AjIqgtObDoKrarYqMyP/L2u71"
    "////m8H////6/+b9//j/2wBDASstLTw1PHZBQXb4pYyl+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4"
    "+Pj4+Pj4+Pj/wAARCAACAAIDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF"
    "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW"
    "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi"
    "4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC"
    "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm"
    "Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq"
    "8vP09fb3+Pn6/9oADAMBAAIRAxEAPwCnRRRWJ6R//9k="
)
GIF = base64.b64decode("R0lGODdhAgACAIEAAMgKCgAAAAAAAAAAACwAAAAAAgACAAAIBgABCAQQEAA7")
WEBP = base64.b64decode("UklGRh4AAABXRUJQVlA4TBEAAAAvAUAAAAdQhSJXof+BiOh/AAA=")
WAV = wav_file(b"\x00\x01" * 1600)
MP3 = mp3(id3=True)
MP3_FRAME = mp3()
MP4 = box(b"ftyp", b"isom\x00\x00\x02\x00isommp41") + box(b"mdat", bytes(32))
MOV = box(b"ftyp", b"qt  \x00\x00\x00\x00qt  ") + box(b"mdat", bytes(32))
MOV_ATOM = box(b"wide", b"") + box(b"mdat", bytes(32))


def pdf(pages: int = 1) -> bytes:
    """A small valid PDF of `pages` empty A4 pages (150 pages are about 10 kB)."""
    from tests.fake_glm.platform import make_pdf

    return make_pdf(pages)
