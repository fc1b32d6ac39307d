"""`speak` in process against the fake's audio/speech route (BigModel): one WAV file, the request on the
wire, long text cut at sentence ends and joined, each local refusal in one line, upstream failures."""

from __future__ import annotations

import base64
import io
import json
import re
import wave
from pathlib import Path
from typing import Any

import pytest
from mcp.types import AudioContent, BlobResourceContents, ResourceLink, TextResourceContents

from mcp_server_glm.errors import BadResponse, FileRefused
from mcp_server_glm.files import Files
from mcp_server_glm.tools.speak import MAX_TEXT, cut, join_wavs
from tests.conftest import CANARY_KEY, in_process, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.fake_glm.platform import TTS_RATE, TTS_SECONDS_PER_CHAR, speech_frames, wav_bytes

pytestmark = pytest.mark.anyio
ENDS = "。！？.!?\n"  # noqa: RUF001 - the CJK marks are the point


def long_text(length: int) -> str:
    """Sentences of 60-odd characters, English and Chinese, to `length` characters or just under."""
    sentences = [
        f"Sentence number {n} says something plain about the weather today. " if n % 3 else f"第{n}句话很短。"
        for n in range(1000)
    ]
    text = ""
    for sentence in sentences:
        if len(text) + len(sentence) > length:
            break
        text += sentence
    return text


def read_wav(data: bytes) -> tuple[int, int, int, float]:
    with wave.open(io.BytesIO(data), "rb") as source:
        frames = source.getnframes()
        return (
            source.getnchannels(),
            source.getsampwidth(),
            source.getframerate(),
            frames / source.getframerate(),
        )


async def speak(fake: FakeGLM, arguments: dict[str, Any], **settings: Any) -> Any:
    async with in_process(fake, **settings) as client:
        return await client.call_tool("speak", arguments)


async def refused(fake: FakeGLM, arguments: dict[str, Any]) -> str:
    """The one line of a call refused before anything reached the API."""
    fake.platform = "bigmodel"
    result = await speak(fake, arguments)
    assert result.is_error
    text = text_of(result)
    assert "\n" not in text
    assert fake.requests_to("audio/speech") == [], text
    return text


# -- success ---------------------------------------------------------------------------------------------


