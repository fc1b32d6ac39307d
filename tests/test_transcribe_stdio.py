"""`transcribe` end to end, over stdio with the installed server: a piece of audio is streamed from disk
(the server's memory does not grow by the piece's size), retries re-send it whole, and the model name the
references no longer know is refused before anything is sent."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.support.stdio import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MIB = 1024 * 1024


def write_wav(path: Path, seconds: float, rate: int, channels: int) -> int:
    """A 16-bit PCM WAV file of a rising ramp, written a second at a time; the size of its frames."""
    second = b"".join((i % 30000).to_bytes(2, "little") * channels for i in range(rate))
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(channels)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        whole, rest = divmod(round(seconds * rate), rate)
        for _ in range(whole):
            sink.writeframes(second)
        sink.writeframes(second[: rest * 2 * channels])
    return round(seconds * rate) * 2 * channels


def test_a_piece_is_streamed_from_disk_not_copied_in_memory(fake: FakeGLM, isolated_dirs: Path) -> None:
    small = isolated_dirs / "small.wav"
    write_wav(small, 1, 8000, 1)
    big = isolated_dirs / "big.wav"
    # 29.5 s of 192 kHz stereo: one request-sized piece of about 22 MB.
    frames = write_wav(big, 29.5, 192000, 2)
    session = RawSession(server_env(fake))
    try:
        warm = session.call("transcribe", {"file": str(small)})
        assert warm["isError"] is False, warm
        before = session.peak_rss_mib()
        done = session.call("transcribe", {"file": str(big)})
        after = session.peak_rss_mib()
    finally:
        session.kill()
    assert done["isError"] is False, done
    assert done["structuredContent"]["chunks"] == 1
    [_, request] = fake.requests_to("audio/transcriptions")
    assert request.files["file"] == big.read_bytes()  # the piece is the whole file: header and frames
    growth = after - before
    piece = frames / MIB
    print(f"server peak RSS {before:.1f} MiB before, {after:.1f} MiB after sending a {piece:.1f} MiB piece")
    # Reading the piece, adding its header and encoding the form each copied it (~2.7x the piece).
    assert growth < 0.25 * piece


async def test_glm_asr_is_refused_and_a_retried_piece_arrives_whole(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path
) -> None:
    audio = isolated_dirs / "talk.wav"
    write_wav(audio, 3, 16000, 1)
    fake.script("audio/transcriptions", Fault(drop=True))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        legacy = await client.call_tool("transcribe", {"file": str(audio), "model": "glm-asr"})
        assert legacy.is_error
        assert "legacy model name" in text_of(legacy)
        assert text_of(legacy).endswith("use glm-asr-2512")
        assert fake.requests == []
        done = await client.call_tool("transcribe", {"file": str(audio)})
    assert not done.is_error, text_of(done)
    dropped, retried = fake.requests_to("audio/transcriptions")
    assert dropped.files["file"] == retried.files["file"] == audio.read_bytes()
    assert retried.form["model"] == ["glm-asr-2512"]
