"""Running the server: stdio, Streamable HTTP (at /mcp) or legacy SSE (at /sse), each on both protocol eras.

Over HTTP: Host and Origin are checked on every bind (DNS-rebinding protection), a bearer token guards
every request when set (and must be set off loopback), request bodies, connections and sessions are
capped (http_guard.py), /healthz answers process supervisors, and with GLM_REPLICA_ID session ids name
the replica for a proxy's routing (affinity.py). SIGINT and SIGTERM shut down cleanly
on every transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import os
import re
import signal
import socket
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
from .affinity import SessionAffinity
from .errors import ConfigError
from .http_guard import BACKLOG, ConnectionGuard, GuardedH11Protocol, RateLimit, SessionBudget, connection_cap
from .responses import json_rpc_error
from .server import GLMServer, hosting
from .settings import MB, Settings

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
STDIO_EXIT_GRACE = 2.0  # seconds between a stop signal and leaving, in stdio mode
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
# An idle HTTP connection is kept longer than clients keep theirs (httpx 5 s, undici 4 s, aiohttp 15 s):
# with equal timeouts a client can send a request on the connection the server is closing at that
# moment, and the mcp client loses its whole session to the ReadError.
KEEP_ALIVE_SECONDS = 75
SHUTDOWN_GRACE = 5  # seconds a stop signal leaves running HTTP requests before they are cancelled
Headers = Sequence[tuple[bytes, bytes]]


def serve(server: GLMServer, settings: Settings) -> None:
    """Serve until the client goes away (stdio) or a signal arrives."""
    if settings.transport == "stdio":
        if settings.auth_issuer is not None:
            raise ConfigError(
                "GLM_AUTH_ISSUER is for the HTTP transports: start with --transport streamable-http"
            )
        log.info("mcp-server-glm %s serving over stdio, API %s", __version__, settings.api_base_url)
        anyio.run(_serve_stdio, server)
    else:
        app = http_app(server, settings)
        sockets = bind(settings.host, settings.port)
        anyio.run(_serve_http, app, settings, sockets)


def bind(host: str, port: int) -> list[socket.socket]:
    """The listening sockets for host and port (every address the name resolves to, on one port), or a
    ConfigError in one line: bound here rather than by uvicorn, which ends a failed bind with a logged
    error and a SystemExit that anyio wraps in an exception group."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}: {exc.strerror}; check --host / GLM_MCP_HOST") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            listener = socket.socket(family, kind, proto)
            sockets.append(listener)
            if os.name != "nt":  # on Windows the option lets another process take the port too
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            # With port 0, every address shares the port the system chose for the first.
            listener.bind((address[0], port, *address[2:]))
            port = listener.getsockname()[1]
    except OSError as exc:
        for listener in sockets:
            listener.close()
        where = f"{_url_host(host)}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{where} is already in use: pick another port with --port or GLM_MCP_PORT"
            ) from None
        raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sockets


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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
    """The ASGI app of the chosen HTTP transport, behind the bearer-token check or the OAuth sign-in
    (auth.py) when one is set."""
    check_http_settings(settings)
    rules = None
    if settings.auth_issuer is not None:  # PyJWT and cryptography load only for a server with sign-in
        from . import auth

        rules = auth.policy(settings, server.read_only_tools())
    server.auth = rules
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
        app = Hosting(app, server)
    else:
        app = server.streamable_http_app(
            max_request_body_size=body_limit,
            transport_security=security,
            host=settings.host,
            max_sessions=settings.max_sessions,  # the SDK's refusal backs up SessionBudget's
        )
        app = SessionBudget(app, settings.max_sessions)
        if settings.replica_id is not None:
            # Outside the budget, which keys sessions by the ids the SDK knows (unprefixed).
            app = SessionAffinity(app, settings.replica_id)
    if rules is not None and rules.over_http:
        from .auth import ToolScopes

        app = ToolScopes(app, rules)
    app = BodyLimit(app, body_limit)
    if settings.auth_token is not None:
        app = BearerToken(app, settings.auth_token.get_secret_value())
    if rules is not None:
        from .auth import OAuthGate, Verifier

        app = OAuthGate(app, Verifier(rules), public=[HEALTH_PATH])
    return app