async def test_a_short_text_becomes_a_wav_file_a_link_and_inline_audio(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        result = await client.call_tool("speak", {"text": "Hello there, world.", "speed": 1.5, "volume": 2})
        assert not result.is_error, text_of(result)
        structured = result.structured_content
        assert structured is not None
        path = Path(structured["path"])
        [link] = [block for block in result.content if isinstance(block, ResourceLink)]
        assert link.uri == f"glm://media/{path.name}"
        [contents] = (await client.read_resource(link.uri)).contents
    [request] = fake.requests_to("audio/speech")
    assert request.json == {
        "model": "glm-tts",
        "input": "Hello there, world.",
        "response_format": "wav",
        "speed": 1.5,
        "volume": 2,
        "request_id": request.json["request_id"],
    }
    data = path.read_bytes()
    assert data == wav_bytes(speech_frames("Hello there, world.", 1.5))
    channels, width, rate, seconds = read_wav(data)
    assert (channels, width, rate) == (1, 2, TTS_RATE)
    assert structured == {
        "path": str(path),
        "model": "glm-tts",
        "characters": 19,
        "requests": 1,
        "duration_seconds": round(seconds, 2),
    }
    assert path.name.startswith("speech-") and path.suffix == ".wav"
    assert "Hello" not in path.name  # never named from the text
    [audio] = [block for block in result.content if isinstance(block, AudioContent)]
    assert (audio.mime_type, base64.b64decode(audio.data)) == ("audio/wav", data)
    assert isinstance(contents, BlobResourceContents) and base64.b64decode(contents.blob) == data


async def test_a_long_text_is_cut_at_sentence_ends_and_joined_into_one_wav(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    text = long_text(3000)
    updates: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(message)

    async with in_process(fake) as client:
        result = await client.call_tool("speak", {"text": text}, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    inputs = [request.json["input"] for request in fake.requests_to("audio/speech")]
    assert len(inputs) == len(cut(text, 1024)) >= 3
    assert all(len(piece) <= 1024 and piece[-1] in ENDS for piece in inputs)
    assert "".join(inputs).replace(" ", "") == text.replace(" ", "")  # in order, nothing lost
    assert structured_of(result)["requests"] == len(inputs)
    data = Path(structured_of(result)["path"]).read_bytes()
    assert read_wav(data)[:3] == (1, 2, TTS_RATE)
    seconds = read_wav(data)[3]
    pieces = [read_wav(wav_bytes(speech_frames(piece, 1.0)))[3] for piece in inputs]
    assert seconds == pytest.approx(sum(pieces), abs=1e-6)
    assert seconds == pytest.approx(len("".join(inputs)) * TTS_SECONDS_PER_CHAR, abs=0.01)
    assert [f"speaking piece {n} of {len(inputs)}" in updates for n in (1, len(inputs))] == [True, True]
    # About 150 s of 24 kHz speech: far over the inline cap, so only the link, and the text says so.
    assert not [block for block in result.content if isinstance(block, AudioContent)]
    assert "over the 512 KiB inline limit" in text_of(result)


def structured_of(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None
    return dict(result.structured_content)


def test_a_sentence_longer_than_a_request_is_cut_at_a_comma_or_space_else_anywhere() -> None:
    commas = "word, " * 300  # 1800 characters, no sentence end
    pieces = cut(commas + "end.", 1024)
    assert all(len(piece) <= 1024 for piece in pieces)
    assert pieces[0].endswith(",")
    solid = "x" * 2500
    assert [len(piece) for piece in cut(solid, 1024)] == [1024, 1024, 452]
    assert cut("One. Two!\nThree？", 6) == ["One.", "Two!", "Three？"]  # noqa: RUF001
    assert cut("  \n\n ", 1024) == []


async def test_cloned_voice_ids_go_to_the_api(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    fake.voices = {"voice_clone-20260101.ab12"}
    result = await speak(fake, {"text": "hi.", "voice": "voice_clone-20260101.ab12"})
    assert not result.is_error, text_of(result)
    assert fake.requests_to("audio/speech")[0].json["voice"] == "voice_clone-20260101.ab12"


async def test_with_previews_off_the_audio_is_only_linked(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    result = await speak(fake, {"text": "hi."}, inline_previews=False)
    assert not [block for block in result.content if isinstance(block, AudioContent)]
    assert [block for block in result.content if isinstance(block, ResourceLink)]
    assert "Inline audio is off" in text_of(result)


async def test_usage_counts_characters(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        await client.call_tool("speak", {"text": "Twelve char."})
        await client.call_tool("speak", {"text": "abc."})
        [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    [row] = [row for row in json.loads(contents.text) if row["tool"] == "speak"]
    assert (row["model"], row["calls"], row["units"], row["unit"]) == ("glm-tts", 2, 16, "characters")


# -- local refusals ------------------------------------------------------------------------------------


async def test_text_over_the_total_cap_is_refused_naming_it(fake: FakeGLM) -> None:
    text = await refused(fake, {"text": "a." * (MAX_TEXT // 2 + 1)})
    assert f"has {MAX_TEXT + 2} characters; speak takes at most {MAX_TEXT} per call" in text


async def test_blank_text_is_refused(fake: FakeGLM) -> None:
    assert "The text is blank" in await refused(fake, {"text": " \n "})


async def test_a_voice_that_is_no_id_is_refused(fake: FakeGLM) -> None:
    text = await refused(fake, {"text": "hi", "voice": "../../etc"})
    assert "nor a voice id" in text and "tongtong" in text


@pytest.mark.parametrize(
    ("arguments", "word"),
    [
        ({"speed": 0.4}, "speed"),
        ({"speed": 2.5}, "speed"),
        ({"volume": 0}, "volume"),
        ({"volume": 11}, "volume"),
    ],
)
async def test_speed_and_volume_out_of_range_are_refused(
    fake: FakeGLM, arguments: dict[str, Any], word: str
) -> None:
    assert word in await refused(fake, {"text": "hi", **arguments})


async def test_speak_on_zai_is_unlisted_and_a_call_names_bigmodel(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("speak", {"text": "hi"})
    assert "speak" not in names
    assert result.is_error
    assert "speak is a tool of BigModel only" in text_of(result)
    assert "GLM_PLATFORM=bigmodel" in text_of(result)
    assert fake.requests == []


# -- upstream failures ----------------------------------------------------------------------------------


async def test_an_unknown_voice_is_the_apis_one_line(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    result = await speak(fake, {"text": "hi", "voice": "nobody"})
    assert result.is_error
    assert "voice" in text_of(result) and "1210" in text_of(result)
    assert "\n" not in text_of(result)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=429, code="1113"), "1113"),
        (Fault(status=500, code="500"), "500"),
    ],
)
async def test_upstream_failures_are_one_line_and_never_resent(
    fake: FakeGLM, fault: Fault, expected: str
) -> None:
    fake.platform = "bigmodel"
    fake.script("audio/speech", fault)
    result = await speak(fake, {"text": "hi"})
    assert result.is_error
    assert expected in text_of(result) and "\n" not in text_of(result)
    assert len(fake.requests_to("audio/speech")) == 1  # paid: not re-sent once it may have reached the API


async def test_a_refused_key_names_the_settings(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    fake.api_keys = {"another key"}
    result = await speak(fake, {"text": "hi"})
    assert result.is_error
    assert "Settings to check" in text_of(result)
    assert CANARY_KEY not in text_of(result)


async def test_a_piece_in_another_format_stops_the_requests(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    odd = wav_bytes(speech_frames("x" * 10, 1.0), rate=16000)
    fake.script("audio/speech", Fault(), Fault(status=200, body=odd, content_type="audio/wav"))
    result = await speak(fake, {"text": long_text(3000)})  # three pieces or more
    assert result.is_error
    assert len(fake.requests_to("audio/speech")) == 2  # stopped at the piece that cannot be joined
    assert re.search(
        r"piece 2 as 1 channel\(s\) of 16-bit at 16000 Hz, piece 1 as .* 24000 Hz", text_of(result)
    )


def test_join_refuses_what_is_not_a_wav() -> None:
    with pytest.raises(BadResponse, match="piece 1 with no readable WAV"):
        join_wavs([b"RIFF....WAVEjunk"])


# -- the files package saves bytes it is given -------------------------------------------------------------


async def test_save_bytes_never_replaces_a_file_and_checks_the_format(tmp_path: Path) -> None:
    files = Files(allowed_dirs=[tmp_path], output_dir=tmp_path / "out", input_limits={}, max_download_bytes=1)
    data = wav_bytes(speech_frames("abc", 1.0))
    first = await files.save_bytes(data, stem="speech-x", ext=".wav", mime_type="audio/wav", kind="audio")
    second = await files.save_bytes(data, stem="speech-x", ext=".wav", mime_type="audio/wav", kind="audio")
    assert (first.name, second.name) == ("speech-x.wav", "speech-x-2.wav")
    assert first.path.read_bytes() == data and first.mime_type == "audio/wav" and first.size == len(data)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["speech-x-2.wav", "speech-x.wav"]
    with pytest.raises(FileRefused, match="not that format"):
        await files.save_bytes(
            b"<html>no</html>", stem="speech-y", ext=".wav", mime_type="audio/wav", kind="audio"
        )
    with pytest.raises(ValueError, match="not a file name"):
        await files.save_bytes(data, stem="../escape", ext=".wav", mime_type="audio/wav", kind="audio")


async def test_a_failed_later_piece_still_counts_what_was_spoken(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    fake.script("audio/speech", Fault(), Fault(status=500, code="500"))
    async with in_process(fake) as client:
        result = await client.call_tool("speak", {"text": long_text(1500)})
        [contents] = (await client.read_resource("glm://usage")).contents
    assert result.is_error
    first, _ = (request.json["input"] for request in fake.requests_to("audio/speech"))
    assert isinstance(contents, TextResourceContents)
    [row] = [row for row in json.loads(contents.text) if row["tool"] == "speak"]
    assert (row["units"], row["unit"]) == (len(first), "characters")
