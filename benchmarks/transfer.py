"""Big files through the server: a 500 MiB video downloaded to disk, a 25 MiB WAV and one of 500 MiB (the
default cap) transcribed; how much the server's peak resident memory grows over its peak after the same
call on a small file.
"""

from __future__ import annotations

import math
import struct
import time
import wave
from pathlib import Path

from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.stdio import RawSession

from .common import MIB, Row, data_dirs, server_env, succeeded

VIDEO_BYTES = 500 * MIB
AUDIO_SIZES = (25 * MIB, 500 * MIB)
DOWNLOAD_GROWTH_TARGET_MIB = 16.0


def run(quick: bool) -> list[Row]:
    video_bytes = 64 * MIB if quick else VIDEO_BYTES
    audio_sizes = AUDIO_SIZES[:1] if quick else AUDIO_SIZES
    with FakeGLM() as fake, data_dirs() as root:
        fake.task_plan = TaskPlan(polls=0)
        write_wav(root / "inputs" / "short.wav", seconds=2)
        session = RawSession(server_env(fake.base_url, root, GLM_POLL_INTERVAL="0.05"))
        try:
            # The same calls on small files first: what stays is what the big files cost.
            succeeded(session.call("generate_video", {"prompt": "a small one", "wait_seconds": 30}), "video")
            succeeded(session.call("transcribe", {"file": str(root / "inputs" / "short.wav")}), "transcribe")

            small_peak = session.peak_rss_mib()
            fake.media_size = video_bytes
            started = time.perf_counter()
            job = succeeded(
                session.call("generate_video", {"prompt": "a big one", "wait_seconds": 120}), "video"
            )
            seconds = time.perf_counter() - started
            saved = Path(job["structuredContent"]["path"]).stat().st_size
            if saved != video_bytes:
                raise RuntimeError(f"the video saved is {saved} bytes, not {video_bytes}")
            download_growth = session.peak_rss_mib() - small_peak

            transcribed = [_transcribe(session, root / "inputs", size) for size in audio_sizes]
        finally:
            session.kill()
    rows = [
        Row(
            f"{video_bytes // MIB} MiB video downloaded",
            f"peak RSS +{download_growth:.1f} MiB ({video_bytes / MIB / seconds:.0f} MiB/s)",
            f"peak after a small video {small_peak:.1f} MiB",
            None,
            f"<= +{DOWNLOAD_GROWTH_TARGET_MIB:.0f} MiB",
            download_growth <= DOWNLOAD_GROWTH_TARGET_MIB,
        )
    ]
    for audio_mib, chunks, growth in transcribed:
        rows.append(
            Row(
                f"{audio_mib:.0f} MiB WAV transcribed ({chunks} requests)",
                f"peak RSS +{growth:.1f} MiB",
                f"file {audio_mib:.1f} MiB",
                growth / audio_mib,
                "<= 2x the file",
                growth <= 2 * audio_mib,
            )
        )
    return rows


def _transcribe(session: RawSession, directory: Path, size: int) -> tuple[float, int, float]:
    """(file MiB, requests, peak RSS growth in MiB) of transcribing a WAV of about `size` bytes, written
    for the call and removed after it."""
    audio = directory / f"long-{size // MIB}.wav"
    write_wav(audio, seconds=_seconds_for(size))
    try:
        audio_mib = audio.stat().st_size / MIB
        before = session.peak_rss_mib()
        transcript = succeeded(session.call("transcribe", {"file": str(audio)}), "transcribe")
        return audio_mib, transcript["structuredContent"]["chunks"], session.peak_rss_mib() - before
    finally:
        audio.unlink()


def _seconds_for(size: int, rate: int = 16000) -> int:
    return (size - 1024) // (2 * rate)  # the header fits too: 500 MiB is the cap, not over it


def write_wav(path: Path, seconds: int, rate: int = 16000) -> None:
    """Mono 16-bit speech-band audio: a wavering tone, so no piece is silence."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        second = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * (220 + 40 * (n % 7)) * n / rate)))
            for n in range(rate)
        )
        for _ in range(seconds):
            out.writeframes(second)
