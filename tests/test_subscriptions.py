"""Updates pushed to subscribers: a job watched through glm://tasks/{id} (resources/subscribe on
2025-11-25, subscriptions/listen on 2026-07-28) is polled by the server's one poller and its subscriber
told when it ends, without any get_task; glm://usage after a call; nobody watching, nothing polled."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import ResourceUpdatedNotification

from mcp_server_glm.server import build_server
from tests.conftest import settings_for
from tests.fake_glm import FakeGLM, TaskPlan

pytestmark = pytest.mark.anyio

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]


class Updates:
    """The resource-updated notifications a client received, by URI, and a way to wait for one."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._arrived = anyio.Event()

    def add(self, uri: str) -> None:
        self.uris.append(uri)
        self._arrived.set()
        self._arrived = anyio.Event()

    async def wait_for(self, uri: str) -> None:
        while uri not in self.uris:
            await self._arrived.wait()

    async def handle(self, message: IncomingMessage) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.add(str(message.params.uri))


async def subscribe_legacy(client: Client, uri: str) -> None:
    with warnings.catch_warnings():  # the 2025-11-25 method, deprecated for the 2026 era
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.subscribe_resource(uri)


async def unsubscribe_legacy(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.unsubscribe_resource(uri)


@asynccontextmanager
async def watching(client: Client, mode: str, updates: Updates, uri: str) -> AsyncIterator[None]:
    """`uri` watched for the body: subscribed (2025-11-25) or listened to (2026-07-28)."""
    if mode == "legacy":
        await subscribe_legacy(client, uri)
        yield
        await unsubscribe_legacy(client, uri)
        return
    async with client.listen(resource_subscriptions=[uri]) as stream, anyio.create_task_group() as group:

        async def read() -> None:
            async for event in stream:
                if isinstance(event, ResourceUpdated):
                    updates.add(event.uri)

        group.start_soon(read)
        yield
        group.cancel_scope.cancel()


async def submit_video(client: Client) -> str:
    answer = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
    assert not answer.is_error, answer
    assert answer.structured_content is not None
    task_id: str = answer.structured_content["task_id"]
    return task_id


@asynccontextmanager
async def client_for(fake: FakeGLM, mode: str, updates: Updates) -> AsyncIterator[Client]:
    async with Client(build_server(settings_for(fake)), mode=mode, message_handler=updates.handle) as client:
        yield client


async def read_status(client: Client, task_id: str) -> str:
    import json

    from mcp.types import TextResourceContents

    [contents] = (await client.read_resource(f"glm://tasks/{task_id}")).contents
    assert isinstance(contents, TextResourceContents)
    status: str = json.loads(contents.text)["status"]
    return status


@pytest.mark.parametrize("mode", ERAS)
async def test_a_watched_job_is_polled_and_its_end_pushed_without_get_task(fake: FakeGLM, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=3)
    updates = Updates()
    async with client_for(fake, mode, updates) as client:
        task_id = await submit_video(client)
        assert fake.requests_to(f"async-result/{task_id}") == []
        uri = f"glm://tasks/{task_id}"
        async with watching(client, mode, updates, uri):
            await updates.wait_for(uri)
            # Told of the end, saved: every poll came from the poller (no get_task was called), three
            # PROCESSING answers then the SUCCESS one, and the video was downloaded once.
            assert await read_status(client, task_id) == "SUCCESS"
    assert len(fake.requests_to(f"async-result/{task_id}")) == 4
    assert len([r for r in fake.requests if r.route.startswith("media/") and r.route.endswith(".mp4")]) == 1


@pytest.mark.parametrize("mode", ERAS)
async def test_nobody_watching_means_no_background_poll(fake: FakeGLM, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=1)
    updates = Updates()
    async with client_for(fake, mode, updates) as client:
        task_id = await submit_video(client)
        # Watching something else (the usage) starts no poll of the job.
        async with watching(client, mode, updates, "glm://usage"):
            await client.call_tool("glm_chat", {"prompt": "count me"})
            await updates.wait_for("glm://usage")
        await client.call_tool("glm_chat", {"prompt": "and again"})
        assert await read_status(client, task_id) == "PROCESSING"
    assert fake.requests_to(f"async-result/{task_id}") == []
