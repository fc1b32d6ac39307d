"""Running the server: stdio, Streamable HTTP (at /mcp) or legacy SSE (at /sse), each on both protocol eras.

Over HTTP: Host and Origin are checked on every bind (DNS-rebinding protection), a bearer token guards
every request when set (and must be set off loopback), request bodies, connections and sessions are
capped (http_guard.py), and /healthz answers process supervisors. SIGINT and SIGTERM shut down cleanly
on every transport.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import anyio
from anyio.abc import TaskStatus
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .http_guard import BACKLOG, ConnectionGuard, GuardedH11Protocol, RateLimit, SessionBudget, connection_cap
from .server import GLMServer
from .settings import MB, ConfigError, Settings

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
STDIO_EXIT_GRACE = 2.0  # seconds between a stop signal and leaving, in stdio mode
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
# An idle HTTP connection is kept longer than clients keep theirs (httpx 5 s, undici 4 s, aiohttp 15 s):
# with equal timeouts a client can send a request on the connection the server is closing at that
# moment, and the mcp client loses its whole session to the ReadError.
KEEP_ALIVE_SECONDS = 75
Headers = Sequence[tuple[bytes, bytes]]


def serve(server: GLMServer, settings: Settings) -> None:
    """Serve until the client goes away (stdio) or a signal arrives."""
    if settings.transport == "stdio":
        log.info("mcp-server-glm %s serving over stdio, API %s", __version__, settings.api_base_url)
        anyio.run(_serve_stdio, server)
    else:
        app = http_app(server, settings)
        anyio.run(_serve_http, app, settings)


async def _serve_stdio(server: GLMServer) -> None:
    async with anyio.create_task_group() as group:
        await group.start(_stop_on_signal, group.cancel_scope)
        await server.run_stdio_async()
        group.cancel_scope.cancel()


async def _stop_on_signal(
    scope: anyio.CancelScope, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for received in signals:
            log.info(
                "%s received: cancelling in-flight calls and shutting down", signal.Signals(received).name
            )
            scope.cancel()
            # Cancellation ends the calls and the lifespan (the store is closed), but the SDK reads stdin
            # in a worker thread that nothing can interrupt until the client writes again: leave after a
            # short grace period rather than wait for that.
            threading.Timer(STDIO_EXIT_GRACE, os._exit, args=(0,)).start()
            return


def http_app(server: GLMServer, settings: Settings) -> ASGIApp:
    """The ASGI app of the chosen HTTP transport, behind the bearer-token check when one is set."""
    check_http_settings(settings)
    security = transport_security(settings)
    body_limit = settings.max_body_mb * MB

    @server.custom_route(HEALTH_PATH, methods=["GET"])  # type: ignore[untyped-decorator]
    async def health(_: Request) -> JSONResponse:
        # 503 once the server's background work has stopped (see LazyStore.failure): the process
        # still answers here, but no longer serves MCP, and a supervisor should restart it.
        failure = server.store.failure if server.store is not None else None
        if failure is not None:
            return JSONResponse(
                {"status": "failing", "version": __version__, "problem": failure}, status_code=503
            )
        return JSONResponse({"status": "ok", "version": __version__})

    if settings.transport == "sse":
        app: ASGIApp = server.sse_app(
            max_request_body_size=body_limit, transport_security=security, host=settings.host
        )
    else:
        app = server.streamable_http_app(
            max_request_body_size=body_limit,
            transport_security=security,
            host=settings.host,
            max_sessions=settings.max_sessions,  # the SDK's refusal backs up SessionBudget's
        )
        app = SessionBudget(app, settings.max_sessions)
    app = BodyLimit(app, body_limit)
    if settings.auth_token is not None:
        app = BearerToken(app, settings.auth_token.get_secret_value())
    return app


def check_http_settings(settings: Settings) -> None:
    """Refuse a bind that would expose the server without protection."""
    if settings.is_loopback:
        return
    if settings.auth_token is None:
        raise ConfigError(
            f"refusing to listen on {settings.host} without a bearer token: set GLM_MCP_AUTH_TOKEN "
            "(or --auth-token), or listen on 127.0.0.1"
        )
    if not settings.allowed_hosts:
        raise ConfigError(
            f"listening on {settings.host} needs the Host names clients will use: set "
            "GLM_MCP_ALLOWED_HOSTS (or --allowed-host), e.g. glm.example.com or 203.0.113.5:8000"
        )


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host and Origin validation, on for every bind: loopback names, plus the configured hosts."""
    hosts = [*LOOPBACK_HOSTS] if settings.is_loopback else []
    patterns = [pattern for host in [*hosts, *(settings.allowed_hosts or [])] for pattern in _patterns(host)]
    origins = [f"{scheme}://{pattern}" for pattern in patterns for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=patterns, allowed_origins=origins
    )


