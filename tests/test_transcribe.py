"""`transcribe` in process: the multipart wire, long audio cut into 30 s pieces in order, refusals."""

from __future__ import annotations

import io
import os
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_server_glm import audio_chunks
from mcp_server_glm.errors import AudioError
from mcp_server_glm.glm.client import GLMClient
from mcp_server_glm.glm.multipart import FilePart
from tests.conftest import CANARY_KEY, in_process, text_of, wav_file
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    """Mono 16-bit PCM whose samples count up, so any piece can be located in the whole."""
    return wav_file(b"".join((i % 30000).to_bytes(2, "little") for i in range(int(seconds * rate))), rate)


def frames_of(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as source:
        frames: bytes = source.readframes(source.getnframes())
    return frames


async def test_short_wav_is_one_request_with_the_documented_form(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "hello.wav"
    audio.write_bytes(wav_bytes(3))
    async with in_process(fake) as client:
        result = await client.call_tool(
            "transcribe", {"file": str(audio), "prompt": "a greeting", "hotwords": ["GLM", "Zhipu"]}
        )
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("audio/transcriptions")
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.form["model"] == ["glm-asr-2512"]
    assert request.form["stream"] == ["false"]
    assert request.form["prompt"] == ["a greeting"]
    assert request.form["hotwords"] == ["GLM", "Zhipu"]
    assert request.files["file"] == audio.read_bytes()
    structured = result.structured_content
    assert structured is not None
    assert structured["text"] == "Transcript of 3.00 s of audio."
    assert structured["chunks"] == 1
    assert structured["duration_seconds"] == 3.0
    assert len(structured["request_ids"]) == 1
    assert text_of(result) == "Transcript of 3.00 s of audio."


async def test_long_wav_is_cut_into_pieces_sent_in_order(fake: FakeGLM, isolated_dirs: Path) -> None:
    original = wav_bytes(150)  # two and a half minutes
    audio = isolated_dirs / "talk.wav"
    audio.write_bytes(original)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": audio.as_uri()}, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    requests = fake.requests_to("audio/transcriptions")
    assert len(requests) == 6  # 5 x 29.5 s + 2.5 s
    pieces = [request.files["file"] for request in requests]
    assert b"".join(frames_of(piece) for piece in pieces) == frames_of(original)  # in order, nothing lost
    structured = result.structured_content
    assert structured is not None
    assert structured["chunks"] == 6
    assert structured["duration_seconds"] == 150.0
    assert structured["text"].startswith("Transcript of 29.50 s of audio. Transcript of 29.50 s")
    assert structured["text"].endswith("Transcript of 2.50 s of audio.")
    # each later piece gets what was heard so far as context
    assert requests[1].form["prompt"] == ["Transcript of 29.50 s of audio."]
    assert [progress for progress, _, _ in updates] == sorted({progress for progress, _, _ in updates})
    assert len(updates) == 7
    assert updates[-1][0] == updates[-1][1] == 150.0


def mp3_bytes(seconds: float) -> bytes:
    """A real MP3 made by the ffmpeg binary that imageio-ffmpeg ships (a dev dependency)."""
    import imageio_ffmpeg

    done = subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-b:a",
            "32k",
            "-f",
            "mp3",
            "pipe:1",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.fixture
def ffmpeg_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imageio_ffmpeg

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


async def test_short_mp3_is_sent_as_it_is(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "note.mp3"
    audio.write_bytes(mp3_bytes(5))
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(audio)})
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("audio/transcriptions")
    assert request.files["file"] == audio.read_bytes()


async def test_long_mp3_without_ffmpeg_is_refused(
    fake: FakeGLM, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    audio = isolated_dirs / "long.mp3"
    audio.write_bytes(mp3_bytes(75))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(audio)})
    assert result.is_error
    assert "needs ffmpeg on PATH" in text_of(result)
    assert "about 75 s" in text_of(result)
    assert fake.requests == []


