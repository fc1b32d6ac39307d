"""Request and response shapes of the GLM platform tool routes (reader, GLM-OCR, speech, embeddings,
rerank, tokenizer, translation agent, plan quota): requests send defined fields only, answers are tolerant."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .models import Count, RequestBody, Usage, _blank, _ident, _name


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


# -- POST /reader ----------------------------------------------------------------------------------


class ReaderRequest(RequestBody):
    """POST /reader (both platforms). The route defines no `request_id`: none is sent."""

    url: str
    timeout: int | None = None  # seconds the platform waits for the page (its default 20)
    no_cache: bool | None = None
    return_format: Literal["markdown", "text"] | None = None
    retain_images: bool | None = None
    no_gfm: bool | None = None
    keep_img_data_url: bool | None = None
    with_images_summary: bool | None = None
    with_links_summary: bool | None = None


class ReaderResult(_Answer):
    content: str = ""
    title: str = ""
    description: str = ""
    url: str = ""
    links: dict[str, str] = Field(default_factory=dict)  # link text -> URL (with_links_summary)
    images: dict[str, str] = Field(default_factory=dict)  # alt text or key -> URL (with_images_summary)
    published_time: str | None = Field(default=None, alias="publishedTime")
    metadata: dict[str, Any] = Field(default_factory=dict)

    _null_is_empty = field_validator("content", "title", "description", "url", mode="before")(_blank)

    @field_validator("links", "images", "metadata", mode="before")
    @classmethod
    def _mapping(cls, value: object) -> object:
        """An object keyed by text; in links and images, entries whose URL is not a string are dropped."""
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}

    @field_validator("links", "images", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        if not isinstance(value, dict):
            return {}
        return {str(k): v for k, v in value.items() if isinstance(v, str)}

    @field_validator("published_time", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return value if isinstance(value, str) and value else None


class ReaderResponse(_Answer):
    id: str | None = None
    request_id: str | None = None
    model: str | None = None
    reader_result: ReaderResult

    _names = field_validator("model", mode="before")(_name)
    _ids = field_validator("id", "request_id", mode="before")(_ident)


# -- POST /layout_parsing (GLM-OCR) ----------------------------------------------------------------


class LayoutRequest(RequestBody):
    """POST /layout_parsing. `file` is an http(s) URL or bare base64 of a PDF, JPG or PNG (a data: URL is
    sent as its bare base64, as for chat images); `from_bytes` builds the base64 form."""

    model: str = "glm-ocr"
    file: str
    start_page_id: int | None = Field(default=None, ge=1)
    end_page_id: int | None = Field(default=None, ge=1)
    return_crop_images: bool | None = None
    need_layout_visualization: bool | None = None
    request_id: str | None = None

    @field_validator("file")
    @classmethod
    def _bare_base64(cls, value: str) -> str:
        if value.startswith("data:") and "," in value:
            return value.partition(",")[2]
        return value

    @classmethod
    def from_bytes(cls, data: bytes, **fields: Any) -> LayoutRequest:
        return cls(file=base64.b64encode(data).decode("ascii"), **fields)


class LayoutBlock(_Answer):
    """One region of a page: its kind (text, table, formula, image), box (x1, y1, x2, y2 in 0-1) and
    content (markdown, HTML for tables, LaTeX for formulas)."""

    index: int = 0
    label: str = ""
    bbox_2d: list[float] = Field(default_factory=list)
    content: str = ""
    width: int | None = None
    height: int | None = None

    _null_is_empty = field_validator("label", "content", mode="before")(_blank)


class PageSize(_Answer):
    width: int | None = None
    height: int | None = None


class DataInfo(_Answer):
    num_pages: Count = 0  # pages of the whole document, not only those parsed
    pages: list[PageSize] = Field(default_factory=list)  # the parsed pages


class LayoutResponse(_Answer):
    id: str | None = None
    request_id: str | None = None
    model: str | None = None
    md_results: str = ""
    layout_details: list[list[LayoutBlock]] = Field(default_factory=list)  # one list per parsed page
    layout_visualization: list[str] = Field(default_factory=list)
    data_info: DataInfo = Field(default_factory=DataInfo)
    usage: Usage = Field(default_factory=Usage)

    _names = field_validator("model", mode="before")(_name)
    _ids = field_validator("id", "request_id", mode="before")(_ident)
    _null_is_empty = field_validator("md_results", mode="before")(_blank)

    @field_validator("layout_details", "layout_visualization", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    @field_validator("data_info", "usage", mode="before")
    @classmethod
    def _none_is_default(cls, value: object) -> object:
        return {} if value is None else value


# -- POST /audio/speech (GLM-TTS, BigModel) --------------------------------------------------------


class SpeechRequest(RequestBody):
    """POST /audio/speech, answered with the audio itself (not streamed: `stream` is never sent)."""

    model: str = "glm-tts"
    input: str
    voice: str | None = None
    response_format: Literal["wav", "pcm"] = "wav"
    speed: float | None = Field(default=None, ge=0.5, le=2)
    volume: float | None = Field(default=None, gt=0, le=10)
    watermark_enabled: bool | None = None
    request_id: str | None = None


class Speech(BaseModel):
    """The audio of a speech request: its bytes and the content type the platform gave them."""

    model_config = ConfigDict(defer_build=True)

    audio: bytes
    content_type: str
    request_id: str | None = None


# -- POST /embeddings (BigModel) -------------------------------------------------------------------


class EmbeddingRequest(RequestBody):
    """POST /embeddings. `dimensions` only for embedding-3 (256, 512, 1024, 2048). No `request_id`."""

    model: str = "embedding-3"
    input: str | list[str]
    dimensions: int | None = None


class Embedding(_Answer):
    index: int = 0
    embedding: list[float]


class EmbeddingResponse(_Answer):
    model: str | None = None
    data: list[Embedding] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    _names = field_validator("model", mode="before")(_name)

    @property
    def vectors(self) -> list[list[float]]:
        """The vectors in input order."""
        return [item.embedding for item in sorted(self.data, key=lambda item: item.index)]


# -- POST /rerank (BigModel) -----------------------------------------------------------------------


class RerankRequest(RequestBody):
    """POST /rerank. No `request_id` (the route refuses one)."""

    model: str = "rerank"
    query: str
    documents: list[str]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool | None = None
    return_raw_scores: bool | None = None


class RerankResult(_Answer):
    index: int
    relevance_score: float
    document: str | None = None


class RerankResponse(_Answer):
    id: str | None = None
    request_id: str | None = None
    results: list[RerankResult] = Field(default_factory=list)  # best first
    usage: Usage = Field(default_factory=Usage)

    _ids = field_validator("id", "request_id", mode="before")(_ident)


# -- POST /tokenizer -------------------------------------------------------------------------------


class TokenizerRequest(RequestBody):
    """POST /tokenizer: `messages` as a vision chat's (text, image, video and file parts), `tools`
    functions only."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    request_id: str | None = None


