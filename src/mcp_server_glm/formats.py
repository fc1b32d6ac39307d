"""Whether an input really is the media its first bytes announce, checked by walking its structure from
an open file a block at a time (large audio is never held whole): PNG chunks with their CRCs to IEND,
JPEG segments to EOI, GIF blocks to the trailer, RIFF chunk sizes (WAV, WEBP), MP4/MOV boxes, and MPEG
audio frames (their parser is files/mpeg.py, which the audio cutter shares); a PDF only as far as its
header and an end-of-file marker near its end (its objects are left to the API that reads it).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

from .errors import Damaged
from .files import mpeg

BLOCK = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type: the bit depths it allows.
PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers
JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))  # markers without a length


def check(ext: str, file: BinaryIO, size: int) -> None:
    """Raise `Damaged` unless the `size` bytes of `file` are a whole file of the format `ext` names
    (".png", ".mp3", ...). Reads from the start; leaves the position anywhere."""
    checker = CHECKERS.get(ext)
    if checker is not None:
        file.seek(0)
        checker(_Reader(file, size))


class _Reader:
    """Exact reads and skips over a file of known size, with the offset kept for messages."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self.file = file
        self.size = size
        self.offset = 0

    def read(self, count: int, what: str) -> bytes:
        if count > self.size - self.offset:
            raise Damaged(f"it ends inside its {what} (at byte {self.size})")
        data = self.file.read(count)
        if len(data) != count:
            raise Damaged("it changed while it was being read")
        self.offset += count
        return data

    def skip(self, count: int, what: str) -> None:
        if count > self.size - self.offset:
            raise Damaged(f"it ends inside its {what} (at byte {self.size})")
        self.offset += count
        self.file.seek(self.offset)

    def at_end(self) -> bool:
        return self.offset >= self.size

    def end(self, what: str) -> None:
        if self.offset != self.size:
            raise Damaged(f"{self.size - self.offset} bytes follow its {what}")


def _png(reader: _Reader) -> None:
    if reader.read(8, "signature") != PNG_SIGNATURE:
        raise Damaged("its signature is wrong")
    seen: set[bytes] = set()
    while True:
        length, kind = struct.unpack(">I4s", reader.read(8, "chunk header"))
        name = kind.decode("latin-1")
        if not kind.isalpha() or length > 0x7FFFFFFF:
            raise Damaged(f"it has an invalid chunk at byte {reader.offset - 8}")
        if (not seen or kind == b"IHDR") and (kind != b"IHDR" or length != 13 or seen):
            raise Damaged("it does not begin with its one IHDR chunk")
        crc = zlib.crc32(kind)
        data = b""
        for offset in range(0, length, BLOCK):
            piece = reader.read(min(BLOCK, length - offset), f"{name} chunk")
            crc = zlib.crc32(piece, crc)
            data = piece if kind == b"IHDR" else b""
        if struct.unpack(">I", reader.read(4, f"{name} chunk"))[0] != crc:
            raise Damaged(f"its {name} chunk has a bad CRC")
        if kind == b"IHDR":
            _png_header(data)
        seen.add(kind)
        if kind == b"IEND":
            break
    if b"IDAT" not in seen:
        raise Damaged("it has no image data (IDAT)")
    reader.end("IEND chunk")


def _png_header(data: bytes) -> None:
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data)
    if not (0 < width <= 0x7FFFFFFF and 0 < height <= 0x7FFFFFFF):
        raise Damaged(f"its IHDR gives an impossible size ({width}x{height})")
    if depth not in PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise Damaged("its IHDR holds invalid values")


def _jpeg(reader: _Reader) -> None:
    _jpeg_stream(reader)
    # Multi-picture files (MPF) carry further pictures after the first: each must be whole too.
    while not reader.at_end():
        _jpeg_stream(reader)


def _jpeg_stream(reader: _Reader) -> None:
    if reader.read(2, "start") != b"\xff\xd8":
        raise Damaged(f"{reader.size - reader.offset + 2} bytes follow its end (EOI)")
    framed = False
    while True:
        if reader.read(1, "markers") != b"\xff":
            raise Damaged(f"it has no segment marker at byte {reader.offset - 1}")
        marker = 0xFF
        while marker == 0xFF:  # fill bytes
            marker = reader.read(1, "markers")[0]
        if marker == 0xD9:
            if not framed:
                raise Damaged("it ends (EOI) before any scan")
            return
        if marker in JPEG_STANDALONE:
            continue
        if marker in (0x00, 0xD8):
            raise Damaged(f"it has a misplaced marker at byte {reader.offset - 2}")
        length = struct.unpack(">H", reader.read(2, "segment length"))[0]
        if length < 2:
            raise Damaged(f"it has a segment of impossible length at byte {reader.offset - 4}")
        reader.skip(length - 2, f"segment FF{marker:02X}")
        framed = framed or marker in JPEG_FRAMES
        if marker == 0xDA:
            if not framed:
                raise Damaged("it has a scan (SOS) before any frame header (SOF)")
            _jpeg_scan(reader)


