"""The assembly of a chat answer: a server-sent event stream, or a whole JSON answer read as one chunk,
absorbed into a ChatCompletion, and the verdict on an answer that ended or broke off.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx2

from ..errors import BrokeAfterReasoning, ConnectionFailed, ContentFiltered, StreamBroken
from .errors import HINTS, envelope_error, read_json
from .models import ChatCompletion, SearchItem, Usage, parse
from .redact import Redactor

OnDelta = Callable[[ChatCompletion], Awaitable[None]]

DRAIN_SECONDS = 2.0


async def read_answer(
    response: httpx2.Response,
    completion: ChatCompletion,
    request_id: str,
    redact: Redactor,
    endpoint: str,
    on_delta: OnDelta | None,
) -> None:
    """Read a successful chat response into `completion`, calling `on_delta` as text arrives. A platform
    (or proxy) that answers a stream request with plain JSON is tolerated: its answer is one chunk."""
    if not _is_event_stream(response):
        await response.aread()
        answer = read_json(response, request_id, redact, endpoint)
        absorb(answer, completion, response.status_code, request_id, redact, endpoint)
        return
    events = httpx2.EventSource(response).__aiter__()
    async for event in events:
        if event.data.strip() == "[DONE]":
            await _drain(events)
            break
        chunk = redact.scrub(_event_json(event.data))
        if chunk is None:
            completion.interruption = "the API sent an event that is not JSON"
            break
        before = completion.received
        absorb(chunk, completion, response.status_code, request_id, redact, endpoint)
        if on_delta is not None and completion.received > before:
            await on_delta(completion)


def absorb(
    chunk: dict[str, Any],
    completion: ChatCompletion,
    status: int,
    request_id: str,
    redact: Redactor,
    endpoint: str,
) -> None:
    """Add one chunk (scrubbed) to `completion`. A streamed chunk's choices carry a `delta`, a whole
    answer's a `message`, with the same fields: content and reasoning_content, as text or text parts."""
    if isinstance(chunk.get("error"), dict):
        raise envelope_error(status, chunk, request_id, redact, endpoint, retry_after=None)
    _read_header(chunk, completion)
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        part = choice.get("delta") or choice.get("message")
        if isinstance(part, dict):
            completion.add(content=_text(part.get("content")), reasoning=_text(part.get("reasoning_content")))
        if choice.get("finish_reason"):
            completion.finish_reason = str(choice["finish_reason"])


def broken_off(completion: ChatCompletion, failure: ConnectionFailed) -> StreamBroken | None:
    """The error to raise when the connection broke mid-answer with nothing usable received, else None
    with `completion` marked as cut short."""
    if completion.received == 0:
        return StreamBroken(f"The stream broke before any content arrived: {failure}")
    completion.interruption = f"the connection broke mid-answer ({failure})"
    if not completion.content:
        return BrokeAfterReasoning(_after_reasoning(completion))
    return None


def finish(completion: ChatCompletion, redact: Redactor) -> ChatCompletion:
    """The answer as read to its end: redacted whole, marked incomplete where it is, or the failure it
    amounts to (filtered, nothing received, only reasoning received)."""
    completion.redact(redact)  # the text as a whole: a key may arrive split across chunks
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


def _after_reasoning(completion: ChatCompletion) -> str:
    return (
        f"The answer broke off while the model was still reasoning, before any answer text "
        f"({completion.interruption}): ask again, or turn thinking off for a shorter call"
    )


def _read_header(data: dict[str, Any], completion: ChatCompletion) -> None:
    """The fields of a chat chunk or response besides its choices. Only strings are taken as names
    (any other model keeps the one requested); usage and sources are checked (see `parse`)."""
    for name in ("id", "model", "request_id"):
        value = data.get(name)
        if isinstance(value, str) and value:
            setattr(completion, name, value)
    if isinstance(data.get("usage"), dict):
        completion.usage = parse(Usage, data["usage"], completion.request_id, "a chat usage")
    if isinstance(data.get("web_search"), list):
        completion.web_search = [
            parse(SearchItem, item, completion.request_id, "a chat source")
            for item in data["web_search"]
            if isinstance(item, dict)
        ]


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


async def _drain(events: AsyncIterator[object]) -> None:
    """Read what follows [DONE] (normally just the end of the body), so the connection goes back to the
    pool instead of being closed; a server that keeps it open is not waited for long."""
    with anyio.move_on_after(DRAIN_SECONDS):
        async for _ in events:
            pass


def _is_event_stream(response: httpx2.Response) -> bool:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower() == "text/event-stream"


def _event_json(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
