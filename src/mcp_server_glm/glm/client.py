"""The async GLM API client: one pooled HTTP connection pool, bearer auth, retries, SSE, error mapping.
Chat goes to the client's base URL (a GLM Coding Plan endpoint, maybe); every other route to the general one.

Retries are decided by business code (see errors.py), bounded by a count and by a deadline, and a
request that may already have reached the API is re-sent only when the caller says it is safe.
"""

from __future__ import annotations

import contextvars
import email.utils
import itertools
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import anyio
import httpx2
from pydantic import BaseModel, ValidationError

from ..errors import (
    APIError,
    AuthenticationFailed,
    BadResponse,
    BrokeAfterReasoning,
    ConnectionFailed,
    ContentFiltered,
    GLMError,
    QuotaExhausted,
    RateLimited,
    StreamBroken,
    one_line,
)
from .body import JSONBody
from .errors import HINTS, classify
from .models import (
    AsyncImageRequest,
    ChatCompletion,
    ChatRequest,
    ImageRequest,
    ImageResponse,
    RequestBody,
    SearchItem,
    TaskResult,
    Transcription,
    Usage,
    VideoRequest,
    WebSearchRequest,
    WebSearchResponse,
)
from .multipart import FilePart, MultipartBody
from .proxies import proxy_for
from .redact import Redactor

log = logging.getLogger(__name__)

OnRetry = Callable[[GLMError, float], Awaitable[None]]  # (the error, seconds until the retry)
# Who is told of retries in the current context (a tool call sets it; unset: nobody).
ON_RETRY: contextvars.ContextVar[OnRetry | None] = contextvars.ContextVar("on_retry", default=None)
RETRY_NOTICE_EVERY = 4.0  # seconds between two notices while a retry is waited for

T = TypeVar("T")
OnDelta = Callable[[ChatCompletion], Awaitable[None]]

MAX_BACKOFF = 30.0
DRAIN_SECONDS = 2.0
# Routes sent to the chat base URL; the GLM Coding Plan's endpoint serves nothing else.
CHAT_ROUTES = frozenset({"chat/completions"})
# What a route does, for a refusal that names it.
ROUTE_NAMES = {
    "web_search": "web search",
    "images/generations": "image generation",
    "async/images/generations": "image generation",
    "videos/generations": "video generation",
    "async-result": "reading job results",
    "audio/transcriptions": "transcription",
    "audio/speech": "speech",
}


def new_request_id() -> str:
    """A fresh id for one attempt: the platform refuses a request id it has already seen (1231)."""
    return f"mcp-{uuid.uuid4().hex}"