def _jpeg_scan(reader: _Reader) -> None:
    """Past the entropy-coded data of a scan, to the marker that ends it (an FF not followed by 00 or
    a restart marker)."""
    while True:
        block = reader.file.read(min(BLOCK, reader.size - reader.offset))
        if not block:
            raise Damaged("it ends inside a scan, before its end (EOI)")
        start = 0
        while (found := block.find(b"\xff", start)) != -1:
            if found + 1 == len(block):
                break  # look at the pair again with the next block
            follower = block[found + 1]
            if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
                reader.offset += found
                reader.file.seek(reader.offset)
                return
            start = found + 2
        advance = len(block) - 1 if block.endswith(b"\xff") and len(block) > 1 else len(block)
        if reader.offset + advance >= reader.size:
            raise Damaged("it ends inside a scan, before its end (EOI)")
        reader.offset += advance
        reader.file.seek(reader.offset)


def _gif(reader: _Reader) -> None:
    header = reader.read(13, "header")
    if header[:6] not in (b"GIF87a", b"GIF89a"):
        raise Damaged("its signature is wrong")
    if header[10] & 0x80:
        reader.skip(3 << ((header[10] & 7) + 1), "colour table")
    images = 0
    while True:
        introducer = reader.read(1, "blocks")[0]
        if introducer == 0x3B:
            break
        if introducer == 0x2C:
            descriptor = reader.read(9, "image descriptor")
            if descriptor[8] & 0x80:
                reader.skip(3 << ((descriptor[8] & 7) + 1), "colour table")
            reader.skip(1, "image data")
            images += 1
        elif introducer == 0x21:
            reader.skip(1, "extension")
        else:
            raise Damaged(f"it has an unknown block at byte {reader.offset - 1}")
        while length := reader.read(1, "data sub-blocks")[0]:
            reader.skip(length, "data sub-blocks")
    if not images:
        raise Damaged("it holds no image")
    reader.end("trailer")


def _riff(reader: _Reader, form: bytes) -> list[tuple[bytes, int]]:
    """The (id, size) of each chunk of a RIFF file of `form`, whose sizes must add up to the file's."""
    tag, declared, found = struct.unpack("<4sI4s", reader.read(12, "RIFF header"))
    if tag != b"RIFF" or found != form:
        raise Damaged("its RIFF header is wrong")
    if declared + 8 not in (reader.size, reader.size - 1):
        raise Damaged(f"its RIFF header gives {declared + 8} bytes, but the file has {reader.size}")
    chunks = []
    while reader.size - reader.offset >= 8:
        chunk, length = struct.unpack("<4sI", reader.read(8, "chunk header"))
        remaining = reader.size - reader.offset
        if length > remaining:
            raise Damaged(f"its {chunk.decode('latin-1').strip()!r} chunk runs past the end of the file")
        reader.skip(min(length + (length & 1), remaining), "chunk")  # the last one may lack its pad byte
        chunks.append((chunk, length))
    reader.end("last chunk")
    return chunks


def _wav(reader: _Reader) -> None:
    chunks = dict(_riff(reader, b"WAVE"))
    if chunks.get(b"fmt ", 0) < 16:
        raise Damaged("it has no valid format (fmt) chunk")
    if b"data" not in chunks:
        raise Damaged("it has no data chunk")


def _webp(reader: _Reader) -> None:
    chunks = _riff(reader, b"WEBP")
    if not chunks or chunks[0][0] not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise Damaged("it has no VP8, VP8L or VP8X chunk first")


def _iso_boxes(reader: _Reader) -> None:
    """MP4 and MOV: top-level boxes whose sizes add up to the file's."""
    boxes = 0
    while not reader.at_end():
        length, kind = struct.unpack(">I4s", reader.read(8, "box header"))
        header = 8
        if length == 1:
            length, header = struct.unpack(">Q", reader.read(8, "box header"))[0], 16
        elif length == 0:
            length = reader.size - reader.offset + 8
        if length < header:
            raise Damaged(f"its box {kind!r} at byte {reader.offset - header} has an impossible size")
        reader.skip(length - header, f"box {kind.decode('latin-1')}")
        boxes += 1
    if not boxes:
        raise Damaged("it holds no box")


PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
PDF_TAIL = 1024  # the %%EOF marker must lie in the last KiB (as PDF readers look for it)


def _pdf(reader: _Reader) -> None:
    """A PDF's header (version 1.x or 2.x) and its `%%EOF` marker in the last KiB: a cut download or a
    renamed file is caught; the rest of the structure is the reader's (GLM-OCR's) to judge."""
    if not PDF_HEADER.fullmatch(reader.read(8, "header")):
        raise Damaged("its header is not %PDF-1.x or %PDF-2.x")
    tail = max(reader.offset, reader.size - PDF_TAIL)
    reader.skip(tail - reader.offset, "body")
    if b"%%EOF" not in reader.read(reader.size - tail, "end"):
        raise Damaged("it has no %%EOF marker at its end (is it cut short?)")


def _mp3(reader: _Reader) -> None:
    walked = mpeg.walk(reader.file, reader.size)
    if walked.start > walked.end:
        raise Damaged("its ID3 tag is larger than the file")
    if not walked.frames:
        raise Damaged("it holds no whole MPEG audio frame")
    if walked.stop < walked.end:
        raise Damaged(f"its MPEG audio frames stop at byte {walked.stop} of {reader.size}")


CHECKERS: dict[str, Callable[[_Reader], None]] = {
    ".png": _png,
    ".jpg": _jpeg,
    ".gif": _gif,
    ".webp": _webp,
    ".wav": _wav,
    ".mp3": _mp3,
    ".mp4": _iso_boxes,
    ".mov": _iso_boxes,
    ".pdf": _pdf,
}