class TokenCount(_Answer):
    prompt_tokens: Count = 0  # text
    image_tokens: Count = 0
    video_tokens: Count = 0
    total_tokens: Count = 0


class TokenizerResponse(_Answer):
    id: str | None = None
    request_id: str | None = None
    usage: TokenCount

    _ids = field_validator("id", "request_id", mode="before")(_ident)


# -- POST /api/v1/agents (general_translation) -----------------------------------------------------

TranslationStrategy = Literal["general", "paraphrase", "two_step", "three_step", "reflection"]


class TranslationVariables(RequestBody):
    source_lang: str | None = None  # "auto" by default
    target_lang: str | None = None  # "zh-CN" by default
    glossary: str | None = None  # a glossary's id
    strategy: TranslationStrategy | None = None
    strategy_config: dict[str, Any] | None = None


class TranslationRequest(RequestBody):
    """POST {host}/api/v1/agents with agent_id general_translation (not streamed). `from_text` builds
    the one user message of text parts the agent takes. No `request_id`: Z.AI's agents define none."""

    agent_id: Literal["general_translation"] = "general_translation"
    messages: list[dict[str, Any]]
    custom_variables: TranslationVariables | None = None

    @classmethod
    def from_text(cls, text: str, **variables: Any) -> TranslationRequest:
        message = {"role": "user", "content": [{"type": "text", "text": text}]}
        given = {k: v for k, v in variables.items() if v is not None}
        return cls(messages=[message], custom_variables=TranslationVariables(**given) if given else None)