class GLMClient:
    """A client of one GLM platform, to be used as an async context manager: chat goes to `base_url`,
    every other route to `general_url` (the same unless `base_url` is a GLM Coding Plan endpoint)."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        general_url: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        deadline: float = 300.0,
        retry_backoff: float = 1.0,
        user_agent: str = "mcp-server-glm",
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required")
        if not (api_key.isascii() and api_key.isprintable()) or api_key != api_key.strip():
            raise ValueError("the API key has whitespace, a control character or a non-ASCII character")
        self.base_url = base_url.rstrip("/")
        self.general_url = (general_url or base_url).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = deadline
        self.retry_backoff = retry_backoff
        # Everything read from the API passes through it: messages, codes, models, content, URLs.
        self._redact = Redactor(api_key)
        # The proxy the environment names for the API (HTTPS_PROXY, NO_PROXY...): httpx uses it
        # (trust_env), messages name it. A given transport (tests) replaces the network, proxies too.
        self._proxy = proxy_for(self.base_url) if transport is None else None
        # 100 requests at once; 20 idle connections kept, as httpx does: the pool checks every idle
        # connection on each request, so keeping more costs more than reconnecting saves.
        options: dict[str, Any] = {
            "base_url": self.base_url + "/",
            "headers": {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent},
            "timeout": httpx2.Timeout(timeout, connect=connect_timeout),
            "limits": httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30),
            "follow_redirects": False,
        }
        try:
            self._http = httpx2.AsyncClient(**options, transport=transport, trust_env=True)
        except (ValueError, ImportError) as exc:
            # A proxy variable httpx cannot use (an unknown scheme, SOCKS without socksio): every call
            # fails with that in one line, rather than the server failing to build its client.
            unusable = (
                f"a proxy set in the environment cannot be used ({one_line(str(exc))}): correct or unset "
                "HTTPS_PROXY, HTTP_PROXY and ALL_PROXY"
            )
            self._http = httpx2.AsyncClient(**options, transport=_Failing(unusable), trust_env=False)

    def __repr__(self) -> str:
        if self.general_url == self.base_url:
            return f"GLMClient({self.base_url!r})"
        return f"GLMClient({self.base_url!r}, general_url={self.general_url!r})"

    @property
    def coding_plan(self) -> bool:
        """Whether chat goes to another endpoint than the rest (a GLM Coding Plan's)."""
        return self.general_url != self.base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- endpoints -------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, on_delta: OnDelta | None = None) -> ChatCompletion:
        """Stream a chat completion, calling `on_delta` as text arrives.

        Returns the answer, complete or (when the stream broke after content arrived) marked with
        `interruption`. Raises ContentFiltered when the filter stopped it, and any other GLMError
        when the call failed before content arrived.
        """

        broken_after_reasoning = 0

        async def attempt(request_id: str) -> ChatCompletion:
            nonlocal broken_after_reasoning
            body = request.model_copy(update={"request_id": request_id, "stream": True}).body()
            try:
                return await self._stream_chat(body, request_id, on_delta)
            except BrokeAfterReasoning as error:
                # The model thought and then the stream broke: a long think may break again, and each
                # attempt is billed for its reasoning, so it is tried once more, not max_retries times.
                broken_after_reasoning += 1
                error.retryable = broken_after_reasoning < 2
                raise

        return await self._with_retries(attempt, resend=True)

    async def web_search(self, request: WebSearchRequest) -> WebSearchResponse:
        """Search the web through the standalone Web Search API."""
        return await self._post_model("web_search", request, WebSearchResponse, resend=True)

    async def generate_image(self, request: ImageRequest) -> ImageResponse:
        """Generate an image synchronously. Paid: never re-sent once it may have reached the API."""

        async def attempt(request_id: str) -> ImageResponse:
            # The route has no request_id field: the id only names the attempt in errors and logs.
            data = await self._send("POST", "images/generations", request_id, json=request.body())
            return _parse(ImageResponse, data, request_id)

        response = await self._with_retries(attempt, resend=False)
        if not response.data or not response.data[0].url:
            raise BadResponse("GLM API returned an image result without a URL", status=200)
        return response

    async def submit_image(self, request: AsyncImageRequest) -> TaskResult:
        """Create an async image task (glm-image). Paid: never re-sent once it may have reached the API."""

        async def attempt(request_id: str) -> TaskResult:
            data = await self._send("POST", "async/images/generations", request_id, json=request.body())
            return _parse(TaskResult, data, request_id)

        task = await self._with_retries(attempt, resend=False)
        if not task.id:
            raise BadResponse("GLM API created an image task without an id", status=200)
        return task

    async def submit_video(self, request: VideoRequest) -> TaskResult:
        """Create a video generation task. Paid: never re-sent once it may have reached the API."""
        task = await self._post_model("videos/generations", request, TaskResult, resend=False)
        if not task.id:
            raise BadResponse("GLM API created a video task without an id", status=200)
        return task

    async def task_result(self, task_id: str) -> TaskResult:
        """The state of an async job (video, image or chat); safe to repeat."""

        async def attempt(request_id: str) -> TaskResult:
            # A failed task's `error` field is data here, not an error envelope.
            path = f"async-result/{quote(task_id, safe='')}"
            data = await self._send("GET", path, request_id, error_key_fails=False)
            if "task_status" not in data and isinstance(data.get("error"), dict):
                raise self._envelope_error(200, data, request_id, retry_after=None)
            return _parse(TaskResult, data, request_id)

        return await self._with_retries(attempt, resend=True)

    async def transcribe(
        self, audio: FilePart, *, model: str, prompt: str | None, hotwords: list[str]
    ) -> Transcription:
        """Speech to text of one request-sized piece of audio (wav/mp3, at most 25 MB and 30 s), streamed
        from disk as it is sent; each attempt sends it again from its start."""
        # Hotwords go as repeated `hotwords` fields: how the API wants an array in a form is undocumented.
        fields = [("model", model), ("stream", "false")]
        if prompt:
            fields.append(("prompt", prompt))
        fields += [("hotwords", word) for word in hotwords]

        async def attempt(request_id: str) -> Transcription:
            body = MultipartBody([*fields, ("request_id", request_id)], "file", audio)
            data = await self._send(
                "POST", "audio/transcriptions", request_id, content=body, headers=body.headers
            )
            return _parse(Transcription, data, request_id)

        return await self._with_retries(attempt, resend=True)

    # -- retries ---------------------------------------------------------------------------------

    async def _with_retries(
        self, attempt: Callable[[str], Awaitable[T]], *, resend: bool, on_retry: OnRetry | None = None
    ) -> T:
        """Run `attempt` until it succeeds or may not be retried. While waiting to retry, `on_retry`
        (else the one ON_RETRY holds in this context) is told the error and the seconds left, at least
        every RETRY_NOTICE_EVERY seconds."""
        on_retry = on_retry or ON_RETRY.get()
        started = anyio.current_time()
        for number in itertools.count(1):
            try:
                return await attempt(new_request_id())
            except GLMError as error:
                delay = self._retry_delay(error, number, resend)
                if delay is None and not resend and isinstance(error, ConnectionFailed) and error.reached:
                    error.args = (f"{error.args[0]} (not re-sent: the API may have accepted it already)",)
                if delay is None:
                    if number > 1:
                        error.args = (f"{error.args[0]} (gave up after {number} attempts)",)
                    raise
                remaining = self.deadline - (anyio.current_time() - started)
                if delay > remaining:
                    error.args = (
                        f"{error.args[0]} (gave up after {number} attempts: the next retry, in "
                        f"{delay:.0f} s, would pass the {self.deadline:.0f} s deadline)",
                    )
                    raise
                log.warning(
                    "GLM call failed (%s); retry %d of %d in %.2f s", error, number, self.max_retries, delay
                )
                if on_retry is None:
                    await anyio.sleep(delay)
                    continue
                resume = anyio.current_time() + delay
                while (left := resume - anyio.current_time()) > 0:
                    await on_retry(error, left)
                    await anyio.sleep(min(left, RETRY_NOTICE_EVERY))
        raise AssertionError("unreachable")

    def _retry_delay(self, error: GLMError, number: int, resend: bool) -> float | None:
        """Seconds to wait before retrying after attempt `number`, or None not to retry."""
        if number > self.max_retries or not error.retryable:
            return None
        if not resend and not _never_started(error):
            return None
        if isinstance(error, APIError) and error.retry_after is not None:
            return error.retry_after
        backoff = self.retry_backoff * 2 ** (number - 1)
        return float(min(MAX_BACKOFF, backoff * random.uniform(0.75, 1.0)))  # noqa: S311 - jitter, not crypto

    # -- HTTP ------------------------------------------------------------------------------------

    async def _post_model(self, path: str, request: RequestBody, answer: type[M], *, resend: bool) -> M:
        """POST a JSON request (with a fresh request id per attempt) and read the answer as `answer`."""

        async def attempt(request_id: str) -> M:
            body = request.model_copy(update={"request_id": request_id}).body()
            return _parse(answer, await self._send("POST", path, request_id, json=body), request_id)

        return await self._with_retries(attempt, resend=resend)

    async def _send(
        self, method: str, path: str, request_id: str, *, error_key_fails: bool = True, **options: Any
    ) -> dict[str, Any]:
        """One HTTP exchange whose answer is a JSON object; every failure becomes a GLMError."""
        try:
            response = await self._http.request(method, self._url(path), **options)
        except httpx2.TransportError as exc:
            raise self._connection_failed(exc, request_id) from exc
        try:
            if response.is_error:
                raise self._api_error(response, request_id)
            return self._json(response, request_id, error_key_fails=error_key_fails)
        except APIError as error:
            raise self._on_general_route(error, path) from None

    def _url(self, path: str) -> str:
        """Chat stays relative to the HTTP client's base (the chat endpoint); the rest is absolute."""
        return path if path in CHAT_ROUTES else f"{self.general_url}/{path}"

    def _on_general_route(self, error: APIError, path: str) -> APIError:
        """An error of a route sent to the general endpoint, with the hint that fits there."""
        if path in CHAT_ROUTES or not self.coding_plan:
            return error
        hint = None
        if isinstance(error, QuotaExhausted) and error.code == "1113":
            what = ROUTE_NAMES.get(path, ROUTE_NAMES.get(path.partition("/")[0], path))
            hint = (
                f"the GLM Coding Plan covers chat only, not {what}: that goes to the general endpoint "
                f"({self.general_url}) and needs account balance, which this account lacks: top it up "
                "in the platform console to use this tool"
            )
        elif isinstance(error, AuthenticationFailed):
            hint = (
                f"the API key was refused by the general endpoint {self.general_url}, which every tool "
                "but chat uses (also on the GLM Coding Plan): check that the key belongs to this platform"
            )
        if hint is None:
            return error
        return type(error)(
            status=error.status,
            code=error.code,
            message=error.api_message,
            request_id=error.request_id,
            retry_after=error.retry_after,
            hint=hint,
        )

    async def _stream_chat(
        self, body: dict[str, Any], request_id: str, on_delta: OnDelta | None
    ) -> ChatCompletion:
        completion = ChatCompletion(model=str(body["model"]), request_id=request_id)
        answered = False
        try:
            sent = JSONBody(body)  # inline images go out from the strings that hold them, not a copy
            headers = {
                "Accept": "text/event-stream",
                "Content-Type": "application/json",
                "Content-Length": str(sent.length),
            }
            async with self._http.stream(
                "POST", "chat/completions", content=sent, headers=headers
            ) as response:
                answered = True
                if response.is_error:
                    await response.aread()
                    raise self._api_error(response, request_id)
                if not _is_event_stream(response):
                    # Tolerate a platform (or proxy) that answers a stream request with plain JSON.
                    await response.aread()
                    return self._finish(_completion_from_json(self._json(response, request_id), completion))
                events = httpx2.EventSource(response).__aiter__()
                async for event in events:
                    if event.data.strip() == "[DONE]":
                        await _drain(events)
                        break
                    chunk = self._redact.scrub(_event_json(event.data))
                    if chunk is None:
                        completion.interruption = "the API sent an event that is not JSON"
                        break
                    before = completion.received
                    self._apply_chunk(chunk, completion, response.status_code, request_id)
                    if on_delta is not None and completion.received > before:
                        await on_delta(completion)
        except httpx2.TransportError as exc:
            failure = self._connection_failed(exc, request_id)
            if not answered:
                raise failure from exc
            if completion.received == 0:
                raise StreamBroken(f"The stream broke before any content arrived: {failure}") from exc
            completion.interruption = f"the connection broke mid-answer ({failure})"
            if not completion.content:
                raise BrokeAfterReasoning(_after_reasoning(completion)) from exc
        return self._finish(completion)

    def _finish(self, completion: ChatCompletion) -> ChatCompletion:
        completion.redact(self._redact)  # the text as a whole: a key may arrive split across chunks
        if completion.finish_reason == "sensitive":
            raise ContentFiltered(
                status=200,
                code="1301",
                message="the answer was stopped by the content filter (finish_reason sensitive)",
                request_id=completion.request_id,
                hint=HINTS["1301"],
            )
        if completion.finish_reason == "network_error" and completion.interruption is None:
            completion.interruption = (
                "the platform reported a network error mid-answer (finish_reason network_error)"
            )
        if completion.finish_reason is None and completion.interruption is None:
            completion.interruption = "the stream ended without a finish_reason"
        if completion.interruption is not None and completion.received == 0:
            raise StreamBroken(f"GLM API stream ended with no content: {completion.interruption}")
        if completion.interruption is not None and not completion.content:
            raise BrokeAfterReasoning(_after_reasoning(completion))
        return completion

    def _apply_chunk(
        self, chunk: dict[str, Any], completion: ChatCompletion, status: int, request_id: str
    ) -> None:
        if isinstance(chunk.get("error"), dict):
            raise self._envelope_error(status, chunk, request_id, retry_after=None)
        _read_header(chunk, completion)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                completion.add(
                    content=_text(delta.get("content")), reasoning=_text(delta.get("reasoning_content"))
                )
            if choice.get("finish_reason"):
                completion.finish_reason = str(choice["finish_reason"])

    # -- errors ----------------------------------------------------------------------------------

    def _json(
        self, response: httpx2.Response, request_id: str, *, error_key_fails: bool = True
    ) -> dict[str, Any]:
        status = response.status_code
        if not response.content:
            raise BadResponse(
                f"GLM API returned an empty body (HTTP {status})", status=status, request_id=request_id
            )
        try:
            data = self._redact.scrub(response.json())
        except ValueError:
            raise BadResponse(
                f"GLM API returned a body that is not JSON (HTTP {status}, {_describe_body(response)})",
                status=status,
                request_id=request_id,
            ) from None
        if not isinstance(data, dict):
            raise BadResponse(
                f"GLM API returned JSON that is not an object (HTTP {status})",
                status=status,
                request_id=request_id,
            )
        if error_key_fails and isinstance(data.get("error"), dict):
            # Some failures arrive with HTTP 200 and an error envelope (a failed task's `error` is data).
            raise self._envelope_error(status, data, request_id, retry_after=None)
        return data

    def _api_error(self, response: httpx2.Response, request_id: str) -> GLMError:
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        try:
            data = self._redact.scrub(response.json())
        except ValueError:
            data = None
        if isinstance(data, dict) and (isinstance(data.get("error"), dict) or "code" in data):
            return self._envelope_error(response.status_code, data, request_id, retry_after=retry_after)
        error_type = classify(response.status_code, None)
        return error_type(
            status=response.status_code,
            code=None,
            message=f"the API answered with {_describe_body(response)} instead of an error envelope",
            request_id=request_id,
            retry_after=retry_after,
        )

    def _envelope_error(
        self, status: int, data: dict[str, Any], request_id: str, *, retry_after: float | None
    ) -> APIError:
        # The documented form is {"error": {"code": "1113", "message": ...}}; the OpenAPI spec has the
        # fields at top level, and some codes arrive as numbers.
        envelope = data["error"] if isinstance(data.get("error"), dict) else data
        code = _code(envelope.get("code"))
        message = self._redact(str(envelope.get("message") or ""))
        error_type = classify(status, code)
        hint = HINTS.get(code or "")
        if error_type is AuthenticationFailed:
            hint = (
                f"the API key was refused by {self.base_url}: a key works only on its own platform "
                "(api.z.ai or open.bigmodel.cn) and endpoint (general or Coding Plan)"
            )
        return error_type(
            status=status,
            code=code,
            message=message,
            request_id=request_id,
            retry_after=retry_after,
            hint=hint,
        )

    def _connection_failed(self, exc: httpx2.TransportError, request_id: str) -> ConnectionFailed:
        # A proxy's refusal comes in answer to CONNECT, before the request itself is sent.
        never_sent = httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout | httpx2.ProxyError
        reached = not isinstance(exc, never_sent)
        via = f" through {self._proxy}" if self._proxy is not None else ""
        proxy = str(self._proxy) if self._proxy is not None else "any proxy setting (HTTPS_PROXY)"
        check = f"Check ZAI_BASE_URL, the network and {proxy}, or run `mcp-server-glm doctor`"
        # Only at connect time: TLS errors later (an EOF mid-answer) are dropped connections.
        tls = _tls_failure(exc) if isinstance(exc, httpx2.ConnectError) else None
        if tls is not None:
            failure = ConnectionFailed(
                f"{tls} connecting to {self.base_url}{via}; not retried. {_TLS_ADVICE}",
                request_id=request_id,
                reached=False,
            )
            failure.retryable = False  # a certificate does not fix itself between retries
            return failure
        if isinstance(exc, httpx2.ReadTimeout):
            what = f"no data from the GLM API for {self.timeout:g} s (read timeout)"
        elif isinstance(exc, httpx2.ConnectTimeout):
            what = f"could not connect to {self.base_url}{via} in time (connect timeout). {check}"
        elif isinstance(exc, httpx2.ProxyError):
            what = (
                f"{self._proxy or 'the proxy'} refused the connection to {self.base_url}: "
                f"{self._text(exc)}. Check the proxy and its credentials, or exempt the host in NO_PROXY"
            )
        elif isinstance(exc, httpx2.ConnectError):
            what = f"could not connect to {self.base_url}{via}: {_os_reason(exc) or self._text(exc)}. {check}"
        else:
            what = f"the connection to the GLM API failed: {self._text(exc)}"
        return ConnectionFailed(what, request_id=request_id, reached=reached)

    def _text(self, exc: Exception) -> str:
        return self._redact(str(exc)) or type(exc).__name__


