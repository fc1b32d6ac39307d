"""The installed server on HTTP for the tests and benchmarks that need it: `http_server` starts it on a
free port (both transports) and stops it with SIGTERM, `connect` opens an MCP client session to it."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Protocol

import httpx2
import pytest
from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_server_glm.tools import listing
from tests.conftest import CANARY_KEY
from tests.support.stdio import installed_server

TOOLS = len(listing.defaults(listing.load(), "zai"))  # the default set of tools (on Z.AI)
ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]
TOKEN = "canary-bearer-token-8d1f2e7c6b5a4d3c"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    def __init__(self, process: subprocess.Popen[str], port: int, stderr: Path) -> None:
        self.process = process
        self.port = port
        self.stderr = stderr
        self.killed = False

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer ends a process: no shutdown at all (`http_server` then
        expects no clean exit)."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.killed = True


@contextmanager
def http_server(
    env: dict[str, str], transport: str, base: Path, *args: str, check_log: bool = True
) -> Iterator[Running]:
    """The installed server on a free port, its stdout and stderr kept in `base` (`<transport>-<port>.out`
    and `.err`); stopped with SIGTERM, which must end it cleanly. `check_log` also requires a log with no
    traceback and no secret; a test that expects tracebacks checks the log itself."""
    port = free_port()
    stderr = base / f"{transport}-{port}.err"
    with stderr.open("w") as log, (base / f"{transport}-{port}.out").open("w") as out:
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
    log_text = stderr.read_text()
    assert code == 0 or running.killed, log_text
    if check_log:
        assert "Traceback" not in log_text
        assert CANARY_KEY not in log_text
        assert TOKEN not in log_text


class Served(Protocol):
    """Whatever serves MCP over HTTP at `root`: a `Running` server, or nginx in front of some."""

    @property
    def root(self) -> str: ...


@asynccontextmanager
async def connect(
    running: Served,
    transport: str,
    mode: str,
    token: str | None = None,
    message_handler: MessageHandlerFnT | None = None,
) -> AsyncIterator[Client]:
    """A client of the running server; its notifications go to `message_handler` when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "sse":
        transport_ = sse_client(f"{running.root}/sse", headers=headers)
        async with Client(transport_, mode=mode, message_handler=message_handler) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(
            streamable_http_client(f"{running.root}/mcp", http_client=http),
            mode=mode,
            message_handler=message_handler,
        ) as client,
    ):
        yield client


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
