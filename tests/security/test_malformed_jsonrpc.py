"""Issue 5 §2, malformed JSON-RPC on every transport: stdio (raw pipes to the installed server),
Streamable HTTP and SSE (raw httpx2 requests).

Each bad message gets a JSON-RPC error or the transport's own rejection, and the server keeps serving:
a valid request right after it is answered. What each transport answers today:

- Streamable HTTP: HTTP 400 with a JSON-RPC error (-32700 for unparseable JSON, -32602 for a message
  that is no JSON-RPC message); a well-formed request for an unknown method or with bad params gets
  its JSON-RPC error (-32601 / -32602); a body over GLM_MCP_MAX_BODY_MB gets 413 with -32600.
- SSE: the SDK's POST endpoint answers HTTP 400 "Could not parse message" (plain text) to anything that
  is not a JSON-RPC message; well-formed requests are answered on the event stream; over the cap, 413.
- stdio: well-formed requests are answered with their JSON-RPC error; lines that are not a JSON-RPC
  message are dropped without an answer (see the xfail tests at the end).
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import server_env
from tests.security import conftest as security
from tests.support.http import TOOLS, Running
from tests.support.stdio import installed_server

pytestmark = pytest.mark.slow

MB = 1024 * 1024
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = b'{"jsonrpc":"2.0","id":"after","method":"tools/list"}'

# name -> raw message; None as the expected code: not a JSON-RPC message at all (a parse/validation failure)
ROWS: dict[str, tuple[bytes, int | None]] = {
    "invalid-json": (b'{"jsonrpc": "2.0", "id": 1, "method"', None),
    "junk-array": (b'[1, 2, "junk", {"x": null}]', None),
    "empty-array": (b"[]", None),
    "json-string": (b'"just a string"', None),
    "json-null": (b"null", None),
    "not-utf8": (b"\xff\xfe\x00garbage", None),
    "no-method": (b'{"jsonrpc":"2.0","id":3}', None),
    "no-jsonrpc-member": (b'{"id":8,"method":"tools/list"}', None),
    "object-id": (b'{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}', None),
    "params-string": (b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":"x"}', None),
    "unknown-method": (b'{"jsonrpc":"2.0","id":4,"method":"no/such"}', -32601),
    "tool-name-not-string": (b'{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":5}}', -32602),
    "arguments-array": (
        b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"glm_chat","arguments":[1]}}',
        -32602,
    ),
    "initialize-params-wrong": (
        b'{"jsonrpc":"2.0","id":9,"method":"initialize","params":{"protocolVersion":5}}',
        -32602,
    ),
}

# An object as the id: the SDK reads the message as a notification (extra members are allowed there), so
# it is accepted without an answer (HTTP 202) instead of being refused; harmless, and the server serves on.
NOTIFICATION_LIKE = {"object-id"}


# -- stdio -----------------------------------------------------------------------------------------


class Pipes:
    """The installed server over stdio with raw byte lines; a reader thread queues every stdout line."""

    def __init__(self, env: dict[str, str], stderr: Path) -> None:
        with stderr.open("w") as log:
            self.process = subprocess.Popen(
                [installed_server()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env
            )
        self.stderr = stderr
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.probes = 0
        self.send(json.dumps(INITIALIZE).encode())
        assert "result" in self.until("init")[-1]
        self.send(json.dumps(INITIALIZED).encode())

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, raw: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def until(self, wanted: Any, timeout: float = 30) -> list[dict[str, Any]]:
        """Every message up to and including the answer with id `wanted`; each must be JSON-RPC."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line is not None, "the server closed stdout"
            message = json.loads(line)
            assert message["jsonrpc"] == "2.0"
            seen.append(message)
            if message.get("id") == wanted:
                return seen

    def answers_to(self, raw: bytes) -> list[dict[str, Any]]:
        """What the server wrote after `raw`, up to its answer to a ping sent right after it: the
        messages in between are the answers to `raw`, and the ping answered means it still serves."""
        self.probes += 1
        probe = f"probe-{self.probes}"
        self.send(raw)
        self.send(json.dumps({"jsonrpc": "2.0", "id": probe, "method": "ping"}).encode())
        seen = self.until(probe)
        assert seen[-1].get("result") == {}
        return seen[:-1]

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):  # left open, they warn when collected
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@pytest.fixture(scope="module")
def pipes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipes]:
    base = tmp_path_factory.mktemp("stdio")
    server = Pipes(server_env(None, GLM_DATA_DIR=str(base / "data")), base / "stderr.log")
    try:
        yield server
    finally:
        server.close()
    assert "Traceback" not in server.stderr.read_text()


