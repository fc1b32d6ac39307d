"""Attacks on the HTTP transports from outside, against the installed server on loopback: idle
half-sent requests (slowloris), a flood of sessions, and WebSocket upgrades without the token."""

from __future__ import annotations

import json
import logging
import os
import resource
import selectors
import socket
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from starlette.types import Message

from mcp_server_glm.http_guard import BACKLOG, RateLimit, connection_cap
from mcp_server_glm.transports import BearerToken
from tests.conftest import server_env
from tests.fake_glm import FakeGLM
from tests.security.conftest import serving
from tests.support.http import INITIALIZE, TOKEN, Running, connect, http_server

BOUND = 30  # seconds any one step of an attack test may take (generous: CI under load)
HALF_OPEN = 500  # idle connections that never finish their request head
MAX_CONNECTIONS = 64
FLOOD = 300  # sessions opened by the flood
MAX_SESSIONS = 100
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) / 1024


def wait_closed(sockets: list[socket.socket], bound: float) -> int:
    """How many of `sockets` the server closed within `bound` seconds (end of stream or reset)."""
    closed = 0
    deadline = time.monotonic() + bound
    with selectors.DefaultSelector() as watch:
        for sock in sockets:
            watch.register(sock, selectors.EVENT_READ)
        while closed < len(sockets) and time.monotonic() < deadline:
            for key, _ in watch.select(0.5):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    data = ready.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    watch.unregister(ready)
                    closed += 1
    return closed


def read_health(sock: socket.socket) -> bytes:
    """A whole /healthz response (its JSON body ends the message)."""
    answer = b""
    while not answer.endswith(b"}"):
        chunk = sock.recv(4096)
        assert chunk, answer
        answer += chunk
    return answer