@pytest.mark.usefixtures("ffmpeg_on_path")
async def test_long_mp3_is_decoded_and_cut_with_ffmpeg(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "long.mp3"
    audio.write_bytes(mp3_bytes(75))
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(audio)})
    assert not result.is_error, text_of(result)
    requests = fake.requests_to("audio/transcriptions")
    assert len(requests) == 3
    assert all(request.files["file"][:4] == b"RIFF" for request in requests)
    structured = result.structured_content
    assert structured is not None
    assert 74 < structured["duration_seconds"] < 76


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("http://127.0.0.1:9/audio.wav", "refused"),
        ("http://169.254.169.254/latest/meta-data", "refused"),
        ("file:///etc/passwd", "refused"),
        ("ftp://example.com/a.wav", "refused"),
    ],
)
async def test_refused_sources_never_reach_the_api(fake: FakeGLM, ref: str, words: str) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": ref})
    assert result.is_error
    assert words in text_of(result)
    assert "\n" not in text_of(result)
    assert fake.requests == []


async def test_text_file_is_not_audio(fake: FakeGLM, isolated_dirs: Path) -> None:
    secret = isolated_dirs / "notes.wav"
    secret.write_text("API_KEY=abc\n")
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(secret)})
    assert result.is_error
    assert "not" in text_of(result)
    assert "audio" in text_of(result)
    assert "API_KEY" not in text_of(result)
    assert fake.requests == []


def test_wav_pieces_are_ranges_of_the_file_read_as_they_are_sent(tmp_path: Path) -> None:
    data = wav_bytes(70)
    path = tmp_path / "long.wav"
    path.write_bytes(data)
    with path.open("rb") as source:
        pieces = audio_chunks.wav_pieces(source, len(data), max_seconds=30)
        assert [piece.seconds for piece in pieces] == [30, 30, 10]
        # Read when sent, not when cut: a change to the file shows, a cut one is an error.
        with path.open("r+b") as writer:
            writer.seek(pieces[1].offset)
            writer.write(b"\x01\x02")
        os.truncate(path, pieces[2].offset + 10)
        first, second = (b"".join(piece.chunks(1000)) for piece in pieces[:2])
        with pytest.raises(AudioError, match="changed while it was being read"):
            b"".join(pieces[2].chunks())
    frames = frames_of(data)
    at = pieces[1].offset - (len(data) - len(frames))
    assert frames_of(first) + frames_of(second) == frames[:at] + b"\x01\x02" + frames[at + 2 : 60 * 8000 * 2]
    # Each piece is the WAV file the wave module would write for its frames, header included.
    assert first == wav_file(frames_of(first), rate=8000)


def test_wav_pieces_skip_other_chunks_and_ignore_a_trailing_one() -> None:
    plain = wav_bytes(3)
    data_at = plain.index(b"data")
    # A LIST chunk of odd size (padded to even) before the samples, and junk after them.
    listed = b"LIST" + (5).to_bytes(4, "little") + b"INFO!" + b"\0"
    body = plain[12:data_at] + listed + plain[data_at:] + b"junk" + (4).to_bytes(4, "little") + b"abcd"
    data = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body
    [piece] = audio_chunks.wav_pieces(io.BytesIO(data), len(data))
    assert piece.seconds == 3
    assert frames_of(b"".join(piece.chunks())) == frames_of(plain)


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (
            "glm-asr",
            "glm-asr is a legacy model name that neither platform documents any more: use glm-asr-2512",
        ),
        ("GLM-4.7", "GLM-4.7 is a chat model, not a speech-to-text one: use glm-asr-2512"),
    ],
)
async def test_models_that_cannot_transcribe_are_refused_locally(
    fake: FakeGLM, isolated_dirs: Path, model: str, words: str
) -> None:
    audio = isolated_dirs / "hello.wav"
    audio.write_bytes(wav_bytes(1))
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(audio), "model": model})
    assert result.is_error
    assert text_of(result) == f"Error executing tool transcribe: {words}"
    assert fake.requests == []


async def test_an_unlisted_model_goes_to_the_api(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "hello.wav"
    audio.write_bytes(wav_bytes(1))
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(audio), "model": "whisper-1"})
    assert result.is_error
    assert "code 1211" in text_of(result)
    assert len(fake.requests_to("audio/transcriptions")) == 1


