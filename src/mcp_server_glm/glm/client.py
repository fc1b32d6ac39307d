"""The async GLM API client: the endpoints, their retries, and the URL each route goes to (chat to the
base URL, maybe a GLM Coding Plan endpoint; the rest to the general one), over one pooled HTTP client.

Retries are decided by business code (see errors.py), bounded by a count and by a deadline, and a
request that may already have reached the API is re-sent only when the caller says it is safe. A chat
answer is assembled in streaming.py; a response or transport failure becomes an error in errors.py.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import anyio
import httpx2
from pydantic import BaseModel

from ..errors import (
    APIError,
    AuthenticationFailed,
    BadResponse,
    BrokeAfterReasoning,
    ConnectionFailed,
    GLMError,
    QuotaExhausted,
    RateLimited,
    one_line,
)
from .body import JSONBody
from .errors import api_error, connection_failed, envelope_error, read_json
from .models import (
    AsyncImageRequest,
    ChatCompletion,
    ChatRequest,
    ImageRequest,
    ImageResponse,
    RequestBody,
    TaskResult,
    Transcription,
    VideoRequest,
    WebSearchRequest,
    WebSearchResponse,
    parse,
)
from .multipart import FilePart, MultipartBody
from .platform_models import (
    EmbeddingRequest,
    EmbeddingResponse,
    LayoutRequest,
    LayoutResponse,
    PlanQuota,
    ReaderRequest,
    ReaderResponse,
    RerankRequest,
    RerankResponse,
    Speech,
    SpeechRequest,
    TokenCount,
    TokenizerRequest,
    TokenizerResponse,
    Translation,
    TranslationRequest,
)
from .proxies import proxy_for
from .redact import Redactor
from .streaming import OnDelta, broken_off, finish, read_answer

log = logging.getLogger(__name__)

OnRetry = Callable[[GLMError, float], Awaitable[None]]  # (the error, seconds until the retry)
# Who is told of retries in the current context (a tool call sets it; unset: nobody).
ON_RETRY: contextvars.ContextVar[OnRetry | None] = contextvars.ContextVar("on_retry", default=None)
RETRY_NOTICE_EVERY = 4.0  # seconds between two notices while a retry is waited for
MB = 1024 * 1024
# The most audio read into memory from one speech answer (1024 characters of 24 kHz speech is ~2.5 MB),
# and the most of a binary route's error body read.
MAX_AUDIO_BYTES = 32 * MB
MAX_ERROR_BYTES = 1 * MB

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_BACKOFF = 30.0
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
    "reader": "reading web pages",
    "layout_parsing": "document parsing",
    "embeddings": "embeddings",
    "rerank": "reranking",
    "tokenizer": "token counting",
    "v1/agents": "translation",
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
            return parse(ImageResponse, data, request_id)

        response = await self._with_retries(attempt, resend=False)
        if not response.data or not response.data[0].url:
            raise BadResponse("GLM API returned an image result without a URL", status=200)
        return response

    async def submit_image(self, request: AsyncImageRequest) -> TaskResult:
        """Create an async image task (glm-image). Paid: never re-sent once it may have reached the API."""

        async def attempt(request_id: str) -> TaskResult:
            data = await self._send("POST", "async/images/generations", request_id, json=request.body())
            return parse(TaskResult, data, request_id)

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
                raise envelope_error(200, data, request_id, self._redact, self.base_url, retry_after=None)
            return parse(TaskResult, data, request_id)

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
            return parse(Transcription, data, request_id)

        return await self._with_retries(attempt, resend=True)

    # -- platform tools: reader, GLM-OCR, speech, embeddings, rerank, tokenizer, agents, plan quota --

    async def read_page(self, request: ReaderRequest) -> ReaderResponse:
        """A web page read as markdown or text. Billed per call: never re-sent once it may have reached
        the API. The route defines no request_id; the id only names the attempt."""

        async def attempt(request_id: str) -> ReaderResponse:
            data = await self._send("POST", "reader", request_id, json=request.body())
            return parse(ReaderResponse, data, request_id)

        return await self._with_retries(attempt, resend=False)

    async def parse_layout(self, request: LayoutRequest) -> LayoutResponse:
        """A document's layout and text (GLM-OCR). Paid: never re-sent once it may have reached the API."""
        return await self._post_model("layout_parsing", request, LayoutResponse, resend=False)

    async def speech(self, request: SpeechRequest, *, max_bytes: int = MAX_AUDIO_BYTES) -> Speech:
        """Text to speech (GLM-TTS, BigModel): the audio bytes, at most `max_bytes` of them read. Paid:
        never re-sent once it may have reached the API."""

        async def attempt(request_id: str) -> Speech:
            body = request.model_copy(update={"request_id": request_id}).body()
            audio, content_type = await self._send_binary(
                "audio/speech", request_id, max_bytes, "audio", "ask for a shorter text", json=body
            )
            return Speech(audio=audio, content_type=content_type, request_id=request_id)

        return await self._with_retries(attempt, resend=False)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embedding vectors of one text or a batch. Paid: never re-sent once it may have reached the API.
        The route defines no request_id."""

        async def attempt(request_id: str) -> EmbeddingResponse:
            data = await self._send("POST", "embeddings", request_id, json=request.body())
            return parse(EmbeddingResponse, data, request_id)

        response = await self._with_retries(attempt, resend=False)
        given = 1 if isinstance(request.input, str) else len(request.input)
        if len(response.data) != given:
            raise BadResponse(
                f"GLM API returned {len(response.data)} embeddings for {given} inputs", status=200
            )
        return response

    async def rerank(self, request: RerankRequest) -> RerankResponse:
        """Documents scored against a query, best first. Paid: never re-sent once it may have reached the
        API. The route refuses a request_id: none is sent."""

        async def attempt(request_id: str) -> RerankResponse:
            data = await self._send("POST", "rerank", request_id, json=request.body())
            return parse(RerankResponse, data, request_id)

        return await self._with_retries(attempt, resend=False)

    async def count_tokens(self, request: TokenizerRequest) -> TokenCount:
        """The prompt tokens a chat request would use (text, images, videos). Only counts: safe to repeat."""
        response = await self._post_model("tokenizer", request, TokenizerResponse, resend=True)
        return response.usage

    async def translate(self, request: TranslationRequest) -> Translation:
        """Text through the general_translation agent, posted to the host root's /v1/agents as
        documented. Paid: never re-sent once it may have reached the API."""

        async def attempt(request_id: str) -> Translation:
            data = await self._send_to(
                "POST", "v1/agents", self._root_url("v1/agents"), request_id, json=request.body()
            )
            return parse(Translation, data, request_id, "a translation")

        translation = await self._with_retries(attempt, resend=False)
        if translation.status == "failed":
            raise BadResponse("GLM API reported the translation as failed (status failed)", status=200)
        if not translation.text:
            raise BadResponse("GLM API returned a translation without text", status=200)
        return translation

    async def plan_quota(self) -> PlanQuota | None:
        """The GLM Coding Plan's quota (5-hour token window, monthly tool calls) from the host root's
        undocumented /monitor/usage/quota/limit; None when the query does not exist there (404) or its
        answer cannot be read. Other failures (a refused key, a platform down) raise. Safe to repeat."""
        route = "monitor/usage/quota/limit"

        async def attempt(request_id: str) -> PlanQuota | None:
            try:
                data = await self._send_to(
                    "GET", route, self._root_url(route), request_id, error_key_fails=False
                )
            except BadResponse:
                return None
            except APIError as error:
                if error.status == 404:
                    return None
                raise
            quota = PlanQuota.read(data)
            return quota if quota is not None and (quota.tokens or quota.calls) else None

        return await self._with_retries(attempt, resend=True)

    def _root_url(self, path: str) -> str:
        """A route at the host root (/api/v1/agents, /api/monitor/...): the general URL without its
        /paas/v4 tail, else its origin's /api."""
        base = self.general_url
        if base.endswith("/paas/v4"):
            return f"{base.removesuffix('/paas/v4')}/{path}"
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}/api/{path}"

    async def _send_to(
        self,
        method: str,
        path: str,
        url: str,
        request_id: str,
        *,
        error_key_fails: bool = True,
        **options: Any,
    ) -> dict[str, Any]:
        """`_send` to an absolute URL (`path` names the route in errors)."""
        try:
            response = await self._http.request(method, url, **options)
        except httpx2.TransportError as exc:
            raise self._connection_failed(exc, request_id) from exc
        try:
            if response.is_error:
                raise self._api_error(response, request_id)
            return read_json(
                response, request_id, self._redact, self.base_url, error_key_fails=error_key_fails
            )
        except APIError as error:
            raise self._on_general_route(error, path) from None

    async def _send_binary(
        self, path: str, request_id: str, max_bytes: int, what: str, advice: str, **options: Any
    ) -> tuple[bytes, str]:
        """A POST answered with binary data (`what`: "audio"): its bytes and content type. An error status
        or a JSON answer (an error envelope, even with HTTP 200) maps to the error tree; an answer past
        `max_bytes` is refused (with `advice`) without being read whole."""
        try:
            async with self._http.stream("POST", self._url(path), **options) as response:
                content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
                if response.is_error or content_type == "application/json":
                    body = await self._read_capped(response, MAX_ERROR_BYTES, request_id, "an error body")
                    # The body read is already decoded: the copy drops the headers that describe the wire.
                    wire = {"content-encoding", "content-length", "transfer-encoding"}
                    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in wire]
                    read = httpx2.Response(
                        response.status_code, headers=headers, content=body, request=response.request
                    )
                    if read.is_error:
                        raise self._api_error(read, request_id)
                    read_json(read, request_id, self._redact, self.base_url)
                    raise BadResponse(
                        f"GLM API answered with JSON instead of {what}",
                        status=read.status_code,
                        request_id=request_id,
                    )
                data = await self._read_capped(response, max_bytes, request_id, what, advice)
        except httpx2.DecodingError:
            raise BadResponse(
                "GLM API returned a body that does not decode as its Content-Encoding says",
                status=200,
                request_id=request_id,
            ) from None
        except httpx2.TransportError as exc:
            raise self._connection_failed(exc, request_id) from exc
        except APIError as error:
            raise self._on_general_route(error, path) from None
        if not data:
            raise BadResponse("GLM API returned an empty body (HTTP 200)", status=200, request_id=request_id)
        return data, content_type or "application/octet-stream"

    async def _read_capped(
        self, response: httpx2.Response, max_bytes: int, request_id: str, what: str, advice: str = ""
    ) -> bytes:
        """The body of a streamed response, refused (BadResponse, not retried) past `max_bytes`."""
        declared = response.headers.get("content-length", "")
        most = f"{max_bytes / MB:g} MB" if max_bytes >= MB else f"{max_bytes} bytes"
        too_big = BadResponse(
            f"GLM API returned more than {most} of {what}, the most read into memory"
            + (f": {advice}" if advice else ""),
            status=response.status_code,
            request_id=request_id,
        )
        too_big.retryable = False
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

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
                # How the loop ended goes on the error given up on, whose __str__ adds it to the message
                # (set only then: the error is shown while a retry is waited for too).
                delay = self._retry_delay(error, number, resend)
                if delay is None:
                    error.attempts = number
                    error.held_back = not resend and isinstance(error, ConnectionFailed) and error.reached
                    raise
                if delay > self.deadline - (anyio.current_time() - started):
                    error.attempts, error.deadline = number, (delay, self.deadline)
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
            return parse(answer, await self._send("POST", path, request_id, json=body), request_id)

        return await self._with_retries(attempt, resend=resend)

    async def _send(
        self, method: str, path: str, request_id: str, *, error_key_fails: bool = True, **options: Any
    ) -> dict[str, Any]:
        """One HTTP exchange whose answer is a JSON object; every failure becomes a GLMError."""
        return await self._send_to(
            method, path, self._url(path), request_id, error_key_fails=error_key_fails, **options
        )

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
                await read_answer(response, completion, request_id, self._redact, self.base_url, on_delta)
        except httpx2.TransportError as exc:
            failure = self._connection_failed(exc, request_id)
            if not answered:
                raise failure from exc
            if (error := broken_off(completion, failure)) is not None:
                raise error from exc
        return finish(completion, self._redact)

    # -- errors ----------------------------------------------------------------------------------

    def _api_error(self, response: httpx2.Response, request_id: str) -> APIError:
        return api_error(response, request_id, self._redact, self.base_url)

    def _connection_failed(self, exc: httpx2.TransportError, request_id: str) -> ConnectionFailed:
        return connection_failed(
            exc, request_id, self._redact, self.base_url, proxy=self._proxy, timeout=self.timeout
        )


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