_TLS_ADVICE = (
    "Check that ZAI_BASE_URL names the API's own host and scheme and that the system clock is right; "
    "behind a TLS-inspecting proxy or a private CA, set SSL_CERT_FILE to its CA bundle"
)


def _tls_failure(exc: BaseException) -> str | None:
    """What failed in a TLS handshake ("the TLS certificate was refused (self-signed certificate)"), or
    None when the failure was not TLS."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            reason = seen.verify_message or seen.reason or "not trusted"
            return f"the server's TLS certificate was refused ({reason})"
        if isinstance(seen, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return None  # the peer went away mid-handshake: worth retrying like any dropped connection
        if isinstance(seen, ssl.SSLError):
            return f"the TLS handshake failed ({seen.reason or seen})"
        seen = seen.__cause__ or seen.__context__
    return None


def _os_reason(exc: BaseException) -> str | None:
    """The system's reason under a connect error ("connection refused: nothing listens there"), which
    httpx words as "All connection attempts failed"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused: nothing listens there"
        if isinstance(seen, OSError) and seen.strerror:
            return str(seen.strerror).lower()
        seen = seen.__cause__ or seen.__context__
    return None


class _Failing(httpx2.AsyncBaseTransport):
    """A transport whose every request fails, not retried, with one message (an unusable proxy)."""

    def __init__(self, message: str) -> None:
        self._message = message

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        error = ConnectionFailed(self._message, reached=False)
        error.retryable = False
        raise error