# The fields of Z.AI's AudioTranscriptionRequest (multipart/form-data); file_base64 and user_id unused.
SCHEMA_FIELDS = {"file", "file_base64", "model", "prompt", "hotwords", "stream", "request_id", "user_id"}


async def test_the_form_is_the_schema_s_with_a_known_length(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "hello.wav"
    audio.write_bytes(wav_bytes(2))
    words = [f"word{i}" for i in range(100)]  # the schema's maxItems
    async with in_process(fake) as client:
        result = await client.call_tool(
            "transcribe", {"file": str(audio), "prompt": 'say "hi"\r\nthere', "hotwords": words}
        )
        too_many = await client.call_tool("transcribe", {"file": str(audio), "hotwords": [*words, "x"]})
    assert not result.is_error, text_of(result)
    assert too_many.is_error
    assert "100" in text_of(too_many)
    [request] = fake.requests_to("audio/transcriptions")
    assert set(request.form) | set(request.files) <= SCHEMA_FIELDS
    assert set(request.files) == {"file"}
    assert request.form["prompt"] == ['say "hi"\r\nthere']
    assert request.form["hotwords"] == words  # repeated fields: the references leave the encoding open
    [request_id] = request.form["request_id"]
    assert 6 <= len(request_id) <= 64
    assert request.headers["content-length"] == str(len(request.body))  # not chunked
    assert "transfer-encoding" not in request.headers
    assert 'filename="audio-1.wav"' in request.body.decode("latin-1")


async def test_a_retry_sends_the_piece_again_from_its_start(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "talk.wav"
    audio.write_bytes(wav_bytes(40))  # two pieces: the retried one is the second
    fake.script("audio/transcriptions", Fault(), Fault(status=503), Fault(drop=True))
    async with in_process(fake) as client:
        result = await client.call_tool("transcribe", {"file": str(audio)})
    assert not result.is_error, text_of(result)
    first, *tries = fake.requests_to("audio/transcriptions")
    assert len(tries) == 3
    assert frames_of(first.files["file"]) + frames_of(tries[0].files["file"]) == frames_of(audio.read_bytes())
    assert all(attempt.files["file"] == tries[0].files["file"] for attempt in tries)
    assert len({attempt.form["request_id"][0] for attempt in tries}) == 3


async def test_a_file_that_shrinks_mid_upload_fails_cleanly(fake: FakeGLM, tmp_path: Path) -> None:
    data = wav_bytes(20)
    path = tmp_path / "shrinking.wav"
    path.write_bytes(data)
    async with GLMClient(CANARY_KEY, fake.base_url, retry_backoff=0.01) as glm:
        with path.open("rb") as source:
            [piece] = audio_chunks.wav_pieces(source, len(data))

            def cut_after_one_chunk() -> Iterator[bytes]:
                chunks = piece.chunks(4096)
                yield next(chunks)
                os.truncate(path, piece.offset + 100)
                yield from chunks

            upload = FilePart("audio-1.wav", "audio/wav", piece.length, cut_after_one_chunk)
            with pytest.raises(AudioError, match="changed while it was being read"):
                await glm.transcribe(upload, model="glm-asr-2512", prompt=None, hotwords=[])
            assert fake.requests == []  # the body was never completed: the API saw no request
            whole = FilePart("audio-1.wav", "audio/wav", piece.length, piece.chunks)
            with pytest.raises(AudioError):
                await glm.transcribe(whole, model="glm-asr-2512", prompt=None, hotwords=[])
        path.write_bytes(data)
        with path.open("rb") as source:
            [piece] = audio_chunks.wav_pieces(source, len(data))
            whole = FilePart("audio-1.wav", "audio/wav", piece.length, piece.chunks)
            answer = await glm.transcribe(whole, model="glm-asr-2512", prompt=None, hotwords=[])
    assert answer.text == "Transcript of 20.00 s of audio."  # the client still works
    [request] = fake.requests_to("audio/transcriptions")
    assert request.files["file"] == data
