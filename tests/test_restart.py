"""A video job survives the server: killed mid-poll over stdio, started again, `get_task` completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from mcp.types import TextResourceContents

from tests.conftest import installed_server, over_stdio, server_env
from tests.fake_glm import FakeGLM, TaskPlan

pytestmark = pytest.mark.anyio


def start_raw(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [installed_server()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )


def send(process: subprocess.Popen[str], message: dict[str, object]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


async def test_killed_mid_poll_then_get_task_completes(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(seconds=2.0)
    env = server_env(fake)
    process = start_raw(env)
    try:
        send(
            process,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            },
        )
        send(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(
            process,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "generate_video",
                    "arguments": {"prompt": "a long take", "wait_seconds": 60},
                },
            },
        )
        deadline = time.monotonic() + 10
        while not any(r.route.startswith("async-result/") for r in fake.requests):
            assert time.monotonic() < deadline, "the server never started polling"
            await anyio.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)  # no chance to clean up
        process.wait(timeout=10)
    [submit] = fake.requests_to("videos/generations")
    task_id = next(iter(fake.tasks))

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
