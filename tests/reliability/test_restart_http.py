"""The Streamable HTTP variant of tests/test_restart.py: a server killed (SIGKILL) mid-poll, started again
on the same data directory; `get_task` completes the job and nothing is submitted twice."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.conftest import server_env
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.http import Running, connect, free_port, http_server
from tests.support.stdio import installed_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def start_unmanaged(env: dict[str, str], tmp_path: Path) -> Running:
    """The installed server on Streamable HTTP, to be killed by the test."""
    port = free_port()
    stderr = tmp_path / "killed.log"
    with stderr.open("w") as log:
        process = subprocess.Popen(
            [installed_server(), "--transport", "streamable-http", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            text=True,
        )
    running = Running(process, port, stderr)
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, stderr.read_text()
        try:
            if httpx2.get(f"{running.root}/healthz", timeout=1).status_code == 200:
                return running
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.1)


async def test_killed_mid_poll_over_http_then_get_task_completes(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(seconds=2.0)
    env = server_env(fake)
    first = start_unmanaged(env, tmp_path)
    try:

        async def submit() -> None:
            async with connect(first, "streamable-http", "auto") as client:
                await client.call_tool("generate_video", {"prompt": "a long take", "wait_seconds": 30})

        async with anyio.create_task_group() as group:
            group.start_soon(submit)
            with anyio.fail_after(10):
                while not any(r.route.startswith("async-result/") for r in fake.requests):  # noqa: ASYNC110 - the fake runs in its own thread
                    await anyio.sleep(0.05)
            first.process.kill()  # SIGKILL: no chance to clean up
            first.process.wait(timeout=10)
            group.cancel_scope.cancel()  # the client's call can only fail now
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait(timeout=10)
    [task_id] = fake.tasks

    with http_server(env, "streamable-http", tmp_path) as second:
        async with connect(second, "streamable-http", "auto") as client:
            result = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
    polls = sum(r.route.startswith("async-result/") for r in fake.requests)
    print(
        f"restart over HTTP: {len(fake.requests_to('videos/generations'))} submission, {polls} polls in all"
    )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["status"] == "SUCCESS"
    assert Path(result.structured_content["path"]).is_file()
    assert len(fake.requests_to("videos/generations")) == 1  # never submitted twice
