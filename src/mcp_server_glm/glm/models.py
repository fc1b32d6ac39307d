"""Request and response shapes of the GLM API, as the adapter sends and reads them.

Requests are strict (only documented fields, nothing null on the wire); responses are read tolerantly,
since the platform adds fields and omits others between models and regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..errors import BadResponse


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    def body(self) -> dict[str, Any]:
        """The JSON body to send: unset fields are left out, never sent as null."""
        return self.model_dump(exclude_none=True, by_alias=True)


Recency = Literal["oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"]


class WebSearchOptions(RequestBody):
    """The chat's built-in web_search tool (sent inside `tools`), fields of Z.AI's WebSearchObject:
    `search_engine` is required (search_pro_jina on Z.AI, BigModel's engines there)."""

    enable: bool = True
    search_engine: str
    search_result: bool = True
    count: int | None = Field(default=None, ge=1, le=50)
    search_recency_filter: Recency | None = None

    def as_tool(self) -> dict[str, Any]:
        return {"type": "web_search", "web_search": self.body()}


class ChatRequest(RequestBody):
    """POST /chat/completions."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = True
    thinking: dict[str, str] | None = None
    reasoning_effort: str | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, str] | None = None
    tools: list[dict[str, Any]] | None = None
    request_id: str | None = None


# -- reading responses: tolerant of what upstream adds, omits or mistypes -------------------------

# The most units one call is counted for: far above any real call, and low enough that millions of
# such rows still sum inside SQLite's 64-bit integers.
MAX_COUNT = 10**12


def _count(value: object) -> object:
    """A count as upstream may send it (an int, a whole or fractional float, a numeric string, null),
    clamped to 0..MAX_COUNT; anything else is left for validation to refuse."""
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, 0), MAX_COUNT)
    return value


def _name(value: object) -> object:
    """A model name or id upstream gave: a string, or nothing (the one requested is kept)."""
    return value if isinstance(value, str) and value else None


def _ident(value: object) -> object:
    """An id upstream gave: a string (a number becomes one), or nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _name(value)


def _blank(value: object) -> object:
    return "" if value is None else value


Count = Annotated[int, BeforeValidator(_count)]


class Usage(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    total_tokens: Count = 0


class SearchItem(BaseModel):
    """One web result, the same shape in chat (`web_search`) and in the Web Search API (`search_result`)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    title: str = ""
    content: str = ""
    link: str = ""
    media: str | None = None
    icon: str | None = None
    refer: str | None = None
    publish_date: str | None = None

    _null_is_empty = field_validator("title", "content", "link", mode="before")(_blank)


FinishReason = str
# "stop", "length", "tool_calls", "sensitive", "network_error", "model_context_window_exceeded", and
# "incomplete" when the stream ended without any finish_reason (the connection broke, or no [DONE]).


@dataclass(slots=True)
class ChatCompletion:
    """A chat answer assembled from the stream (or read whole), complete or cut short.

    Text arrives in many small pieces: they are kept in lists and joined when read, so a long answer
    costs linear time to assemble."""

    model: str
    id: str | None = None
    request_id: str | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    web_search: list[SearchItem] = field(default_factory=list)
    # Why the answer is incomplete when it is: a transport failure text, "network_error", ...
    interruption: str | None = None
    received: int = 0  # characters received so far (reasoning and answer), for progress reporting
    _content: list[str] = field(default_factory=list)
    _reasoning: list[str] = field(default_factory=list)

    def redact(self, redact: Callable[[str], str]) -> None:
        """Pass every text of the answer through `redact`, whole (a secret may span pieces)."""
        self._content = [redact(self.content)] if self._content else []
        self._reasoning = [redact(self.reasoning)] if self._reasoning else []
        self.model = redact(self.model)
        for name in ("id", "request_id", "finish_reason", "interruption"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, redact(value))

    def add(self, *, content: str = "", reasoning: str = "") -> None:
        if content:
            self._content.append(content)
        if reasoning:
            self._reasoning.append(reasoning)
        self.received += len(content) + len(reasoning)

    @property
    def content(self) -> str:
        return "".join(self._content)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def complete(self) -> bool:
        return self.interruption is None


class WebSearchRequest(RequestBody):
    """POST /web_search. Z.AI defines search_engine, search_query, count, search_domain_filter,
    search_recency_filter, request_id and user_id; BigModel adds content_size and search_intent (listed
    as required). Fields a platform does not define stay None, so they are not sent."""

    search_query: str
    search_engine: str
    search_intent: bool | None = None
    count: int | None = None
    search_domain_filter: str | None = None
    search_recency_filter: Recency | None = None
    content_size: Literal["medium", "high"] | None = None
    request_id: str | None = None


class SearchIntent(BaseModel):
    """How BigModel's intent recognition read the query (`search_intent` in its answer)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    query: str = ""
    intent: str = ""
    keywords: str = ""


class WebSearchResponse(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str | None = None
    request_id: str | None = None
    search_intent: list[SearchIntent] = Field(default_factory=list)
    search_result: list[SearchItem] = Field(default_factory=list)

    _ids = field_validator("id", "request_id", mode="before")(_ident)

    @field_validator("search_result", "search_intent", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        if isinstance(value, dict):  # a single object where the wire normally has a list
            return [value]
        return [] if value is None else value


class ImageRequest(RequestBody):
    """POST /images/generations (synchronous). The route defines no `request_id`: none is sent."""

    model: str
    prompt: str
    size: str | None = None
    quality: Literal["hd", "standard"] | None = None


class AsyncImageRequest(RequestBody):
    """POST /async/images/generations (glm-image only, `hd` only): creates an async task polled like a
    video's. No `request_id` either."""

    model: str
    prompt: str
    size: str | None = None
    quality: Literal["hd"] | None = None


class MediaURL(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    url: str = ""
    cover_image_url: str | None = None

    _null_is_empty = field_validator("url", mode="before")(_blank)


class ImageResponse(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    created: int | None = None
    data: list[MediaURL] = Field(default_factory=list)


class VideoRequest(RequestBody):
    """POST /videos/generations: creates an async task. `image_url` is one image or a list of them (the
    array form for cogvideox-3, Vidu's start-end and reference models), each an http(s) URL or a full
    data URL."""

    model: str
    prompt: str | None = None
    image_url: str | list[str] | None = None
    quality: Literal["speed", "quality"] | None = None
    with_audio: bool | None = None
    size: str | None = None
    fps: int | None = None
    duration: int | None = None
    # Vidu only (BigModel): viduq1-text's style; viduq1-text's and vidu2-reference's aspect_ratio; every
    # Vidu model's movement_amplitude.
    style: Literal["general", "anime"] | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    movement_amplitude: Literal["auto", "small", "medium", "large"] | None = None
    request_id: str | None = None


TaskStatus = Literal["PROCESSING", "SUCCESS", "FAIL"]


class TaskError(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    code: str | None = None
    message: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_text(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) else None

    @field_validator("message", mode="before")
    @classmethod
    def _message_as_text(cls, value: object) -> object:
        return value if isinstance(value, str) else None


class TaskResult(BaseModel):
    """An async job as GET /async-result/{id} reports it (also the create response)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str | None = None
    request_id: str | None = None
    model: str | None = None
    task_status: TaskStatus
    video_result: list[MediaURL] = Field(default_factory=list)
    image_result: list[MediaURL] = Field(default_factory=list)
    error: TaskError | None = None

    _names = field_validator("model", mode="before")(_name)
    _ids = field_validator("id", "request_id", mode="before")(_ident)

    @field_validator("task_status", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("video_result", "image_result", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value


class Transcription(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str | None = None
    request_id: str | None = None
    model: str | None = None
    text: str = ""

    _names = field_validator("model", mode="before")(_name)
    _ids = field_validator("id", "request_id", mode="before")(_ident)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: object, request_id: str | None, what: str | None = None) -> M:
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
