"""End to end over stdio with the installed server: `speak` on BigModel (one WAV file, long text in
several requests, each refusal and upstream failure one line with the server still serving, usage), speak
on Z.AI (unlisted, a call names BigModel), a Vidu job resumed with get_task, and glm-image's async job
when GLM_MAX_WAIT is short."""

from __future__ import annotations

import base64
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.types import TextResourceContents

from tests.conftest import CANARY_KEY, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.fake_glm.media import PNG
from tests.fake_glm.platform import TTS_RATE, TTS_SECONDS_PER_CHAR

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ENDS = "\u3002\uff01\uff1f.!?\n"


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as source:
        assert (source.getnchannels(), source.getsampwidth(), source.getframerate()) == (1, 2, TTS_RATE)
        return source.getnframes() / source.getframerate()


async def one_line(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = text_of(result)
    assert "\n" not in text
    return text


async def test_speak_on_bigmodel_over_stdio(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    text = "".join(f"Line {n} of a long reading, spoken plainly and slowly. " for n in range(60))[:3000]
    text = text[: text.rindex(".") + 1]
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        assert "speak" in [tool.name for tool in (await client.list_tools()).tools]
        short = await client.call_tool("speak", {"text": "Good morning.", "voice": "jam"})
        assert not short.is_error, text_of(short)
        assert short.structured_content is not None
        assert seconds_of(Path(short.structured_content["path"])) == pytest.approx(13 * TTS_SECONDS_PER_CHAR)
        [audio] = [block for block in short.content if block.type == "audio"]
        assert base64.b64decode(audio.data) == Path(short.structured_content["path"]).read_bytes()

        long = await client.call_tool("speak", {"text": text}, progress_callback=on_progress)
        assert not long.is_error, text_of(long)
        assert long.structured_content is not None
        joined = seconds_of(Path(long.structured_content["path"]))

        # Local refusals: nothing is sent, and the server keeps serving.
        sent = len(fake.requests_to("audio/speech"))
        assert "speak takes at most 20000 per call" in await one_line(client, "speak", {"text": "a" * 20001})
        assert "nor a voice id" in await one_line(client, "speak", {"text": "hi", "voice": "a b"})
        assert "speed" in await one_line(client, "speak", {"text": "hi", "speed": 3})
        assert "volume" in await one_line(client, "speak", {"text": "hi", "volume": 0})
        assert len(fake.requests_to("audio/speech")) == sent

        # Upstream failures, each one line, each sent once.
        assert "1210" in await one_line(client, "speak", {"text": "hi", "voice": "nobody"})
        fake.script("audio/speech", Fault(status=429, code="1113"), Fault(status=500, code="500"))
        assert "1113" in await one_line(client, "speak", {"text": "hi"})
        assert "500" in await one_line(client, "speak", {"text": "hi"})
        fake.api_keys = {"another key"}
        refused = await one_line(client, "speak", {"text": "hi"})
        assert "Settings to check" in refused and CANARY_KEY not in refused
        fake.api_keys = {CANARY_KEY}
        assert len(fake.requests_to("audio/speech")) == sent + 4

        [usage] = (await client.read_resource("glm://usage")).contents
        assert isinstance(usage, TextResourceContents)
        rows = [row for row in json.loads(usage.text) if row["tool"] == "speak"]
    requests = fake.requests_to("audio/speech")
    inputs = [request.json["input"] for request in requests[1:sent]]
    billed = 13 + sum(len(piece) for piece in inputs)  # what was sent; the failed calls count nothing
    assert [(row["calls"], row["units"], row["unit"]) for row in rows] == [(2, billed, "characters")]
    assert len(inputs) >= 3 and long.structured_content["requests"] == len(inputs)
    assert all(len(piece) <= 1024 and piece[-1] in ENDS for piece in inputs)
    assert " ".join(inputs) == text.strip()  # in order, cut between sentences
    assert joined == pytest.approx(sum(len(piece) for piece in inputs) * TTS_SECONDS_PER_CHAR, abs=0.01)
    assert all(request.json["response_format"] == "wav" for request in requests)
    assert requests[0].json["voice"] == "jam"
    assert f"speaking piece {len(inputs)} of {len(inputs)}" in messages


async def test_speak_on_zai_is_unlisted_and_names_bigmodel(fake: FakeGLM, tmp_path: Path) -> None:
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        assert "speak" not in [tool.name for tool in (await client.list_tools()).tools]
        text = await one_line(client, "speak", {"text": "hi"})
        assert "speak is a tool of BigModel only" in text and "GLM_PLATFORM=bigmodel" in text
        assert not (await client.call_tool("web_search", {"query": "still serving"})).is_error
    assert fake.requests_to("audio/speech") == []


async def test_vidu_and_async_glm_image_jobs_over_stdio(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    fake.task_plan = TaskPlan(polls=2)
    image = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    arguments = {
        "model": "vidu2-reference",
        "image": [image, "https://example.com/b.png"],
        "prompt": "they dance",
        "aspect_ratio": "9:16",
        "movement_amplitude": "medium",
        "with_audio": True,
        "wait_seconds": 0,
    }
    env = server_env(fake, GLM_MAX_WAIT="30", GLM_TIMEOUT="60")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        assert "style is for viduq1-text" in await one_line(
            client, "generate_video", {**arguments, "style": "anime"}
        )
        handle = await client.call_tool("generate_video", arguments)
        assert handle.structured_content is not None, text_of(handle)
        assert handle.structured_content["status"] == "PROCESSING"
        task_id = handle.structured_content["task_id"]
        done = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 20})
        assert done.structured_content is not None, text_of(done)
        assert done.structured_content["status"] == "SUCCESS"
        assert Path(done.structured_content["path"]).stat().st_size > 0

        # glm-image without a wait: GLM_MAX_WAIT (30 s) is under twice its ~20 s, so it is a job.
        started = await client.call_tool("generate_image", {"prompt": "a fox", "model": "glm-image"})
        assert started.structured_content is not None, text_of(started)
        image_task = started.structured_content["task_id"]
        finished = await client.call_tool("get_task", {"task_id": image_task, "wait_seconds": 20})
        assert finished.structured_content is not None
        assert finished.structured_content["status"] == "SUCCESS"
        assert Path(finished.structured_content["path"]).read_bytes() == PNG
    [submit] = fake.requests_to("videos/generations")
    body = dict(submit.json)
    assert body.pop("request_id")
    assert body == {
        "model": "vidu2-reference",
        "prompt": "they dance",
        "image_url": [image, "https://example.com/b.png"],
        "aspect_ratio": "9:16",
        "movement_amplitude": "medium",
        "with_audio": True,
    }
    assert len(fake.requests_to("async/images/generations")) == 1
    assert fake.requests_to("images/generations") == []