class Hosting:
    """The app's lifespan holds the server's state for the process (the SSE app's SDK code enters the
    server's lifespan once per connection, which would otherwise close it when any client leaves)."""

    def __init__(self, app: ASGIApp, server: GLMServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        async with hosting(self.server):
            await self.app(scope, receive, send)


def check_http_settings(settings: Settings) -> None:
    """Refuse a bind that would expose the server without protection; warn of a replica whose media
    the others could not serve, or that a proxy would expose without protection."""
    if settings.replica_id is not None and settings.database_url and settings.output_dir is None:
        log.warning(
            "GLM_REPLICA_ID and GLM_DATABASE_URL are set but GLM_OUTPUT_DIR is not: media this replica "
            "saves go to %s, which other replicas sharing the database cannot read; set GLM_OUTPUT_DIR to "
            "a directory all of them share",
            settings.media_dir,
        )
    if settings.replica_id is not None and settings.auth_token is None and settings.auth_issuer is None:
        log.warning(
            "GLM_REPLICA_ID is set, so this replica is meant to sit behind a proxy, but neither "
            "GLM_MCP_AUTH_TOKEN nor GLM_AUTH_ISSUER is: whoever reaches the proxy can use this server "
            "and its GLM key"
        )
    if settings.is_loopback:
        return
    if settings.auth_token is None and settings.auth_issuer is None:
        raise ConfigError(
            f"refusing to listen on {settings.host} without a bearer token or sign-in: set "
            "GLM_MCP_AUTH_TOKEN (or --auth-token) or GLM_AUTH_ISSUER, or listen on 127.0.0.1"
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
        await json_rpc_error(send, 413, -32600, message)


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
            await json_rpc_error(
                send, 401, -32001, message, [(b"www-authenticate", b'Bearer realm="mcp-server-glm"')]
            )
        elif kind == "websocket":
            # Closed before the handshake is accepted: the server answers the upgrade with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": "Unauthorized"})

    def _authorized(self, scope: Scope) -> bool:
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        return hmac.compare_digest(given, self._expected)


async def _serve_http(app: ASGIApp, settings: Settings, sockets: list[socket.socket]) -> None:
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
        CancelledAtShutdown(app),
        host=settings.host,
        port=settings.port,
        http=GuardedH11Protocol.under(guard),
        backlog=BACKLOG,
        ws="none",  # neither transport speaks WebSocket: an upgrade request is answered as plain HTTP
        log_config=None,  # our logging: stderr, our format
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",  # a line per request only when debugging
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )
    server = Server(config)
    path = "/sse" if settings.transport == "sse" else "/mcp"
    # The bound address, not the asked one: with --port 0 the system picks the port.
    host, port = sockets[0].getsockname()[:2]
    log.info(
        "mcp-server-glm %s serving %s at http://%s:%d%s, API %s",
        __version__,
        settings.transport,
        _url_host(host),
        port,
        path,
        settings.api_base_url,
    )
    logging.getLogger("uvicorn.error").addFilter(_shutdown_cancel_line)
    async with anyio.create_task_group() as group:
        await group.start(_exit_on_signal, server)
        await server.serve(sockets=sockets)
        group.cancel_scope.cancel()


class CancelledAtShutdown:
    """ASGI middleware: a request still running when the shutdown grace ends is cancelled by uvicorn;
    it ends here with a JSON-RPC error (or its stream closed) instead of a traceback and a plain 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            # Only uvicorn's shutdown cancels a request task from outside (a client that goes away is
            # told by http.disconnect), and nothing awaits the task: ending it normally is safe.
            message = "The server is shutting down: the call was cancelled; retry once it is back"
            with contextlib.suppress(Exception):
                if started:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                else:
                    await json_rpc_error(send, 503, -32000, message, [(b"connection", b"close")])


def _shutdown_cancel_line(record: logging.LogRecord) -> bool:
    """uvicorn's line when the grace ends with requests running, said as what it means to the operator."""
    if record.msg == "Cancel %s running task(s), timeout graceful shutdown exceeded":
        record.msg = "Stopping: cancelled %s request(s) still running after the %d s shutdown grace"
        record.args = (*(record.args or ()), SHUTDOWN_GRACE)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


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
