"""Watching resources from a test client: the resource-updated notifications it received (and a way to
wait for one), a URI watched through either era (resources/subscribe, or subscriptions/listen), and a
video job submitted to watch.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import ResourceUpdatedNotification


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
        """Until `uri`'s update arrived (failing after 20 s, a bound against a hang, not a measure)."""
        with anyio.fail_after(20):
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
    """A video job submitted without waiting; its GLM task id."""
    answer = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
    assert not answer.is_error, answer
    assert answer.structured_content is not None
    task_id: str = answer.structured_content["task_id"]
    return task_id
