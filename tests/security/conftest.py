"""Shared helpers of the security tests: sample media, the one-line tool-error check, and an in-process
client living in a blocking portal so that synchronous (hypothesis) tests can drive it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.types import CallToolResult

from tests.conftest import in_process, text_of, wav_file
from tests.fake_glm import FakeGLM
from tests.support.http import Running, http_server

CALL_LIMIT = 30  # seconds any one call may take before it counts as a hang (generous: CI under load)


def wav_bytes(seconds: float = 0.2, rate: int = 8000) -> bytes:
    return wav_file(b"\x00\x01" * int(seconds * rate), rate)


WAV = wav_bytes()


async def call(client: Client, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """A tool call that must end within CALL_LIMIT seconds and must not raise (no protocol error)."""
    with anyio.fail_after(CALL_LIMIT):
        result = await client.call_tool(name, arguments)
    assert isinstance(result, CallToolResult)
    return result


def check_outcome(name: str, result: CallToolResult) -> str:
    """A valid result or a one-line tool error naming the tool; never a crash. Returns the text."""
    text = text_of(result)
    assert "internal error" not in text, text
    if result.is_error:
        prefix = f"Error executing tool {name}: "
        assert text.startswith(prefix), text
        assert text[len(prefix) :].strip(), text
        assert "\n" not in text, text
    return text


def refusal(name: str, result: CallToolResult) -> str:
    """The text of a tool error (asserted one line, prefixed)."""
    assert result.is_error, text_of(result)
    return check_outcome(name, result)


class PortalClient:
    """An in-process server and client kept open in a portal thread; `run` calls a tool from sync code."""

    def __init__(self, portal: BlockingPortal, client: Client) -> None:
        self.portal = portal
        self.client = client

    def run(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        result: CallToolResult = self.portal.call(call, self.client, name, arguments)
        return result


@pytest.fixture
def portal_client(fake: FakeGLM) -> Iterator[PortalClient]:
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(in_process(fake)) as client,
    ):
        yield PortalClient(portal, client)


def serving(env: dict[str, str], transport: str, base: Path, *args: str) -> AbstractContextManager[Running]:
    """The installed server on HTTP (tests.support.http.http_server), leaving the log's checks to the test:
    the SDK's SSE endpoint logs a traceback for each POST it cannot parse."""
    return http_server(env, transport, base, *args, check_log=False)