def _patterns(host: str) -> list[str]:
    """Host header patterns: "name:port" (or "name:*") as given; a bare name with or without any port."""
    return [host] if re.search(r":(\d+|\*)$", host) else [host, f"{host}:*"]


async def _json_rpc_error(send: Send, status: int, code: int, message: str, headers: Headers = ()) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets a JSON-RPC error (HTTP 413), unread."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        # No (or a false) length: read up to the limit, then hand the app the body it would have read.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        megabytes = self.limit // MB
        message = f"Request too large: the limit is {megabytes} MiB (GLM_MCP_MAX_BODY_MB)"
        await _json_rpc_error(send, 413, -32600, message)


class BearerToken:
    """ASGI middleware: every HTTP request but /healthz, and every WebSocket, must carry
    `Authorization: Bearer <token>`; lifespan events pass."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        public = kind == "lifespan" or (kind == "http" and scope["path"] == HEALTH_PATH)
        if public or (kind in ("http", "websocket") and self._authorized(scope)):
            await self.app(scope, receive, send)
        elif kind == "http":
            message = "Unauthorized: send Authorization: Bearer <the server's GLM_MCP_AUTH_TOKEN>"
            await _json_rpc_error(
                send, 401, -32001, message, [(b"www-authenticate", b'Bearer realm="mcp-server-glm"')]
            )
        elif kind == "websocket":
            # Closed before the handshake is accepted: the server answers the upgrade with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": "Unauthorized"})

    def _authorized(self, scope: Scope) -> bool:
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        return hmac.compare_digest(given, self._expected)


async def _serve_http(app: ASGIApp, settings: Settings) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # Signals are watched below instead, so that a requested stop ends with status 0 rather
            # than uvicorn re-raising the signal once it has shut down.
            yield

    limit = RateLimit()
    for handler in logging.getLogger().handlers:
        handler.addFilter(limit)
    if settings.log_level != "DEBUG":
        # A line per session opened or ended, naming its id (the session's key): noise at INFO.
        for chatty in ("mcp.server.streamable_http", "mcp.server.streamable_http_manager"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    cap = connection_cap(settings.max_connections, _descriptor_limit())
    if cap < settings.max_connections:
        log.warning(
            "Holding at most %d HTTP connections, not %d (GLM_MCP_MAX_CONNECTIONS): the process may open "
            "only %d files (ulimit -n)",
            cap,
            settings.max_connections,
            _descriptor_limit(),
        )
    guard = ConnectionGuard(cap, settings.header_timeout)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=GuardedH11Protocol.under(guard),
        backlog=BACKLOG,
        ws="none",  # neither transport speaks WebSocket: an upgrade request is answered as plain HTTP
        log_config=None,  # our logging: stderr, our format
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",  # a line per request only when debugging
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )
    server = Server(config)
    path = "/sse" if settings.transport == "sse" else "/mcp"
    log.info(
        "mcp-server-glm %s serving %s at http://%s:%d%s, API %s",
        __version__,
        settings.transport,
        settings.host,
        settings.port,
        path,
        settings.api_base_url,
    )
    async with anyio.create_task_group() as group:
        await group.start(_exit_on_signal, server)
        await server.serve()
        group.cancel_scope.cancel()


def _descriptor_limit() -> int:
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return 1 << 20
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


async def _exit_on_signal(server: Any, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for received in signals:
            log.info(
                "%s received: finishing in-flight requests, then stopping", signal.Signals(received).name
            )
            server.should_exit = True
