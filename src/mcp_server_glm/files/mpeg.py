"""MPEG audio (MP3) frame headers and the tags around them: the one parser that sniffing, the whole-file
check (formats.py) and the audio cutter's duration (audio_chunks.py) all use.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

BLOCK = 1024 * 1024
ID3V1_BYTES = 128
APE_FOOTER_BYTES = 32
FIRST_FRAME_WINDOW = 64 * 1024  # how far past the ID3 tag `duration` looks for a first frame

# MPEG audio layer III frame header tables (bitrates in kbit/s), indexed by the header's 4-bit field,
# and sample rates by version (3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5).
_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),  # MPEG-2 and 2.5
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True, slots=True)
class MpegFrame:
    kbps: int
    sample_rate: int
    length: int  # bytes, the header included


@dataclass(frozen=True, slots=True)
class FrameWalk:
    """Where the frames of an MP3 lie: between `start` (after an ID3v2 tag) and `end` (before ID3v1 and
    APE tags), `frames` whole frames back to back from `start`, the walk stopping at `stop`."""

    start: int
    end: int
    frames: int
    stop: int


def mpeg_frame(header: bytes) -> MpegFrame | None:
    """The MPEG layer III frame a 4-byte header starts, or None if it is not a valid one: not just the
    sync bits (a UTF-16 byte order mark, FF FE, must not pass for audio), no free-format bitrate and
    no reserved field."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    rate_index, frequency, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer != 1 or rate_index in (0, 15) or frequency == 3 or header[3] & 3 == 2:
        return None
    kbps = _BITRATES[1 if version == 3 else 2][rate_index]
    sample_rate = _SAMPLE_RATES[version][frequency]
    length = (144 if version == 3 else 72) * kbps * 1000 // sample_rate + padding
    return MpegFrame(kbps, sample_rate, length)


def id3_size(head: bytes) -> int:
    """Bytes an ID3v2 tag at the start of `head` takes (header and footer included), or 0."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def trailing_tags(file: BinaryIO, size: int) -> int:
    """Bytes that ID3v1 and APEv2 tags take at the end of an MP3."""
    tags = 0
    if size >= ID3V1_BYTES:
        file.seek(size - ID3V1_BYTES)
        if file.read(3) == b"TAG":
            tags = ID3V1_BYTES
    if size - tags >= APE_FOOTER_BYTES:
        file.seek(size - tags - APE_FOOTER_BYTES)
        footer = file.read(APE_FOOTER_BYTES)
        if footer[:8] == b"APETAGEX":
            length, flags = struct.unpack("<I4xI", footer[12:24])
            tags += length + (APE_FOOTER_BYTES if flags & 0x80000000 else 0)
    return min(tags, size)


def walk(file: BinaryIO, size: int) -> FrameWalk:
    """The frames of the `size` bytes of `file`, walked header to header from the end of its ID3v2 tag,
    a block at a time; the walk stops at the first byte that does not start a frame, or at the tags."""
    file.seek(0)
    start = id3_size(file.read(10))
    end = size - trailing_tags(file, size)
    frames = 0
    offset = start
    base, block = start, b""
    lengths: dict[bytes, int] = {}  # frame length by header: a file has few distinct headers
    while offset + 4 <= end:
        if offset + 4 > base + len(block):
            file.seek(offset)
            base, block = offset, file.read(min(BLOCK, end - offset))
        header = block[offset - base : offset - base + 4]
        length = lengths.get(header)
        if length is None:
            frame = mpeg_frame(header)
            if frame is None:
                break
            length = lengths[header] = frame.length
        offset += length
        if offset <= end:
            frames += 1
    return FrameWalk(start=start, end=end, frames=frames, stop=offset)


def duration(file: BinaryIO, size: int) -> float | None:
    """Seconds of the MP3 in the `size` bytes of `file`, from its first frame's bitrate (exact for constant
    bitrate, an estimate else); None when no frame starts within FIRST_FRAME_WINDOW of its ID3v2 tag."""
    file.seek(0)
    start = id3_size(file.read(10))
    file.seek(start)
    data = file.read(FIRST_FRAME_WINDOW + 4)
    for offset in range(len(data) - 4):
        frame = mpeg_frame(data[offset : offset + 4])
        if frame is not None:
            return (size - start - offset) * 8 / (frame.kbps * 1000)
    return None
