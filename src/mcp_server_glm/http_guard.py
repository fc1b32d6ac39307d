"""Limits on the HTTP transports: a deadline for every request head, caps on open connections and on
Streamable HTTP sessions (the idle one unused longest makes room), and a log filter against floods.

uvicorn has no header timeout and holds every connection it accepts until the process runs out of
descriptors (its keep-alive timer starts only after a first response); the SDK refuses new sessions at
its cap until one has been idle for 30 minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .responses import json_rpc_error

log = logging.getLogger(__name__)

RESERVED_DESCRIPTORS = 128  # kept for upstream connections (up to 100), the store, files and logs
# The listen backlog, which is also how many connections asyncio accepts in one go before any of them is
# counted: the guard closes the excess a moment later, so the descriptors in use may briefly exceed the
# cap by two such batches.
BACKLOG = 128
MIN_CONNECTIONS = 16
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 41\r\n\r\nThe request head did not arrive in time.\n"
)


def connection_cap(wanted: int, descriptor_limit: int) -> int:
    """The connections the server may hold: the setting, lowered to leave descriptors for the rest."""
    return max(MIN_CONNECTIONS, min(wanted, descriptor_limit - RESERVED_DESCRIPTORS - 2 * BACKLOG))


class ConnectionGuard:
    """The open connections of one server, and those waiting for a request head, longest-waiting first."""

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open: set[GuardedH11Protocol] = set()
        self.waiting: dict[GuardedH11Protocol, None] = {}  # insertion order: the longest waiting first

    def admit(self, connection: GuardedH11Protocol) -> bool:
        """Count a new connection in, closing the longest-waiting idle one at the cap; False if every
        connection is busy with a request."""
        if len(self.open) >= self.max_connections:
            idle = next(iter(self.waiting), None)
            if idle is None:
                log.warning(
                    "Refused a connection: %d are open, each serving a request (GLM_MCP_MAX_CONNECTIONS)",
                    self.max_connections,
                )
                return False
            log.warning(
                "At %d open connections (GLM_MCP_MAX_CONNECTIONS): closing the one idle longest",
                self.max_connections,
            )
            idle.evict()
        self.open.add(connection)
        return True

    def idle(self, connection: GuardedH11Protocol) -> None:
        self.waiting.pop(connection, None)
        self.waiting[connection] = None

    def busy(self, connection: GuardedH11Protocol) -> None:
        self.waiting.pop(connection, None)

    def forget(self, connection: GuardedH11Protocol) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol under a ConnectionGuard: a request head must arrive in full within the
    guard's header timeout of the connection opening or of its first byte after an idle keep-alive, and
    so must the rest of a body the server answered without reading."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    @classmethod
    def under(cls, guard: ConnectionGuard) -> type[GuardedH11Protocol]:
        """The protocol class uvicorn instantiates per connection, bound to `guard`."""
        return type("GuardedH11Protocol", (cls,), {"guard": guard})

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if not self.guard.admit(self):
            self.transport.close()
            return
        self.guard.idle(self)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._review(data_arrived=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._review(data_arrived=bool(self.conn.trailing_data[0]))

    def _waiting(self) -> bool:
        """Waiting for a request head, or for the rest of a body already answered (a 401 or 413 sent
        before reading it): the connection serves no request."""
        theirs = self.conn.their_state
        answered = self.conn.our_state in (h11.DONE, h11.MUST_CLOSE)
        return theirs is h11.IDLE or (theirs is h11.SEND_BODY and answered)

    def _review(self, *, data_arrived: bool) -> None:
        if self.transport.is_closing():
            return
        if not self._waiting():
            self._stop_head_timer()
            self.guard.busy(self)
            return
        if self not in self.guard.waiting:
            self.guard.idle(self)
        # An idle keep-alive connection is left to uvicorn's keep-alive timer (or to the cap); a head
        # begun, or an answered body still coming, has the header timeout.
        if self._head_timer is None and (data_arrived or self.conn.their_state is h11.SEND_BODY):
            self._start_head_timer()

    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""
        self._stop_head_timer()
        self.guard.forget(self)
        self.transport.close()

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.guard.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._waiting():
            return
        log.warning(
            "Closed a connection that sent no complete request head (or left an answered body unsent) "
            "within %g s (GLM_MCP_HEADER_TIMEOUT)",
            self.guard.header_timeout,
        )
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self.transport.write(TIMEOUT_RESPONSE)
        self.guard.forget(self)
        self.transport.close()


class RateLimit(logging.Filter):
    """Lets through one record of each kind (logger, message, exception type) at WARNING or above per
    `interval` seconds; the next one to pass says how many were held back."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        kind = (record.name, str(record.msg), error)
        now = self.clock()
        since, held = self._seen.get(kind, (float("-inf"), 0))
        if now - since < self.interval:
            self._seen[kind] = (since, held + 1)
            return False
        if len(self._seen) > 1000:  # kinds are few; this only bounds a pathological variety
            self._seen.clear()
        self._seen[kind] = (now, 0)
        if held:
            record.msg = f"{record.msg} [and {held} more like this since the last one logged]"
        return True


SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
HANDSHAKE_VERSIONS = {version.encode() for version in HANDSHAKE_PROTOCOL_VERSIONS}


@dataclass
class _Session:
    last_used: float
    in_flight: int = 0


class SessionBudget:
    """ASGI middleware before the SDK's Streamable HTTP app: at `limit` sessions, a request that would
    open one first ends the session idle longest (through the protocol's own DELETE), so a flood of
    sessions cannot lock new clients out. A session with a request in flight (an open GET stream
    included) is never ended; if every session is busy, the new one is refused with 503."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.sessions: dict[bytes, _Session] = {}
        self.opening = 0  # requests that may open a session, not answered yet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        session_id = headers.get(SESSION_HEADER)
        if session_id is not None:
            await self._within(session_id, scope, receive, send)
            return
        opens = scope["method"] == "POST" and headers.get(VERSION_HEADER, b"2025-11-25") in HANDSHAKE_VERSIONS
        if not opens:
            await self.app(scope, receive, send)
            return
        if len(self.sessions) + self.opening >= self.limit and not await self._make_room(scope):
            message = f"Too many open sessions: all {self.limit} are busy (GLM_MCP_MAX_SESSIONS); retry later"
            log.warning("Refused a new session: all %d are busy (GLM_MCP_MAX_SESSIONS)", self.limit)
            await _json_error(send, 503, message)
            return
        self.opening += 1
        counted = True

        async def watch(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and counted:
                counted = False
                self.opening -= 1
                opened = dict(message.get("headers", [])).get(SESSION_HEADER)
                if opened is not None and message["status"] < 400:
                    self.sessions[opened] = _Session(time.monotonic())
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if counted:
                self.opening -= 1

    async def _within(self, session_id: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        session = self.sessions.get(session_id)
        if session is None:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        session.in_flight += 1
        try:
            await self.app(scope, receive, watch)
        finally:
            session.in_flight -= 1
            session.last_used = time.monotonic()
            if status == 404 or (scope["method"] == "DELETE" and status < 400):
                self.sessions.pop(session_id, None)

    async def _make_room(self, scope: Scope) -> bool:
        """End idle sessions, longest unused first, until one ended; False if every one is busy."""
        while True:
            idle = [(entry.last_used, key) for key, entry in self.sessions.items() if not entry.in_flight]
            if not idle:
                return False
            _, key = min(idle)
            status = await self._end(key, scope)
            if status != 404:
                # Ended, or refused for a reason the new session's own request will be answered with.
                if status < 400:
                    self.sessions.pop(key, None)
                    log.warning(
                        "At %d sessions (GLM_MCP_MAX_SESSIONS): ended the one idle longest to open another",
                        self.limit,
                    )
                return True
            # Already gone (the SDK's own idle timeout): its place is free.
            self.sessions.pop(key, None)
            if len(self.sessions) + self.opening < self.limit:
                return True

    async def _end(self, session_id: bytes, scope: Scope) -> int:
        """Send the session's DELETE through the app, as its client would; the HTTP status."""
        host = [(name, value) for name, value in scope["headers"] if name == b"host"]
        request = {**scope, "method": "DELETE", "headers": [*host, (SESSION_HEADER, session_id)]}
        status = 0

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(request, receive, send)
        return status


async def _json_error(send: Send, status: int, message: str) -> None:
    await json_rpc_error(send, status, -32000, message)
