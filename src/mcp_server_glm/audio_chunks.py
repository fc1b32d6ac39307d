"""Cutting audio into pieces the speech-to-text API accepts (at most 30 s and 25 MB per request).

A WAV file is cut into ranges of the file, each read only as it is sent; an MP3 is measured from its frame
headers (files/mpeg.py, the parser the file check uses) and, when too long, decoded by `ffmpeg` (if
installed) into a WAV file. All of it works on open files and blocks: call it in a worker thread.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .errors import AudioError
from .files import mpeg

MAX_SECONDS = 30.0
MAX_BYTES = 25 * 1024 * 1024
# Keep a margin under the API's 30 s so rounding in its own duration check never refuses a piece.
PIECE_SECONDS = 29.5
WAV_HEADER_BYTES = 44
CHUNK = 256 * 1024  # bytes read from disk at a time as a piece is sent


@dataclass(frozen=True, slots=True)
class Piece:
    """One request's worth of audio: a range of the recording, read from it only as it is sent, so that
    neither a long recording nor a piece of it is ever held in memory. Send one piece at a time."""

    source: BinaryIO
    offset: int
    size: int
    seconds: float
    wav_format: tuple[int, int, int] | None = None  # (channels, sample width, frame rate) of WAV frames

    @property
    def length(self) -> int:
        """The size of the piece as a file: its range, after the WAV header made for it if any."""
        return self.size + (WAV_HEADER_BYTES if self.wav_format is not None else 0)

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        """The piece as a file, `chunk` bytes at a time, each read from the recording when asked for; every
        call starts again from the start."""
        if self.wav_format is not None:
            yield _wav_header(*self.wav_format, self.size)
        position, end = self.offset, self.offset + self.size
        while position < end:
            self.source.seek(position)
            data = self.source.read(min(chunk, end - position))
            if not data:
                raise AudioError("the audio file changed while it was being read; try again")
            position += len(data)
            yield data


def wav_pieces(
    source: BinaryIO, size: int, max_seconds: float = PIECE_SECONDS, max_bytes: int = MAX_BYTES
) -> list[Piece]:
    """The WAV file `source` (`size` bytes) cut into consecutive WAV pieces of at most `max_seconds` and
    `max_bytes` each."""
    try:
        source.seek(0)
        with wave.open(source, "rb") as header:
            params = header.getparams()
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"the WAV file cannot be read ({exc}); only PCM WAV is supported") from exc
    frame_bytes = params.sampwidth * params.nchannels
    if params.framerate <= 0 or frame_bytes <= 0:
        raise AudioError("the WAV file has no valid sample rate or sample format")
    start, length = _data_chunk(source, size)
    length = min(length, params.nframes * frame_bytes) // frame_bytes * frame_bytes
    per_piece = int(min(max_seconds * params.framerate, (max_bytes - 1024) // frame_bytes)) * frame_bytes
    wav_format = (params.nchannels, params.sampwidth, params.framerate)
    pieces = [
        Piece(source, start + offset, part, part / frame_bytes / params.framerate, wav_format)
        for offset in range(0, length, per_piece)
        for part in [min(per_piece, length - offset)]
    ]
    if not pieces:
        raise AudioError("the WAV file contains no audio")
    return pieces


def _data_chunk(source: BinaryIO, size: int) -> tuple[int, int]:
    """Where a WAV file's sample data starts, and its size as the header states it (or as far as it goes)."""
    offset = 12
    while offset + 8 <= size:
        source.seek(offset)
        header = source.read(8)
        length = int.from_bytes(header[4:8], "little")
        if header[:4] == b"data":
            return offset + 8, min(length, size - offset - 8)
        offset += 8 + length + (length & 1)
    raise AudioError("the WAV file has no data chunk")


def _wav_header(channels: int, width: int, rate: int, size: int) -> bytes:
    """The 44-byte header of a PCM WAV file holding `size` bytes of sample frames."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", WAV_HEADER_BYTES - 8 + size, b"WAVE", b"fmt ", 16, 1, channels, rate),
        *(rate * channels * width, channels * width, width * 8, b"data", size),
    )


def mp3_seconds(source: BinaryIO, size: int) -> float:
    """Duration of an MP3, from its first frame's bitrate (exact for constant bitrate; an estimate else)."""
    seconds = mpeg.duration(source, size)
    if seconds is None:
        raise AudioError("no MPEG audio frame found: the MP3 file is damaged or not an MP3")
    return seconds


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def mp3_to_wav(source: BinaryIO, out: BinaryIO) -> int:
    """The MP3 file `source` decoded by ffmpeg into `out` as 16 kHz mono 16-bit WAV (the rate speech
    recognition works at); the size of the WAV."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("ffmpeg is not on PATH")
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-i", "pipe:0", "-ac", "1", "-ar", "16000"]
    source.seek(0)
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command line; the audio goes through pipes
            [*command, "-f", "wav", "pipe:1"],
            stdin=source,
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioError("ffmpeg took more than 10 minutes to decode the MP3") from exc
    size = out.seek(0, 2)
    if done.returncode != 0 or not size:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise AudioError(f"ffmpeg could not decode the MP3: {reason[0]}")
    if size > 0xFFFFFFFF:
        raise AudioError("the MP3 decodes to more than a WAV file can hold (4 GiB); split it first")
    _fix_wav_sizes(out, size)
    return size


def _fix_wav_sizes(wav: BinaryIO, size: int) -> None:
    """Write the real sizes into a WAV header that ffmpeg left open-ended, as it does writing to a pipe."""
    wav.seek(0)
    head = wav.read(4096)
    if head[:4] != b"RIFF":
        return
    wav.seek(4)
    wav.write((size - 8).to_bytes(4, "little"))
    index = head.find(b"data", 12)
    if index != -1:
        wav.seek(index + 4)
        wav.write((size - index - 8).to_bytes(4, "little"))
    wav.flush()