class AgentUsage(Usage):
    total_calls: Count = 0  # model calls the strategy made


class Translation(_Answer):
    """The agent's answer, its text joined from `choices[].messages` (also read as `message`, a single
    message or a list, with `content` an object, a list of parts or a string)."""

    id: str | None = None
    agent_id: str | None = None
    status: str | None = None
    text: str = ""
    usage: AgentUsage = Field(default_factory=AgentUsage)

    _ids = field_validator("id", mode="before")(_ident)
    _names = field_validator("agent_id", "status", mode="before")(_name)

    @field_validator("usage", mode="before")
    @classmethod
    def _none_is_default(cls, value: object) -> object:
        return {} if value is None else value

    @model_validator(mode="before")
    @classmethod
    def _gather_text(cls, data: object) -> object:
        if not isinstance(data, dict) or "text" in data:
            return data
        pieces: list[str] = []
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            messages = choice.get("messages", choice.get("message"))
            for message in messages if isinstance(messages, list) else [messages]:
                if isinstance(message, dict):
                    pieces.append(_agent_text(message.get("content")))
        return {**data, "text": "".join(pieces)}


def _agent_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        return "".join(_agent_text(part) for part in content)
    return ""


# -- GET /api/monitor/usage/quota/limit (Coding Plan, undocumented) --------------------------------


class TokenWindow(BaseModel):
    """The plan's rolling token window (5 hours): the share used and when it resets."""

    model_config = ConfigDict(defer_build=True)

    percentage: float | None = None
    next_reset: datetime | None = None


class CallQuota(BaseModel):
    """The plan's monthly tool (MCP) call quota: search, reader and the like."""

    model_config = ConfigDict(defer_build=True)

    total: int | None = None
    used: int | None = None
    remaining: int | None = None
    next_reset: datetime | None = None
    details: dict[str, int] = Field(default_factory=dict)  # calls used per tool (search-prime, ...)


class PlanQuota(BaseModel):
    """What the Coding Plan's quota query reports; each part None when the answer lacks it."""

    model_config = ConfigDict(defer_build=True)

    level: str | None = None  # the plan's level ("lite", "pro", ...)
    tokens: TokenWindow | None = None
    calls: CallQuota | None = None

    @classmethod
    def read(cls, data: object) -> PlanQuota | None:
        """The quota in a query's answer (`{code, msg, data: {limits: [...], level}, success}`), or None
        when the answer has no limits list; every field is optional, as the route is undocumented."""
        if not isinstance(data, dict):
            return None
        inner = data.get("data", data)
        if not isinstance(inner, dict) or not isinstance(inner.get("limits"), list):
            return None
        quota = cls(level=inner["level"] if isinstance(inner.get("level"), str) else None)
        for limit in inner["limits"]:
            if not isinstance(limit, dict):
                continue
            if limit.get("type") == "TOKENS_LIMIT":
                quota.tokens = TokenWindow(
                    percentage=_number(limit.get("percentage")), next_reset=_when(limit.get("nextResetTime"))
                )
            elif limit.get("type") == "TIME_LIMIT":
                details = limit.get("usageDetails")
                details = details if isinstance(details, list) else []
                quota.calls = CallQuota(
                    total=_whole(limit.get("usage")),
                    used=_whole(limit.get("currentValue")),
                    remaining=_whole(limit.get("remaining")),
                    next_reset=_when(limit.get("nextResetTime")),
                    details={
                        str(item["modelCode"]): count
                        for item in details
                        if isinstance(item, dict)
                        and isinstance(item.get("modelCode"), str)
                        and (count := _whole(item.get("usage"))) is not None
                    },
                )
        return quota


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _whole(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else None


def _when(value: object) -> datetime | None:
    """A reset time: milliseconds since the epoch (as the query gives it), or an ISO 8601 string."""
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    number = _number(value)
    if number is None or number <= 0:
        return None
    seconds = number / 1000 if number > 1e11 else number  # milliseconds, or (older answers) seconds
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
