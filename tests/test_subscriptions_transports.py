"""Updates pushed over real transports: the installed server over stdio, Streamable HTTP and SSE, on both
protocol eras, tells a subscriber of glm://tasks/{id} that the job ended, with no get_task called (the
polls are the server's own); the capabilities advertised say so; a server stopped mid-poll exits cleanly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from tests.conftest import CANARY_KEY, over_stdio, server_env
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.http import connect, http_server
from tests.support.subscriptions import Updates, submit_video, subscribe_legacy, watching

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]
TRANSPORTS = ["stdio", "streamable-http", "sse"]


@asynccontextmanager
async def served(
    fake: FakeGLM, transport: str, mode: str, base: Path, updates: Updates
) -> AsyncIterator[Client]:
    """A client of the installed server on `transport`, its resource updates collected in `updates`."""
    env = server_env(fake)
    if transport == "stdio":
        async with over_stdio(env, base / "stdio.err", mode, message_handler=updates.handle) as client:
            yield client
        return
    with http_server(env, transport, base) as running:
        async with connect(running, transport, mode, message_handler=updates.handle) as client:
            yield client


async def status_of(client: Client, task_id: str) -> str:
    [contents] = (await client.read_resource(f"glm://tasks/{task_id}")).contents
    assert isinstance(contents, TextResourceContents)
    status: str = json.loads(contents.text)["status"]
    return status


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ERAS)
async def test_the_end_of_a_watched_job_is_pushed(
    fake: FakeGLM, tmp_path: Path, transport: str, mode: str
) -> None:
    fake.task_plan = TaskPlan(polls=3)
    updates = Updates()
    async with served(fake, transport, mode, tmp_path, updates) as client:
        resources = client.server_capabilities.resources
        assert resources is not None and resources.subscribe is True
        task_id = await submit_video(client)
        uri = f"glm://tasks/{task_id}"
        async with watching(client, mode, updates, uri):
            await updates.wait_for(uri)
            assert await status_of(client, task_id) == "SUCCESS"
    # Four polls (three PROCESSING, then SUCCESS), all the server's own: no get_task was called.
    assert len(fake.requests_to(f"async-result/{task_id}")) == 4


@pytest.mark.parametrize("mode", ERAS)
async def test_a_server_stopped_while_polling_exits_cleanly(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=10**6)
    updates = Updates()
    errors = tmp_path / "stdio.err"
    async with over_stdio(server_env(fake), errors, mode) as client:
        task_id = await submit_video(client)
        route = f"async-result/{task_id}"
        if mode == "legacy":
            await subscribe_legacy(client, f"glm://tasks/{task_id}")
            with anyio.fail_after(20):
                while not fake.requests_to(route):  # noqa: ASYNC110 - the fake records in its own thread
                    await anyio.sleep(0.01)
        else:
            async with watching(client, mode, updates, f"glm://tasks/{task_id}"):
                with anyio.fail_after(20):
                    while not fake.requests_to(route):  # noqa: ASYNC110 - as above
                        await anyio.sleep(0.01)
    # The client closed the pipes while the poller waited on the job: the server left without a word.
    log = errors.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log
    assert CANARY_KEY not in log


async def test_a_subscriber_gone_without_unsubscribing_is_dropped(fake: FakeGLM, tmp_path: Path) -> None:
    # A 2025-11-25 Streamable HTTP session that ends (the client leaves) drops its subscriptions: the
    # job it watched is no longer polled.
    fake.task_plan = TaskPlan(polls=10**6)
    with http_server(server_env(fake), "streamable-http", tmp_path) as running:
        async with connect(running, "streamable-http", "legacy") as client:
            task_id = await submit_video(client)
            await subscribe_legacy(client, f"glm://tasks/{task_id}")
            with anyio.fail_after(20):
                while not fake.requests_to(f"async-result/{task_id}"):  # noqa: ASYNC110 - the fake's thread
                    await anyio.sleep(0.01)
        with anyio.fail_after(20):
            while "no longer watched" not in running.stderr.read_text():  # noqa: ASYNC110 - the server's log
                await anyio.sleep(0.05)