async def _authorised_call(running: Running, transport: str = "streamable-http") -> bool:
    with anyio.fail_after(BOUND):
        async with connect(running, transport, "auto", token=TOKEN) as client:
            result = await client.call_tool("web_search", {"query": "still serving"})
            return not result.is_error


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_idle_half_sent_requests_do_not_exhaust_the_server(
    fake: FakeGLM, tmp_path: Path, transport: str
) -> None:
    """500 connections that never send (all of) a request head, against a server that may open only its
    connection cap, two accept batches (http_guard.BACKLOG) and a margin more descriptors: /healthz and
    an authorised call still answer, the server holds at most GLM_MCP_MAX_CONNECTIONS of them, closes
    them all after GLM_MCP_HEADER_TIMEOUT, and its log stays a few lines long."""
    env = server_env(
        fake,
        GLM_MCP_AUTH_TOKEN=TOKEN,
        GLM_MCP_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        GLM_MCP_HEADER_TIMEOUT="2",
    )
    with serving(env, transport, tmp_path) as running:
        pid = running.process.pid
        baseline = open_descriptors(pid)
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (baseline + MAX_CONNECTIONS + 2 * BACKLOG + 30, hard))
        attackers: list[socket.socket] = []
        try:
            for number in range(HALF_OPEN):
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=BOUND)
                if number % 2:  # half send part of a head, half nothing at all
                    sock.sendall(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
                attackers.append(sock)
            health = httpx2.get(f"{running.root}/healthz", timeout=BOUND)
            assert health.status_code == 200
            assert anyio.run(_authorised_call, running, transport)
            held = open_descriptors(pid) - baseline
            closed = wait_closed(attackers, BOUND)
            after = open_descriptors(pid) - baseline
        finally:
            for sock in attackers:
                sock.close()
        print(f"\n{HALF_OPEN} half-open connections: {held} descriptors over the baseline, {after} after")
        assert held <= MAX_CONNECTIONS + 8
        assert closed == HALF_OPEN
    log = running.stderr.read_text()
    assert len(log) < 20_000, log[-3000:]
    assert "Too many open files" not in log
    assert "Traceback" not in log


def _initialize(http: httpx2.Client, url: str) -> str:
    answer = http.post(url, json=INITIALIZE, headers=JSON_HEADERS)
    assert answer.status_code == 200, answer.text
    return str(answer.headers["mcp-session-id"])


def _alive(http: httpx2.Client, url: str, session: str) -> bool:
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    headers = {**JSON_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    answer = http.post(url, json=ping, headers=headers)
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


@pytest.mark.slow
def test_a_session_flood_leaves_room_for_a_new_client(fake: FakeGLM, tmp_path: Path) -> None:
    """300 sessions opened and left idle against GLM_MCP_MAX_SESSIONS=100: the server keeps at most 100
    (the oldest idle ones are closed to make room), and a new client still initializes and calls a tool."""
    env = server_env(fake, GLM_MCP_MAX_SESSIONS=str(MAX_SESSIONS))
    with serving(env, "streamable-http", tmp_path) as running:
        url = f"{running.root}/mcp"
        pid = running.process.pid
        with httpx2.Client(timeout=BOUND) as http:
            _initialize(http, url)  # warm-up: the first session loads the server's code
            before = rss_mib(pid)
            started = time.monotonic()
            sessions = [_initialize(http, url) for _ in range(MAX_SESSIONS - 1)]
            at_cap = rss_mib(pid)
            sessions += [_initialize(http, url) for _ in range(FLOOD - len(sessions))]
            elapsed = time.monotonic() - started
            after = rss_mib(pid)
            assert anyio.run(_tool_call, running)
            alive = [session for session in sessions if _alive(http, url, session)]
        per_session = (at_cap - before) * 1024 / (MAX_SESSIONS - 1)
        print(
            f"\n{FLOOD} sessions in {elapsed:.1f} s: RSS {before:.1f} -> {at_cap:.1f} MiB at the cap "
            f"(~{per_session:.0f} KiB per idle session) -> {after:.1f} MiB after; {len(alive)} still open"
        )
        assert len(alive) < MAX_SESSIONS
        assert sessions[-1] in alive
        assert sessions[0] not in alive
    assert "Traceback" not in running.stderr.read_text()


@pytest.mark.slow
def test_when_every_session_is_busy_a_new_one_is_refused(fake: FakeGLM, tmp_path: Path) -> None:
    """Sessions with a request in flight (here each one's GET stream) are never ended to make room: at
    GLM_MCP_MAX_SESSIONS busy sessions a new one gets 503 and a JSON-RPC error naming the setting."""
    env = server_env(fake, GLM_MCP_MAX_SESSIONS="2")
    with serving(env, "streamable-http", tmp_path) as running:
        url = f"{running.root}/mcp"
        with httpx2.Client(timeout=BOUND) as http, httpx2.Client(timeout=BOUND) as streams:
            sessions = [_initialize(http, url) for _ in range(2)]
            stream_headers = {"Accept": "text/event-stream", "mcp-protocol-version": "2025-11-25"}
            with (
                streams.stream("GET", url, headers={**stream_headers, "mcp-session-id": sessions[0]}) as one,
                streams.stream("GET", url, headers={**stream_headers, "mcp-session-id": sessions[1]}) as two,
            ):
                assert (one.status_code, two.status_code) == (200, 200)
                refused = http.post(url, json=INITIALIZE, headers=JSON_HEADERS)
                assert refused.status_code == 503
                message = refused.json()["error"]["message"]
                assert "GLM_MCP_MAX_SESSIONS" in message
                assert "\n" not in message
                assert all(_alive(http, url, session) for session in sessions)
    assert "Traceback" not in running.stderr.read_text()


async def _tool_call(running: Running) -> bool:
    with anyio.fail_after(BOUND):
        async with connect(running, "streamable-http", "legacy") as client:
            result = await client.call_tool("web_search", {"query": "after the flood"})
            return not result.is_error


def _upgrade(port: int, path: str, token: str | None = None) -> bytes:
    """The status line the server answers a WebSocket upgrade request with."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_websocket_upgrade_without_the_token_is_refused(
    fake: FakeGLM, tmp_path: Path, transport: str
) -> None:
    env = server_env(fake, GLM_MCP_AUTH_TOKEN=TOKEN)
    with http_server(env, transport, tmp_path) as running:
        for path in ("/mcp", "/sse", "/messages/", "/"):
            assert _upgrade(running.port, path) == b"HTTP/1.1 401 Unauthorized", path
            assert _upgrade(running.port, path, "wrong") == b"HTTP/1.1 401 Unauthorized", path
            # With the token the request is plain HTTP: nothing the server serves speaks WebSocket.
            assert not _upgrade(running.port, path, TOKEN).startswith(b"HTTP/1.1 101"), path


@pytest.mark.anyio
async def test_bearer_token_closes_websocket_scopes_before_accepting() -> None:
    """Embedded in another ASGI server, the middleware closes a WebSocket without the token (1008, which
    servers answer with 403 before the handshake) and lets lifespan events through."""
    reached: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append(str(scope["type"]))

    guard = BearerToken(app, TOKEN)  # type: ignore[arg-type]
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    socket_scope = {"type": "websocket", "path": "/mcp", "headers": [(b"host", b"127.0.0.1")]}
    await guard(socket_scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Unauthorized"}]
    assert reached == []
    authorised = {**socket_scope, "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]}
    await guard(authorised, receive, send)
    await guard({"type": "lifespan"}, receive, send)
    assert reached == ["websocket", "lifespan"]
    assert json.dumps(sent)  # plain data, nothing else sent


@pytest.mark.slow
def test_idle_keep_alive_connections_make_room(fake: FakeGLM, tmp_path: Path) -> None:
    """Connections that sent one request and then sit idle (kept alive 75 s) are closed, longest idle
    first, once GLM_MCP_MAX_CONNECTIONS are open: new clients still get in."""
    cap = 16
    env = server_env(fake, GLM_MCP_AUTH_TOKEN=TOKEN, GLM_MCP_MAX_CONNECTIONS=str(cap))
    with serving(env, "streamable-http", tmp_path) as running:
        baseline = open_descriptors(running.process.pid)
        idle: list[socket.socket] = []
        try:
            for _ in range(3 * cap):
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=BOUND)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert read_health(sock).startswith(b"HTTP/1.1 200 OK")
                idle.append(sock)
            held = open_descriptors(running.process.pid) - baseline
            assert anyio.run(_authorised_call, running)
            closed = wait_closed(idle[: 2 * cap], BOUND)
        finally:
            for sock in idle:
                sock.close()
        print(f"\n{3 * cap} idle keep-alive connections: {held} descriptors over the baseline")
        assert held <= cap + 8
        assert closed == 2 * cap
    assert "Traceback" not in running.stderr.read_text()


@pytest.mark.slow
def test_a_head_begun_after_a_keep_alive_pause_is_timed(fake: FakeGLM, tmp_path: Path) -> None:
    """A connection that answered one request and then sends part of a second head is closed with 408
    after GLM_MCP_HEADER_TIMEOUT, long before the 75 s keep-alive would end it."""
    env = server_env(fake, GLM_MCP_HEADER_TIMEOUT="2")
    with serving(env, "streamable-http", tmp_path) as running:
        slow: list[socket.socket] = []
        try:
            for _ in range(5):
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=BOUND)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert read_health(sock).startswith(b"HTTP/1.1 200 OK")
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                slow.append(sock)
            answer = slow[0].recv(4096)
            closed = wait_closed(slow, BOUND)
        finally:
            for sock in slow:
                sock.close()
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
        assert closed == len(slow)


SLOW_POST = (
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n{"
)


@pytest.mark.slow
def test_unauthorised_slow_bodies_are_cut_off(fake: FakeGLM, tmp_path: Path) -> None:
    """Requests without the token that send their head and then trickle the body are answered 401 at
    once; the server then waits GLM_MCP_HEADER_TIMEOUT at most for the rest, and counts them idle at the
    cap: new clients still get in."""
    cap = 16
    env = server_env(
        fake, GLM_MCP_AUTH_TOKEN=TOKEN, GLM_MCP_MAX_CONNECTIONS=str(cap), GLM_MCP_HEADER_TIMEOUT="2"
    )
    with serving(env, "streamable-http", tmp_path) as running:
        slow: list[socket.socket] = []
        try:
            for _ in range(3 * cap):
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=BOUND)
                sock.sendall(SLOW_POST)
                slow.append(sock)
            assert httpx2.get(f"{running.root}/healthz", timeout=BOUND).status_code == 200
            assert anyio.run(_authorised_call, running)
            closed = wait_closed(slow, BOUND)
        finally:
            for sock in slow:
                sock.close()
        assert closed == len(slow)
    assert "Traceback" not in running.stderr.read_text()


@pytest.mark.slow
def test_busy_connections_are_kept_and_the_cap_holds(fake: FakeGLM, tmp_path: Path) -> None:
    """At GLM_MCP_MAX_CONNECTIONS connections all serving a request (bodies still coming, no token on
    loopback), a new connection is closed at once; the busy ones are not, and finish their requests."""
    cap = 16
    env = server_env(fake, GLM_MCP_MAX_CONNECTIONS=str(cap), GLM_MCP_HEADER_TIMEOUT="2")
    with serving(env, "streamable-http", tmp_path) as running:
        busy: list[socket.socket] = []
        try:
            for _ in range(cap):
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=BOUND)
                sock.sendall(SLOW_POST)
                # The server reads the body, so the connection is serving a request.
                assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
                busy.append(sock)
            with socket.create_connection(("127.0.0.1", running.port), timeout=BOUND) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert wait_closed([extra], BOUND) == 1
            assert wait_closed(busy, 3) == 0  # past the header timeout: a busy connection is kept
            busy[0].sendall(b" " * (100000 - 1))
            answer = busy[0].recv(4096)
        finally:
            for sock in busy:
                sock.close()
        assert answer.startswith(b"HTTP/1.1 406 Not Acceptable"), answer  # answered (no Accept header)
        assert httpx2.get(f"{running.root}/healthz", timeout=BOUND).status_code == 200
    log = running.stderr.read_text()
    assert "all serving a request" in log or "each serving a request" in log


def test_repeated_warnings_are_logged_once_an_interval() -> None:
    now = [0.0]
    limit = RateLimit(interval=60, clock=lambda: now[0])
    records = []
    for second in range(0, 150):
        now[0] = float(second)
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            error = sys.exc_info()
            record = logging.LogRecord("asyncio", logging.ERROR, "x", 1, "accept failed", None, error)
        if limit.filter(record):
            records.append((second, record.getMessage()))
        info = logging.LogRecord("uvicorn.access", logging.INFO, "x", 1, "GET /", None, None)
        assert limit.filter(info)
    assert records == [
        (0, "accept failed"),
        (60, "accept failed [and 59 more like this since the last one logged]"),
        (120, "accept failed [and 59 more like this since the last one logged]"),
    ]


def test_connection_cap_fits_the_descriptor_limit() -> None:
    assert connection_cap(512, 1024) == 512
    assert connection_cap(512, 512) == 512 - 128 - 2 * BACKLOG
    assert connection_cap(512, 256) == 16
