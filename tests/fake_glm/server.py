"""HTTP/1.1 server core of the fake GLM API: h11 over asyncio in a daemon thread.
Records requests, plays scripted faults, counts TCP connections, and can reset or cut connections."""

import asyncio
import contextlib
import email.utils
import http
import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import h11

from .api import Fault, Reply, handle
from .media import MEDIA_SIZE, Site, Task, TaskBook, TaskPlan, parse_form
from .platform import Desk, PageEntry, Quota

# The host root (/api: agents, the plan's quota query) comes last: the two paas bases are inside it.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("/api/paas/v4", "paas"),
    ("/api/coding/paas/v4", "coding"),
    ("/api", "root"),
)
# Routes ending in an id or a file name; a fault scripted for the collection matches any of them.
COLLECTIONS = ("async-result", "media")
READ_SIZE = 65536


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    route: str
    base: str
    headers: dict[str, str]
    body: bytes
    json: Any
    time: float
    connection: int
    form: dict[str, list[str]] = field(default_factory=dict)  # text fields of a multipart/form-data body
    files: dict[str, bytes] = field(default_factory=dict)  # its file parts, by field name


def split_path(path: str) -> tuple[str, str]:
    """(route, base) of a URL path; outside /api the route is the path and base is ""."""
    for prefix, base in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) + 1 :], base
    return path.lstrip("/"), ""


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