def _never_started(error: GLMError) -> bool:
    """True when the API certainly did no work for the request: safe to re-send even a paid one."""
    return isinstance(error, RateLimited) or (isinstance(error, ConnectionFailed) and not error.reached)


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: object, request_id: str | None, what: str | None = None) -> M:
    """Upstream data read as `model`; a field of the wrong type is a BadResponse naming the field and
    what was expected, never showing the value (which is logged nowhere either)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        raise BadResponse(
            f"GLM API returned {what or 'a ' + model.__name__} of an unexpected shape ({where}: "
            f"{first['msg']})",
            status=200,
            request_id=request_id,
        ) from None


def _code(value: object) -> str | None:
    """A business code as text: a number or a short string; anything else is no code."""
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return one_line(str(value), limit=40)


def _read_header(data: dict[str, Any], completion: ChatCompletion) -> None:
    """The fields of a chat chunk or response besides its choices. Only strings are taken as names
    (any other model keeps the one requested); usage and sources are checked (see `_parse`)."""
    for name in ("id", "model", "request_id"):
        value = data.get(name)
        if isinstance(value, str) and value:
            setattr(completion, name, value)
    if isinstance(data.get("usage"), dict):
        completion.usage = _parse(Usage, data["usage"], completion.request_id, "a chat usage")
    if isinstance(data.get("web_search"), list):
        completion.web_search = _search_items(data["web_search"], completion.request_id)


async def _drain(events: AsyncIterator[object]) -> None:
    """Read what follows [DONE] (normally just the end of the body), so the connection goes back to the
    pool instead of being closed; a server that keeps it open is not waited for long."""
    with anyio.move_on_after(DRAIN_SECONDS):
        async for _ in events:
            pass


def _after_reasoning(completion: ChatCompletion) -> str:
    return (
        f"The answer broke off while the model was still reasoning, before any answer text "
        f"({completion.interruption}): ask again, or turn thinking off for a shorter call"
    )


def _is_event_stream(response: httpx2.Response) -> bool:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower() == "text/event-stream"


def _event_json(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: object) -> str:
    """The text of a `content` or `reasoning_content` field: a string, or (GLM-4V replies, streamed or
    not) a list of `{type: "text", text}` parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part["text"]
            for part in value
            if isinstance(part, dict)
            and part.get("type", "text") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _search_items(items: list[Any], request_id: str | None) -> list[SearchItem]:
    return [_parse(SearchItem, item, request_id, "a chat source") for item in items if isinstance(item, dict)]


def _completion_from_json(data: dict[str, Any], completion: ChatCompletion) -> ChatCompletion:
    """Fill a completion from a non-streamed chat response."""
    _read_header(data, completion)
    choices = data.get("choices") or [None]
    first: dict[str, Any] = choices[0] if isinstance(choices[0], dict) else {}
    message: dict[str, Any] = first["message"] if isinstance(first.get("message"), dict) else {}
    completion.add(content=_text(message.get("content")), reasoning=_text(message.get("reasoning_content")))
    completion.finish_reason = str(first["finish_reason"]) if first.get("finish_reason") else None
    return completion


def _describe_body(response: httpx2.Response) -> str:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip() or "no content type"
    kind = "an HTML page" if "html" in content_type else f"a body of type {content_type}"
    return f"{kind} of {len(response.content)} bytes"


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header, given as seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
