"""A video job survives the server: killed mid-poll over stdio, started again, `get_task` completes it."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp.types import TextResourceContents

from tests.conftest import over_stdio, server_env
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.stdio import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_killed_mid_poll_then_get_task_completes(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(seconds=2.0)
    session = RawSession(server_env(fake))
    try:
        session.submit("tools/call", {"name": "generate_video", "arguments": {"prompt": "a long take"}})
        with anyio.fail_after(10):
            while not any(r.route.startswith("async-result/") for r in fake.requests):  # noqa: ASYNC110 - the fake runs in its own thread
                await anyio.sleep(0.05)
    finally:
        session.kill()  # SIGKILL: no chance to clean up
    [submit] = fake.requests_to("videos/generations")
    [task_id] = fake.tasks

    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        [contents] = (await client.read_resource("glm://tasks")).contents
        assert isinstance(contents, TextResourceContents)
        [task] = json.loads(contents.text)
        assert task["id"] == task_id
        assert task["status"] == "PROCESSING"
        result = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["status"] == "SUCCESS"
        assert Path(result.structured_content["path"]).is_file()
    assert len(fake.requests_to("videos/generations")) == 1  # never submitted twice
    assert submit.json["prompt"] == "a long take"
