"""Cutting audio into pieces the speech-to-text API accepts (at most 30 s and 25 MB per request).

WAV is split with the stdlib `wave` module; MP3 is measured from its frame headers and, when too long,
turned into WAV by `ffmpeg` if it is installed. These functions block: call them in a worker thread.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass

MAX_SECONDS = 30.0
MAX_BYTES = 25 * 1024 * 1024
# Keep a margin under the API's 30 s so rounding in its own duration check never refuses a piece.
PIECE_SECONDS = 29.5


class AudioError(Exception):
    """Audio that cannot be measured or cut; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One request's worth of audio. WAV pieces are views of the recording, made into files only as
    they are sent, so a long recording is held in memory once."""

    audio: bytes | memoryview  # a whole MP3, or the sample frames of a WAV piece
    seconds: float
    wav_format: tuple[int, int, int] | None = None  # (channels, sample width, frame rate) of WAV frames

    def file(self) -> bytes:
        if self.wav_format is None:
            return bytes(self.audio)
        channels, width, rate = self.wav_format
        out = io.BytesIO()
        with wave.open(out, "wb") as sink:
            sink.setnchannels(channels)
            sink.setsampwidth(width)
            sink.setframerate(rate)
            sink.writeframes(self.audio)
        return out.getvalue()


def wav_pieces(data: bytes, max_seconds: float = PIECE_SECONDS, max_bytes: int = MAX_BYTES) -> list[Piece]:
    """The WAV cut into consecutive WAV pieces of at most `max_seconds` and `max_bytes` each."""
    try:
        with wave.open(io.BytesIO(data)) as source:
            params = source.getparams()
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"the WAV file cannot be read ({exc}); only PCM WAV is supported") from exc
    frame_bytes = params.sampwidth * params.nchannels
    if params.framerate <= 0 or frame_bytes <= 0:
        raise AudioError("the WAV file has no valid sample rate or sample format")
    start, size = _data_chunk(data)
    size = min(size, params.nframes * frame_bytes) // frame_bytes * frame_bytes
    frames = memoryview(data)[start : start + size]
    per_piece = int(min(max_seconds * params.framerate, (max_bytes - 1024) // frame_bytes)) * frame_bytes
    wav_format = (params.nchannels, params.sampwidth, params.framerate)
    chunks = (frames[offset : offset + per_piece] for offset in range(0, size, per_piece))
    pieces = [Piece(chunk, len(chunk) / frame_bytes / params.framerate, wav_format) for chunk in chunks]
    if not pieces:
        raise AudioError("the WAV file contains no audio")
    return pieces


def _data_chunk(data: bytes) -> tuple[int, int]:
    """Where a WAV file's sample data starts, and its size as the header states it (or as far as it goes)."""
    offset = 12
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if data[offset : offset + 4] == b"data":
            return offset + 8, min(size, len(data) - offset - 8)
        offset += 8 + size + (size & 1)
    raise AudioError("the WAV file has no data chunk")


# MPEG audio frame header tables (bitrates in kbit/s), indexed by the header's 4-bit field.
_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),  # MPEG-1 Layer III
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),  # MPEG-2/2.5 Layer III
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_seconds(data: bytes) -> float:
    """Duration of an MP3, from its first frame's bitrate (exact for constant bitrate; an estimate else)."""
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        start = 10 + size
    for offset in range(start, min(len(data) - 4, start + 64 * 1024)):
        if data[offset] != 0xFF or data[offset + 1] & 0xE0 != 0xE0:
            continue
        version = (data[offset + 1] >> 3) & 0x03  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
        layer = (data[offset + 1] >> 1) & 0x03  # 1 = Layer III
        rate_index = data[offset + 2] >> 4
        if version == 1 or layer != 1 or rate_index in (0, 15) or (data[offset + 2] >> 2) & 0x03 == 3:
            continue
        kbps = _BITRATES[1 if version == 3 else 2][rate_index]
        return (len(data) - offset) * 8 / (kbps * 1000)
    raise AudioError("no MPEG audio frame found: the MP3 file is damaged or not an MP3")


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def mp3_to_wav(data: bytes) -> bytes:
    """Decode an MP3 to 16 kHz mono 16-bit WAV with ffmpeg (the rate speech recognition works at)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("ffmpeg is not on PATH")
    command = [
        ffmpeg,
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        "pipe:0",
        "-ac",
        "1",
        "-ar",
        "16000",
        "-f",
        "wav",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command line; the audio goes through a pipe
            [*command, "pipe:1"], input=data, capture_output=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioError("ffmpeg took more than 10 minutes to decode the MP3") from exc
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise AudioError(f"ffmpeg could not decode the MP3: {reason[0]}")
    # ffmpeg writes a streaming header with unknown sizes when the output is a pipe: fix the sizes.
    return _fix_wav_sizes(done.stdout)


def _fix_wav_sizes(data: bytes) -> bytes:
    out = bytearray(data)
    if out[:4] == b"RIFF":
        out[4:8] = (len(out) - 8).to_bytes(4, "little")
        index = out.find(b"data", 12)
        if index != -1:
            out[index + 4 : index + 8] = (len(out) - index - 8).to_bytes(4, "little")
    return bytes(out)
