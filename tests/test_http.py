"""End to end over HTTP: the installed server on Streamable HTTP and SSE, both protocol eras, its
security (Host, Origin, bearer token, non-loopback refusal, body cap), /healthz and clean shutdown."""

from __future__ import annotations

import http.client
import json
import select
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_server_glm import __version__
from tests.conftest import CANARY_KEY, installed_server, server_env, text_of
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

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

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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
    assert code == 0, log_text
    if check_log:
        assert "Traceback" not in log_text
        assert CANARY_KEY not in log_text
        assert TOKEN not in log_text


@asynccontextmanager
async def connect(
    running: Running,
    transport: str,
    mode: str,
    token: str | None = None,
    message_handler: MessageHandlerFnT | None = None,
) -> AsyncIterator[Client]:
    """A client of the running server; its notifications go to `message_handler` when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "sse":
        transport_ = sse_client(f"{running.root}/sse", headers=headers)
        async with Client(transport_, mode=mode, message_handler=message_handler) as client:  # type: ignore[arg-type]
            yield client
        return
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(
            streamable_http_client(f"{running.root}/mcp", http_client=http),  # type: ignore[arg-type]
            mode=mode,
            message_handler=message_handler,
        ) as client,
    ):
        yield client


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("mode", ERAS)
async def test_tools_progress_and_cancellation(
    fake: FakeGLM, tmp_path: Path, transport: str, mode: str
) -> None:
    fake.chunk_delay = 0.05
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    with http_server(server_env(fake), transport, tmp_path) as running:
        async with connect(running, transport, mode) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            assert len((await client.list_tools()).tools) == 6
            answer = await client.call_tool(
                "glm_chat", {"prompt": "over http"}, progress_callback=on_progress
            )
            assert not answer.is_error
            assert text_of(answer) == "Fake GLM answer to: over http"
            assert len(progress) >= 2

            fake.chunk_delay = 0.3
            with anyio.move_on_after(0.8) as scope:
                await client.call_tool("glm_chat", {"prompt": "a very slow answer that will be abandoned"})
            assert scope.cancelled_caught
            fake.chunk_delay = 0.0
            again = await client.call_tool("web_search", {"query": "still serving"})
            assert not again.is_error


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_bearer_token_is_required(fake: FakeGLM, tmp_path: Path, transport: str) -> None:
    env = server_env(fake, GLM_MCP_AUTH_TOKEN=TOKEN)
    endpoint = "/mcp" if transport == "streamable-http" else "/sse"
    with http_server(env, transport, tmp_path) as running:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = httpx2.get(running.root + endpoint, headers=headers, timeout=5)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == -32001
        assert httpx2.get(f"{running.root}/healthz", timeout=5).status_code == 200
        async with connect(running, transport, "auto", token=TOKEN) as client:
            result = await client.call_tool("web_search", {"query": "with the token"})
            assert not result.is_error


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


async def test_host_and_origin_are_checked(tmp_path: Path) -> None:
    body = INITIALIZE
    with http_server(server_env(None), "streamable-http", tmp_path) as running:
        url = f"{running.root}/mcp"
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        spoofed = httpx2.post(url, json=body, headers={**headers, "Host": "evil.example"}, timeout=5)
        assert spoofed.status_code == 421
        foreign = httpx2.post(url, json=body, headers={**headers, "Origin": "http://evil.example"}, timeout=5)
        assert foreign.status_code == 403
        local = httpx2.post(
            url, json=body, headers={**headers, "Origin": f"http://localhost:{running.port}"}, timeout=5
        )
        assert local.status_code == 200


async def test_configured_host_is_accepted(tmp_path: Path) -> None:
    body = INITIALIZE
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with http_server(
        server_env(None), "streamable-http", tmp_path, "--allowed-host", "glm.example"
    ) as running:
        named = httpx2.post(
            f"{running.root}/mcp", json=body, headers={**headers, "Host": "glm.example"}, timeout=5
        )
        assert named.status_code == 200
        other = httpx2.post(
            f"{running.root}/mcp", json=body, headers={**headers, "Host": "evil.example"}, timeout=5
        )
        assert other.status_code == 421


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--host", "0.0.0.0"], "without a bearer token"),
        (["--host", "0.0.0.0", "--auth-token", TOKEN], "GLM_MCP_ALLOWED_HOSTS"),
        (
            ["--tools", "glm_chat,paint"],
            "unknown tools in GLM_TOOLS / --tools: paint; valid: glm_chat, web_search",
        ),
    ],
)
def test_unsafe_or_wrong_configuration_refuses_to_start(args: list[str], words: str) -> None:
    done = subprocess.run(
        [installed_server(), "--transport", "streamable-http", "--port", str(free_port()), *args],
        env=server_env(None),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert words in done.stderr
    assert TOKEN not in done.stderr
    assert "Traceback" not in done.stderr


async def test_oversized_and_malformed_bodies_get_json_rpc_errors(tmp_path: Path) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with http_server(server_env(None, GLM_MCP_MAX_BODY_MB="1"), "streamable-http", tmp_path) as running:
        url = f"{running.root}/mcp"
        big = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * (2 * 1024 * 1024)}}
        response = httpx2.post(url, content=json.dumps(big), headers=headers, timeout=10)
        assert response.status_code == 413
        assert "error" in response.json()
        broken = httpx2.post(
            url, content=b'{"jsonrpc": "2.0", "id": 1, "method"', headers=headers, timeout=10
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] == -32700
        listed = await _list_tools(running)
        assert listed == 6


async def _list_tools(running: Running) -> int:
    async with connect(running, "streamable-http", "auto") as client:
        return len((await client.list_tools()).tools)


def test_tool_selection(tmp_path: Path) -> None:
    async def names(running: Running) -> list[str]:
        async with connect(running, "streamable-http", "auto") as client:
            return sorted(tool.name for tool in (await client.list_tools()).tools)

    with http_server(
        server_env(None, GLM_TOOLS="web_search,glm_chat"), "streamable-http", tmp_path
    ) as running:
        assert anyio.run(names, running) == ["glm_chat", "web_search"]


def test_idle_connection_outlives_the_clients_keep_alive(tmp_path: Path) -> None:
    """A connection left idle longer than httpx keeps one (5 s) still answers: were the server to close
    it at the same moment, a client reusing it would lose the request. Stopping closes it."""
    with http_server(server_env(None), "streamable-http", tmp_path) as running:
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
        for pause in (0, 6):
            time.sleep(pause)
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (
                200,
                f'{{"status":"ok","version":"{__version__}"}}'.encode(),
            )
            if pause == 0:
                first = connection.sock
        assert connection.sock is first, "the idle connection was replaced"
        running.process.send_signal(signal.SIGTERM)
        assert connection.sock.recv(1) == b"", "the server left the idle connection open"
        connection.close()


def test_stdio_stops_cleanly_on_sigterm(fake: FakeGLM, tmp_path: Path) -> None:
    stderr = tmp_path / "stdio.log"
    with stderr.open("w") as log:
        process = subprocess.Popen(
            [installed_server()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=server_env(fake),
        )
    with process:  # closes the pipes at the end
        assert process.stdin is not None and process.stdout is not None
        # Signal once the server is serving: one that arrives while it is still starting ends it by default.
        process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the server did not answer initialize"
        assert json.loads(process.stdout.readline())["id"] == INITIALIZE["id"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    assert "Traceback" not in stderr.read_text()
    assert "SIGTERM received" in stderr.read_text()