@pytest.mark.parametrize("row", list(ROWS))
def test_stdio_bad_message(pipes: Pipes, row: str) -> None:
    raw, code = ROWS[row]
    answers = pipes.answers_to(raw)
    if code is not None:
        [answer] = answers
        assert answer["error"]["code"] == code
    else:
        assert all("error" in answer for answer in answers), answers
    assert pipes.process.poll() is None


def test_stdio_20_mb_lines(pipes: Pipes) -> None:
    big = {"jsonrpc": "2.0", "id": "big", "method": "tools/list", "params": {"pad": "x" * (20 * MB)}}
    [answer] = pipes.answers_to(json.dumps(big).encode())
    assert answer["id"] == "big" and len(answer["result"]["tools"]) == TOOLS
    assert all("error" in answer for answer in pipes.answers_to(b"y" * (20 * MB)))
    assert all("error" in answer for answer in pipes.answers_to(b'{"a": "' + b"z" * (20 * MB)))
    pipes.send(TOOLS_LIST)
    assert len(pipes.until("after")[-1]["result"]["tools"]) == TOOLS


STDIO_SILENT = ["invalid-json", "params-string", "no-method"]


@pytest.mark.xfail(
    strict=True,
    reason="the SDK's stdio transport drops a line that is not a valid JSON-RPC message without answering: "
    "a parse error gets no -32700, and a request that has an id but bad params/members is never answered, "
    "so a client waits for it forever (HTTP answers both with a JSON-RPC error)",
)
@pytest.mark.parametrize("row", STDIO_SILENT)
def test_stdio_answers_every_unusable_message(pipes: Pipes, row: str) -> None:
    answers = pipes.answers_to(ROWS[row][0])
    assert answers and answers[0]["error"]["code"] in (-32700, -32600, -32602)


# -- HTTP ------------------------------------------------------------------------------------------


def serving(transport: str, base: Path) -> AbstractContextManager[Running]:
    """The installed server on HTTP with a 1 MiB body cap."""
    env = server_env(None, GLM_MCP_MAX_BODY_MB="1", GLM_DATA_DIR=str(base / "data"))
    return security.serving(env, transport, base)


@pytest.fixture(scope="module")
def streamable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving("streamable-http", tmp_path_factory.mktemp("streamable")) as running:
        yield running
    assert "Traceback" not in running.stderr.read_text()


@pytest.fixture(scope="module")
def sse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving("sse", tmp_path_factory.mktemp("sse")) as running:
        yield running
    # the only tracebacks allowed are the SDK's own log of a POST it could not parse
    log = running.stderr.read_text()
    assert log.count("Traceback") == log.count("ERROR mcp.server.sse: Failed to parse message")


HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def events(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether plain JSON or an event stream."""
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


@asynccontextmanager
async def streamable_session(running: Running) -> AsyncIterator[tuple[httpx2.AsyncClient, dict[str, str]]]:
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(f"{running.root}/mcp", json=INITIALIZE, headers=HEADERS)
        assert opened.status_code == 200
        headers = {**HEADERS, "mcp-protocol-version": "2025-11-25"}
        if "mcp-session-id" in opened.headers:
            headers["mcp-session-id"] = opened.headers["mcp-session-id"]
        done = await http.post(f"{running.root}/mcp", json=INITIALIZED, headers=headers)
        assert done.status_code == 202
        yield http, headers


async def still_serving_streamable(
    http: httpx2.AsyncClient, running: Running, headers: dict[str, str]
) -> None:
    after = await http.post(f"{running.root}/mcp", content=TOOLS_LIST, headers=headers)
    [answer] = events(after)
    assert answer["id"] == "after" and len(answer["result"]["tools"]) == TOOLS


@pytest.mark.anyio
@pytest.mark.parametrize("row", list(ROWS))
async def test_streamable_http_bad_message(streamable: Running, row: str) -> None:
    raw, code = ROWS[row]
    async with streamable_session(streamable) as (http, headers):
        response = await http.post(f"{streamable.root}/mcp", content=raw, headers=headers)
        if row in NOTIFICATION_LIKE and response.status_code == 202:
            assert response.content == b""
            await still_serving_streamable(http, streamable, headers)
            return
        [answer] = events(response)
        assert answer["jsonrpc"] == "2.0"
        if code is None:
            assert response.status_code == 400
            assert answer["id"] is None
            assert answer["error"]["code"] in (-32700, -32600, -32602)
        else:
            assert answer["error"]["code"] == code
        await still_serving_streamable(http, streamable, headers)


@pytest.mark.anyio
async def test_streamable_http_oversized_bodies(streamable: Running) -> None:
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * (2 * MB)}}

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the cap must count the bytes
        data = json.dumps(big).encode()
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    async with streamable_session(streamable) as (http, headers):
        for content in (json.dumps(big).encode(), chunked(), b"[" * (2 * MB)):
            response = await http.post(f"{streamable.root}/mcp", content=content, headers=headers)
            assert response.status_code == 413
            assert response.json()["error"]["code"] == -32600
        await still_serving_streamable(http, streamable, headers)


class SSESession:
    def __init__(self, http: httpx2.AsyncClient, root: str, endpoint: str, inbox: Any) -> None:
        self.http, self.url, self.inbox = http, root + endpoint, inbox

    async def post(self, raw: bytes) -> httpx2.Response:
        return await self.http.post(self.url, content=raw, headers={"Content-Type": "application/json"})

    async def answer(self, wanted: Any) -> dict[str, Any]:
        with anyio.fail_after(30):
            while True:
                message = json.loads(await self.inbox.receive())
                assert message["jsonrpc"] == "2.0"
                if message.get("id") == wanted:
                    return message  # type: ignore[no-any-return]


@asynccontextmanager
async def sse_session(running: Running) -> AsyncIterator[SSESession]:
    send, receive = anyio.create_memory_object_stream[str](100)
    async with (
        send,
        receive,
        httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=None)) as http,
        anyio.create_task_group() as group,
    ):

        async def read() -> None:
            async with http.stream("GET", f"{running.root}/sse") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        await send.send(line[5:].strip())

        group.start_soon(read)
        with anyio.fail_after(30):
            endpoint = await receive.receive()
        session = SSESession(http, running.root, endpoint, receive)
        assert (await session.post(json.dumps(INITIALIZE).encode())).status_code == 202
        assert "result" in await session.answer("init")
        assert (await session.post(json.dumps(INITIALIZED).encode())).status_code == 202
        yield session
        group.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("row", list(ROWS))
async def test_sse_bad_message(sse: Running, row: str) -> None:
    raw, code = ROWS[row]
    async with sse_session(sse) as session:
        response = await session.post(raw)
        if row in NOTIFICATION_LIKE and response.status_code == 202:
            pass
        elif code is None:
            assert response.status_code == 400
            assert response.text == "Could not parse message"
        else:
            assert response.status_code == 202
            answer = await session.answer(json.loads(raw)["id"])
            assert answer["error"]["code"] == code
        assert (await session.post(TOOLS_LIST)).status_code == 202
        assert len((await session.answer("after"))["result"]["tools"]) == TOOLS


@pytest.mark.anyio
async def test_sse_oversized_body(sse: Running) -> None:
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * (2 * MB)}}
    async with sse_session(sse) as session:
        response = await session.post(json.dumps(big).encode())
        assert response.status_code == 413
        assert response.json()["error"]["code"] == -32600
        assert (await session.post(TOOLS_LIST)).status_code == 202
        assert len((await session.answer("after"))["result"]["tools"]) == TOOLS
