"""Shared helpers of the security tests: sample media, the one-line tool-error check, and an in-process
client living in a blocking portal so that synchronous (hypothesis) tests can drive it."""

from __future__ import annotations

import io
import signal
import subprocess
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.types import CallToolResult

from tests.conftest import in_process, installed_server, text_of
from tests.fake_glm import FakeGLM
from tests.test_http import Running, free_port

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
CALL_LIMIT = 30  # seconds any one call may take before it counts as a hang (generous: CI under load)


def wav_bytes(seconds: float = 0.2, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\x00\x01" * int(seconds * rate))
    return buffer.getvalue()


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
        return self.portal.call(call, self.client, name, arguments)


@pytest.fixture
def portal_client(fake: FakeGLM) -> Iterator[PortalClient]:
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(in_process(fake)) as client,
    ):
        yield PortalClient(portal, client)


@contextmanager
def serving(env: dict[str, str], transport: str, base: Path, *args: str) -> Iterator[Running]:
    """The installed server on HTTP, its stdout and stderr kept in files under `base`; stopped with
    SIGTERM, which must end it cleanly. Unlike tests.test_http.http_server it leaves the log's checks to
    the test (the SDK's SSE endpoint logs a traceback for each POST it cannot parse)."""
    port = free_port()
    stderr = base / f"{transport}-{port}.err"
    stdout = base / f"{transport}-{port}.out"
    with stderr.open("w") as log, stdout.open("w") as out:
        process = subprocess.Popen(
            [installed_server(), "--transport", transport, "--port", str(port), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=log,
            env=env,
            text=True,
        )
    running = Running(process, port, stderr)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, stderr.read_text()
            try:
                if httpx2.get(f"{running.root}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise
    assert code == 0, stderr.read_text()