class FakeGLM:
    """A fake GLM HTTP API on 127.0.0.1, served from its own event loop thread."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next_connection = 0
        self._book = TaskBook()
        self._init_state()

    def _init_state(self) -> None:
        self.api_keys: set[str] | None = None
        # Keys of a GLM Coding Plan account without balance: chat on the coding endpoint answers, every
        # route of the general endpoint refuses them with 1113 (insufficient balance).
        self.coding_keys: set[str] = set()
        # Which platform the fake plays: "zai" (api.z.ai) or "bigmodel" (open.bigmodel.cn); each
        # refuses what its own reference refuses.
        self.platform = "zai"
        self.latency = 0.0
        self.chunk_delay = 0.0
        self.task_plan = TaskPlan()
        self.unknown_task_status = 404
        self.media_size = MEDIA_SIZE
        self.media_png: bytes | None = None  # the image and cover files served, when not the 2x2 PNG
        # The platform tools (platform.py): pages the reader serves by URL (a `Page`, (title, markdown)
        # or None for a page that cannot be reached; others get a default page), documents GLM-OCR
        # reads by URL, cloned voice ids TTS accepts, the plan quota and whether its query exists, and
        # the (start, end) page range of each document GLM-OCR parsed.
        self.pages: dict[str, PageEntry] = {}
        self.documents: dict[str, bytes] = {}
        self.voices: set[str] = set()
        self.quota = Quota()
        self.quota_available = True
        self.parsed_pages: list[tuple[int, int]] = []
        self._scripts: dict[str, deque[Fault]] = {}
        self._records: list[Recorded] = []
        self._connections = 0
        self._book.clear()

    # ------------------------------------------------------------ public API

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/api/paas/v4"

    @property
    def coding_base_url(self) -> str:
        return self.root_url + "/api/coding/paas/v4"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    def requests_to(self, route: str) -> list[Recorded]:
        route = route.strip("/")
        return [r for r in self.requests if r.route == route]

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def tasks(self) -> dict[str, Task]:
        """Async tasks (video and image) by id, as they are now (kind, model, created, polls, plan...)."""
        return self._book.snapshot()

    def finish_task(self, task_id: str) -> None:
        """End an async task at its next poll, with its plan's outcome: a task held processing (a
        `TaskPlan(seconds=...)` far off) ends when the test says."""
        self._book.finish(task_id)

    def replan(self, task_id: str, plan: TaskPlan) -> None:
        """Give an existing async task a new plan from its next poll on (TaskPlan(polls=0): done then)."""
        self._book.replan(task_id, plan)

    def media_url(self, name: str) -> str:
        return f"{self.root_url}/media/{name}"

    def script(self, route: str, *faults: Fault) -> None:
        """Queue faults for a route; each matching request consumes the next one.
        Routes are as in `Recorded.route`: "chat/completions", "async-result/<id>", "media/<name>";
        the collections "async-result" and "media" match any id or file name (the exact route first)."""
        with self._lock:
            self._scripts.setdefault(route.strip("/"), deque()).extend(faults)

    def reset(self) -> None:
        """Back to defaults: no scripts, records or counted connections (connection ids keep growing)."""
        with self._lock:
            self._init_state()

    def start(self) -> "FakeGLM":
        sock = socket.create_server(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), name="fake-glm", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop, self._thread = None, None

    def __enter__(self) -> "FakeGLM":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ loop thread

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._on_connection, sock=sock))
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _open_connection(self) -> int:
        with self._lock:
            self._connections += 1
            self._next_connection += 1
            return self._next_connection

    def _pop_fault(self, route: str) -> Fault | None:
        collection = route.partition("/")[0]
        keys = (route, collection) if collection in COLLECTIONS else (route,)
        with self._lock:
            for key in keys:
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
            return None

    def _site(self) -> Site:
        return Site(
            self.root_url,
            self._book,
            self.task_plan,
            self.unknown_task_status,
            self.media_size,
            self.platform,
            self.media_png,
        )

    def _desk(self) -> Desk:
        return Desk(
            self.root_url,
            self.platform,
            self.pages,
            self.documents,
            self.voices,
            self.quota,
            self.quota_available,
            frozenset(self.coding_keys),
            self.parsed_pages,
        )

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self._records.append(entry)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn_id = self._open_connection()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A zero high-water mark makes every drain() wait until the bytes are in the kernel: each SSE
        # event reaches the client as it is produced, and an abort never discards written data.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            await _Connection(self, conn_id, reader, writer).serve()
        except (OSError, asyncio.CancelledError, h11.ProtocolError):
            pass  # client went away, or we are shutting down
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


class _Connection:
    """One TCP connection: a loop of request/response cycles (keep-alive)."""

    def __init__(
        self, fake: FakeGLM, conn_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.fake = fake
        self.id = conn_id
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER)

    async def serve(self) -> None:
        while True:
            request = await self._next_request()
            if request is None:
                return
            if not await self._respond(request):
                return
            if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                return  # "Connection: close" or an HTTP/1.0 client
            self.h11.start_next_cycle()

    async def _next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.h11.receive_data(await self.reader.read(READ_SIZE))

    async def _next_request(self) -> Recorded | None:
        try:
            request = await self._next_event()
        except h11.RemoteProtocolError:
            await self._send_plain(400, b"Bad Request")
            return None
        if not isinstance(request, h11.Request):
            return None
        arrived = time.monotonic()
        body = bytearray()
        while not isinstance(event := await self._next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.ConnectionClosed):
                return None
        return self._recorded(request, bytes(body), arrived)

    def _recorded(self, request: h11.Request, body: bytes, arrived: float) -> Recorded:
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        path = request.target.decode("latin-1").split("?", 1)[0]
        route, base = split_path(path)
        form, files = parse_form(headers.get("content-type"), body)
        return Recorded(
            method=request.method.decode("ascii"),
            path=path,
            route=route,
            base=base,
            headers=headers,
            body=body,
            json=_parse_json(body),
            time=arrived,
            connection=self.id,
            form=form,
            files=files,
        )

    async def _respond(self, request: Recorded) -> bool:
        """Answer one request; False when the connection was aborted."""
        fault = self.fake._pop_fault(request.route)
        self.fake._record(request)
        delay = self.fake.latency + (fault.delay if fault is not None else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.drop:
            self._abort()
            return False
        reply = handle(
            request.method,
            request.route,
            request.headers,
            request.body,
            fault=fault,
            api_keys=self.fake.api_keys,
            base=request.base,
            form=request.form,
            files=request.files,
            site=self.fake._site(),
            platform=self.fake.platform,
            coding_keys=frozenset(self.fake.coding_keys),
            desk=self.fake._desk(),
        )
        if reply.chunks is not None:
            return await self._send_chunks(reply)
        if reply.events is None:
            await self._send_whole(reply)
            return True
        return await self._send_events(reply)

    async def _send(self, *events: h11.Event) -> None:
        for event in events:
            data = self.h11.send(event)
            if data:
                self.writer.write(data)
        await self.writer.drain()

    def _head(self, reply: Reply, length: int | None) -> h11.Response:
        headers = [*reply.headers, ("Date", email.utils.formatdate(usegmt=True))]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        return h11.Response(status_code=reply.status, headers=headers, reason=_reason(reply.status))

    async def _send_whole(self, reply: Reply) -> None:
        await self._send(self._head(reply, len(reply.body)), h11.Data(data=reply.body), h11.EndOfMessage())

    async def _send_events(self, reply: Reply) -> bool:
        """Stream SSE events one write (and flush) each, chunked; maybe cut the connection after them."""
        assert reply.events is not None
        await self._send(self._head(reply, None))
        for index, event in enumerate(reply.events):
            if index and self.fake.chunk_delay > 0:
                await asyncio.sleep(self.fake.chunk_delay)
            await self._send(h11.Data(data=event))
        if reply.cut:
            self._abort()
            return False
        await self._send(h11.EndOfMessage())
        return True

    async def _send_chunks(self, reply: Reply) -> bool:
        """Stream a body of known length as its chunks come (chunk_delay between them); maybe cut it."""
        assert reply.chunks is not None
        await self._send(self._head(reply, reply.length))
        for index, chunk in enumerate(reply.chunks):
            if index and self.fake.chunk_delay > 0:
                await asyncio.sleep(self.fake.chunk_delay)
            await self._send(h11.Data(data=chunk))
        if reply.cut:
            self._abort()
            return False
        await self._send(h11.EndOfMessage())
        return True

    async def _send_plain(self, status: int, text: bytes) -> None:
        with contextlib.suppress(h11.LocalProtocolError):
            headers = [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(text))),
                ("Connection", "close"),
            ]
            head = h11.Response(status_code=status, reason=_reason(status), headers=headers)
            await self._send(head, h11.Data(data=text), h11.EndOfMessage())

    def _abort(self) -> None:
        """Reset the connection (RST, not FIN); writes were already flushed to the kernel by drain()."""
        transport = self.writer.transport
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
