"""GLM "paas v4" routes of the fake server: request validation and wire-faithful responses.
Pure functions of the request, the scripted fault and the accepted keys; no I/O happens here.
The stateful media routes (images, videos, tasks, ASR, CDN files) live in `media.py`, reached via a `Site`."""

import base64
import dataclasses
import hashlib
import http
import json
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import reference

if TYPE_CHECKING:
    from .media import Site
    from .platform import Desk

JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream;charset=UTF-8"

# Chat models per platform, text and vision: the model enums of the chat reference (reference.py), so
# the schema level and the per-model rules below know the same models (glm-5-turbo and glm-5v-turbo are
# BigModel's; Z.AI-only models such as glm-4.5 and glm-4.5v are Z.AI's).
TEXT_MODELS: dict[str, frozenset[str]] = {
    "zai": frozenset(reference.ZAI_TEXT),
    "bigmodel": frozenset(reference.BIGMODEL_TEXT),
}
VISION_MODELS: dict[str, frozenset[str]] = {
    "zai": frozenset(reference.ZAI_VISION),
    "bigmodel": frozenset(reference.BIGMODEL_VISION),
}
ALL_CHAT_MODELS = frozenset(m for models in (*TEXT_MODELS.values(), *VISION_MODELS.values()) for m in models)
# Only GLM-4.5 and later (and the z1/4.1v "thinking" lines) produce reasoning_content.
THINKING_MODELS = frozenset(
    m
    for m in ALL_CHAT_MODELS
    if re.match(r"glm-(5|4\.[5-9])", m) or m.startswith(("glm-z1", "glm-4.1v-thinking"))
)
# Thinking "can only be enabled" (ChatThinking).
THINKING_ONLY = frozenset({"glm-5.3", "glm-5.3-flash", "glm-5.3-flashx"})
# reasoning_effort: glm-5.2 and later; the 5.3 family takes three levels.
EFFORTS: dict[str, frozenset[str]] = {
    "glm-5.2": frozenset({"max", "xhigh", "high", "medium", "low", "minimal", "none"}),
    **{name: frozenset({"max", "high", "low"}) for name in THINKING_ONLY},
}
MAX_TOKENS_LIMIT = 131072
# Documented output limits below the general one (the max_tokens descriptions; CN model pages).
MAX_OUTPUT: dict[str, int] = {
    **dict.fromkeys(("glm-4.5", "glm-4.5-air", "glm-4.5-x", "glm-4.5-airx", "glm-4.5-flash"), 98304),
    **dict.fromkeys(("glm-4.6v", "glm-4.6v-flash", "glm-4.6v-flashx"), 32768),
    **dict.fromkeys(("glm-4.5v", "glm-4-32b-0414-128k", "glm-4.1v-thinking-flash"), 16384),
    **dict.fromkeys(("glm-4.1v-thinking-flashx",), 16384),
    **dict.fromkeys(("autoglm-phone-multilingual", "glm-4-plus", "glm-4-long"), 4096),
    "glm-4v-flash": 1024,
}
# Images per request (VisionMultimodalContentItem; CN: glm-4v-flash one image, URL only).
MAX_IMAGES: dict[str, int] = {
    **dict.fromkeys(("glm-5.3-flashx", "glm-5.3-flash", "glm-5v-turbo"), 150),
    **dict.fromkeys(("glm-4.6v", "glm-4.6v-flash", "glm-4.6v-flashx"), 150),
    "glm-4.5v": 50,
    "glm-4v-flash": 1,
}
URL_ONLY_IMAGES = frozenset({"glm-4v-flash"})
# Videos per request (VisionMultimodalContentItem: 2 for GLM-5V / 4.6V, 1 for 4.5V; CN: GLM-4V-Plus); a
# model not listed takes none. GLM-4V-Plus wants its video_url part first (§22 row 9).
MAX_VIDEOS: dict[str, int] = {
    **dict.fromkeys(("glm-5.3-flashx", "glm-5.3-flash", "glm-5v-turbo"), 2),
    **dict.fromkeys(("glm-4.6v", "glm-4.6v-flash", "glm-4.6v-flashx"), 2),
    **dict.fromkeys(("glm-4.5v", "glm-4v-plus-0111", "glm-4v-plus"), 1),
}
VIDEO_FIRST = frozenset({"glm-4v-plus-0111", "glm-4v-plus"})
# File parts, per platform (§22 row 9): Z.AI's file_url / file_data for the GLM-5.3-Flash series, GLM-4.6V
# and GLM-4.5V, file_id for the GLM-5.3-Flash series only; BigModel's file_url for 5V-Turbo, 4.6V, 4.5V.
FILE_MODELS = {
    "zai": frozenset({"glm-5.3-flashx", "glm-5.3-flash", "glm-4.6v", "glm-4.5v"}),
    "bigmodel": frozenset({"glm-5v-turbo", "glm-4.6v", "glm-4.5v"}),
}
FILE_ID_MODELS = frozenset({"glm-5.3-flashx", "glm-5.3-flash"})
MAX_FILES = 50
FILE_MAX_BYTES = 50 * 1024 * 1024
# CN's GLM-4V family answers with content as a list of text parts, streamed and not.
PARTS_REPLY_MODELS = frozenset({"glm-4v", "glm-4v-plus", "glm-4v-plus-0111", "glm-4v-flash"})
IMAGE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # jpg/jpeg/png only
BIGMODEL_ENGINES = frozenset({"search_std", "search_pro", "search_pro_sogou", "search_pro_quark"})
# Engines of the standalone Web Search API, and of the chat's built-in web_search tool, per platform.
SEARCH_ENGINES = {"zai": frozenset({"search-prime"}), "bigmodel": BIGMODEL_ENGINES}
CHAT_SEARCH_ENGINES = {"zai": frozenset({"search_pro_jina"}), "bigmodel": BIGMODEL_ENGINES}
# Fields of POST /web_search only BigModel defines (Z.AI's WebSearchRequest has neither).
BIGMODEL_SEARCH_FIELDS = ("content_size", "search_intent")
MAX_SEARCH_QUERY = {"bigmodel": 70}
# The only route of the GLM Coding Plan's endpoint; every other one there answers 1113 (the references
# leave it open; third-party reports of non-coding use show 1113).
CODING_ROUTES = frozenset({"chat/completions"})
# What a Coding Plan key without balance may call outside the coding endpoint: the plan's quota query.
PLAN_ROUTES = frozenset({"monitor/usage/quota/limit"})
RECENCY_FILTERS = frozenset({"oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"})

SAFETY_MESSAGE = (
    "System detected potentially unsafe or sensitive content in input or generation. Please avoid using "
    "prompts that may generate sensitive content. Thank you for your cooperation."
)
# English texts as api.z.ai returns them (glm-api.md §1.2, §17.3); abridged docs text where none was captured.
DEFAULT_MESSAGES: dict[str, str] = {
    "500": "Internal Error",
    "1000": "Authentication failed.",
    "1001": "Authorization parameter not received in header, unable to authenticate.",
    "1002": "Authorization Token is invalid, please ensure that the Authorization Token is correctly "
    "provided.",
    "1003": "Authorization Token has expired.",
    "1004": "Authentication failed for the Authorization Token.",
    "1110": "Your account is currently inactive. Please check your account information.",
    "1111": "Your account does not exist.",
    "1112": "Your account has been locked, please contact customer service to unlock.",
    "1113": "Insufficient balance or no resource package. Please recharge.",
    "1120": "Unable to access your account at the moment, please try again later.",
    "1121": "Your account has been locked due to irregular activity.",
    "1200": "API call error.",
    "1210": "Invalid API parameter, please check the documentation.",
    "1211": "Unknown Model, please check the model code.",
    "1212": "The current model does not support this call method.",
    "1213": "A required field was not received.",
    "1214": "Input cannot be empty",
    "1215": "Mutually exclusive fields were both set.",
    "1220": "You do not have permission to access this API.",
    "1221": "This API has been taken offline.",
    "1222": "This API does not exist.",
    "1230": "API call process error.",
    "1231": "Duplicate request.",
    "1234": "Network error, please try again later.",
    "1261": "Prompt too long",
    "1300": "API call blocked by policy.",
    "1301": SAFETY_MESSAGE,
    "1302": "High concurrency usage of this API, please reduce concurrency or contact customer service "
    "to increase limits",
    "1303": "High frequency usage of this API, please reduce frequency or contact customer service "
    "to increase limits",
    "1304": "Daily call limit for this API key has been reached. Limit will reset at midnight UTC.",
    "1305": "The service may be temporarily overloaded",
    "1308": "Usage limit reached for 5 hour. Your limit will reset at 2030-01-01 00:00:00",
    "1309": "Your GLM Coding Plan package has expired.",
    "1310": "Weekly/Monthly Limit Exhausted. Your limit will reset at 2030-01-01 00:00:00",
    "1311": "Your current plan does not include access to this model.",
    "1312": "The model is currently experiencing high traffic. Please try again later or switch to "
    "another model.",
    "1313": "Request blocked under Fair Use Policy. Your request rate has been restricted.",
    "1701": "Web search concurrency limit reached, please reduce concurrency.",
    "1702": "No search engine is available for this request.",
    "1703": "The search engine returned no data.",
}
_STATUS_BY_CODE: dict[str, int] = {
    "500": 500,
    "1230": 500,
    "1234": 500,
    "1000": 401,
    "1001": 401,
    "1002": 401,
    "1003": 401,
    "1004": 401,
    **{
        code: 429
        for code in (
            "1110",
            "1112",
            "1113",
            "1121",
            "1302",
            "1303",
            "1304",
            "1305",
            "1308",
            "1309",
            "1310",
            "1311",
            "1312",
            "1313",
            "1701",
        )
    },
}


@dataclass
class Fault:
    """One scripted deviation from normal behaviour for one request (all fields combinable).

    `cut_after` counts SSE events on streams and bytes of the body on `/media/...` downloads."""

    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: str | float | None = None
    delay: float = 0.0
    drop: bool = False
    body: bytes | str | None = None
    content_type: str | None = None
    cut_after: int | None = None
    finish_reason: str | None = None
    no_done: bool = False
    content: str | None = None
    content_parts: bool = False  # chat: answer with content as a list of text parts (GLM-4V style)

    @property
    def replaces_response(self) -> bool:
        """True when the fault, not the route, decides the response."""
        return self.status is not None or self.code is not None or self.body is not None


@dataclass(frozen=True)
class Reply:
    """What to send: a whole body, SSE events written (and flushed) one by one, or a body of known
    `length` produced lazily by `chunks` (large downloads)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    events: tuple[bytes, ...] | None = None
    cut: bool = False  # abort the connection after the events/chunks instead of ending the body
    chunks: Iterable[bytes] | None = None
    length: int | None = None  # Content-Length of a chunked-up body


class ApiError(Exception):
    """A business error, rendered as the GLM error envelope."""

    def __init__(self, status: int, code: str, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message if message is not None else DEFAULT_MESSAGES.get(code, _phrase(status))


# ---------------------------------------------------------------- entry point


def handle(
    method: str,
    route: str,
    headers: dict[str, str],
    body: bytes,
    *,
    fault: Fault | None,
    api_keys: set[str] | None,
    base: str = "",
    form: dict[str, list[str]] | None = None,
    files: dict[str, bytes] | None = None,
    site: "Site | None" = None,
    platform: str = "zai",
    coding_keys: frozenset[str] = frozenset(),
    desk: "Desk | None" = None,
) -> Reply:
    """Compute the reply to one request (the fault, if any, was already popped for it), as `platform`
    ("zai" or "bigmodel") would. Without a `site` only the stateless routes (chat, web search) exist."""
    reply = _dispatch(
        method,
        route,
        headers,
        body,
        fault=fault,
        api_keys=api_keys,
        base=base,
        form=form,
        files=files,
        site=site,
        platform=platform,
        coding_keys=coding_keys,
        desk=desk,
    )
    if fault is not None and fault.retry_after is not None:
        reply = dataclasses.replace(
            reply, headers=(*reply.headers, ("Retry-After", _retry_after(fault.retry_after)))
        )
    return reply


def _dispatch(
    method: str,
    route: str,
    headers: dict[str, str],
    body: bytes,
    *,
    fault: Fault | None,
    api_keys: set[str] | None,
    base: str,
    form: dict[str, list[str]] | None,
    files: dict[str, bytes] | None,
    site: "Site | None",
    platform: str,
    coding_keys: frozenset[str],
    desk: "Desk | None",
) -> Reply:
    if fault is not None and fault.replaces_response:
        return fault_reply(fault)
    if site is not None and (public := site.public(method, route, base, fault)) is not None:
        return public  # CDN files need no key
    try:
        check_auth(headers.get("authorization"), api_keys, coding_keys)
        check_plan(headers.get("authorization"), route, base, coding_keys)
        if desk is not None:
            desk.check_base(route, base)
        if method == "POST" and route in reference.ROUTES:
            check_reference(platform, route, body, form or {}, files or {})
        if site is not None:
            reply = site.route(method, route, body, form or {}, files or {}, fault)
            if reply is not None:
                return reply
        key = _bearer(headers.get("authorization") or "")
        if desk is not None and (reply := desk.route(method, route, base, body, fault, key)) is not None:
            return reply
        handler = ROUTES.get(route)
        if handler is None:
            raise ApiError(404, "1222", f"The API {route or '/'} does not exist.")
        if method != "POST":
            raise ApiError(405, "1222", f"Request method '{method}' is not supported.")
        return handler(parse_json_object(body), fault, platform)
    except ApiError as err:
        return error_reply(err.status, err.code, err.message)


def check_reference(
    platform: str, route: str, body: bytes, form: dict[str, list[str]], files: dict[str, bytes]
) -> None:
    """Refuse, as the platform would, a request its reference refuses at the schema level (fields,
    types, enums, ranges, required fields, models): before any route's own per-model rules."""
    if route in reference.FORM_ROUTES:
        payload: Any = reference.form_payload(form, files)
    else:
        payload = parse_json_object(body)
    refused = reference.refusal(platform, route, payload)
    if refused is not None:
        raise ApiError(refused.status, refused.code, refused.message)


def check_auth(
    authorization: str | None, api_keys: set[str] | None, coding_keys: frozenset[str] = frozenset()
) -> None:
    if authorization is None or not authorization.strip():
        raise ApiError(401, "1001")
    key = _bearer(authorization)
    if not key:
        raise ApiError(401, "1000")
    if api_keys is not None and key not in api_keys and key not in coding_keys:
        raise ApiError(401, "1000")


def check_plan(authorization: str | None, route: str, base: str, coding_keys: frozenset[str]) -> None:
    """The GLM Coding Plan's endpoint serves chat only; a Coding Plan key without balance (one of
    `coding_keys`) works there and nowhere else: the general endpoint bills the empty balance (1113)."""
    if base == "coding" and route not in CODING_ROUTES:
        raise ApiError(429, "1113")
    if base in ("paas", "root") and route not in PLAN_ROUTES and _bearer(authorization or "") in coding_keys:
        raise ApiError(429, "1113")


def _bearer(authorization: str) -> str:
    scheme, _, key = authorization.strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "1210") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "1210")
    return payload


# ---------------------------------------------------------------- generic replies


def json_reply(status: int, payload: Any, extra: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, (("Content-Type", JSON_TYPE), *extra), dump(payload))


def error_reply(
    status: int, code: str, message: str, content_filter: list[dict[str, Any]] | None = None
) -> Reply:
    payload: dict[str, Any] = {}
    if content_filter is not None:
        payload["contentFilter"] = content_filter
    payload["error"] = {"code": code, "message": message}
    return json_reply(status, payload)


def fault_reply(fault: Fault) -> Reply:
    """The response a status/code/body fault asks for."""
    code = fault.code if fault.code is not None else (str(fault.status) if fault.status is not None else None)
    status = fault.status if fault.status is not None else _STATUS_BY_CODE.get(code or "", 400)
    if fault.body is not None:
        raw = fault.body.encode("utf-8") if isinstance(fault.body, str) else fault.body
        status = fault.status if fault.status is not None else (200 if fault.code is None else status)
        return Reply(status, (("Content-Type", fault.content_type or JSON_TYPE),), raw)
    assert code is not None
    message = fault.message if fault.message is not None else DEFAULT_MESSAGES.get(code, _phrase(status))
    content_filter = [{"level": 1, "role": "user"}] if code == "1301" else None
    return error_reply(status, code, message, content_filter)


def dump(payload: Any) -> bytes:
    """Compact JSON, non-ASCII kept as UTF-8 like the real server."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _retry_after(value: str | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def new_id() -> str:
    """Chat/task id as the real API makes them: YYYYMMDDHHMMSS + 16 lowercase hex (30 chars)."""
    return time.strftime("%Y%m%d%H%M%S") + f"{random.getrandbits(64):016x}"


def words(text: str) -> int:
    return len(text.split())


def pieces(text: str) -> list[str]:
    """Word-sized pieces, each with its leading whitespace, whose concatenation is exactly text."""
    return re.findall(r"\s*\S+|\s+\Z", text)


# ---------------------------------------------------------------- tolerant value parsing


def _flag(value: Any, field: str) -> bool | None:
    """Booleans as docs and clients send them: real bools or "True"/"true"/"False"/"false"."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ApiError(400, "1214", f"{field}:The {field} must be a boolean.")


def _int(value: Any, field: str) -> int | None:
    """Integers, accepting numeric strings ("count": "5")."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ApiError(400, "1214", f"{field}:The {field} must be an integer.")


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ApiError(400, "1210", f"{field}:The {field} must be a number.")


# ---------------------------------------------------------------- search results


@dataclass(frozen=True)
class SearchOptions:
    query: str
    count: int
    domain: str | None = None
    content_size: str | None = None
    include_image: bool = False


def search_results(opts: SearchOptions) -> list[dict[str, Any]]:
    """Deterministic result items (same query and options, same results)."""
    slug = hashlib.sha1(opts.query.encode("utf-8")).hexdigest()[:10]
    host = opts.domain or "example.com"
    size = 2500 if opts.content_size == "high" else 500
    return [_result(opts, slug, host, size, n) for n in range(1, opts.count + 1)]


def _result(opts: SearchOptions, slug: str, host: str, size: int, n: int) -> dict[str, Any]:
    sentence = f"Result {n} about {opts.query} explains the topic in plain words. "
    content = (sentence * (size // len(sentence) + 1))[:size].rsplit(" ", 1)[0]
    item: dict[str, Any] = {
        "title": f"{opts.query} - result {n}",
        "content": content,
        "link": f"https://{host}/{slug}/{n}",
        "media": host,
        "icon": f"https://{host}/favicon.ico",
        "refer": f"ref_{n}",
        "publish_date": f"2025-04-{n % 28 + 1:02d}",
    }
    if opts.include_image:
        item["images"] = [f"https://{host}/{slug}/{n}.png"]
    return item


# ---------------------------------------------------------------- POST web_search


def web_search(payload: dict[str, Any], fault: Fault | None, platform: str) -> Reply:
    opts = _parse_search(payload, platform)
    ident = new_id()
    request_id = payload.get("request_id")
    body: dict[str, Any] = {
        "id": ident,
        "created": int(time.time()),
        "request_id": request_id if isinstance(request_id, str) else ident,
    }
    if platform == "bigmodel":  # Z.AI's WebSearchResponse has no search_intent
        body["search_intent"] = [{"query": opts.query, "intent": "SEARCH_ALL", "keywords": opts.query}]
    body["search_result"] = search_results(opts)
    return json_reply(200, body)


def _parse_search(payload: dict[str, Any], platform: str = "zai") -> SearchOptions:
    query = payload.get("search_query")
    if not isinstance(query, str) or not query.strip():
        raise ApiError(400, "1214", "search_query:The search_query cannot be empty.")
    limit = MAX_SEARCH_QUERY.get(platform)
    if limit is not None and len(query) > limit:
        raise ApiError(400, "1214", f"search_query:The search_query must be at most {limit} characters.")
    engine = payload.get("search_engine")
    if engine is None or engine == "":
        raise ApiError(400, "1214", "search_engine:The search_engine cannot both be empty.")
    if engine not in SEARCH_ENGINES[platform]:
        raise ApiError(400, "1211")
    if platform == "zai":
        for name in BIGMODEL_SEARCH_FIELDS:
            if payload.get(name) is not None:
                raise ApiError(400, "1210", f"{name}:The {name} is not a parameter of this API.")
    elif payload.get("search_intent") is None:
        raise ApiError(400, "1214", "search_intent:The search_intent cannot be empty.")
    else:
        _flag(payload["search_intent"], "search_intent")
    count = _int(payload.get("count"), "count")
    count = 10 if count is None else count
    if not 1 <= count <= 50:
        raise ApiError(400, "1214", "count:The count must be between 1 and 50.")
    if engine == "search_pro_sogou" and count % 10:
        raise ApiError(400, "1214", "count:search_pro_sogou supports count 10, 20, 30, 40 or 50.")
    _check_recency(payload.get("search_recency_filter"))
    domain = payload.get("search_domain_filter")
    return SearchOptions(
        query=query,
        count=count,
        domain=domain if isinstance(domain, str) and domain else None,
        content_size=_content_size(payload.get("content_size")),
        include_image=bool(_flag(payload.get("include_image"), "include_image")),
    )


def check_search_tool(tools: Any, platform: str) -> None:
    """The chat's built-in web_search tool (WebSearchObject): search_engine is required, and each
    platform takes its own engines."""
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or tool.get("type") != "web_search":
            continue
        spec = tool.get("web_search")
        engine = spec.get("search_engine") if isinstance(spec, dict) else None
        if engine is None or engine == "":
            raise ApiError(400, "1214", "web_search.search_engine:The search_engine cannot be empty.")
        if engine not in CHAT_SEARCH_ENGINES[platform]:
            raise ApiError(400, "1211")


def _check_recency(value: Any) -> None:
    if value is not None and value not in RECENCY_FILTERS:
        raise ApiError(400, "1214", "search_recency_filter:The search_recency_filter is invalid.")


def _content_size(value: Any) -> str | None:
    if value is not None and value not in ("medium", "high"):
        raise ApiError(400, "1214", "content_size:The content_size must be medium or high.")
    return None if value is None else str(value)


# ---------------------------------------------------------------- POST chat/completions: request


@dataclass(frozen=True)
class ChatRequest:
    model: str
    text: str  # text of the last user message
    images: int  # image parts seen (vision models only)
    prompt_words: int
    stream: bool
    think: bool
    json_mode: bool
    max_tokens: int | None
    search: SearchOptions | None
    return_search: bool
    request_id: str | None
    parts_reply: bool = False  # content goes back as a list of text parts


def parse_chat(payload: dict[str, Any], platform: str = "zai") -> ChatRequest:
    model = _parse_model(payload.get("model"), platform)
    name = model.lower()
    vision = name in VISION_MODELS[platform]
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "1214", "Input cannot be empty")
    texts, images, last_user = _walk_messages(messages, name, vision)
    _check_file_alone(messages)
    _check_videos_and_files(messages, name, platform)
    _check_sampling(payload)
    if vision and payload.get("response_format") is not None:
        raise ApiError(400, "1210", "response_format:The response_format is not supported by vision models.")
    if vision and _has_builtin_tool(payload.get("tools")):
        raise ApiError(400, "1210", "tools.type:Vision models take function tools only.")
    search, return_search = _parse_tools(payload.get("tools"), last_user)
    think = _parse_thinking(payload.get("thinking"))
    if not think and name in THINKING_ONLY:
        raise ApiError(400, "1210", f"thinking.type:The thinking of {model} can only be enabled.")
    _check_effort(payload.get("reasoning_effort"), name)
    request_id = payload.get("request_id")
    return ChatRequest(
        model=model,
        text=last_user,
        images=images,
        prompt_words=sum(words(t) for t in texts),
        stream=bool(_flag(payload.get("stream"), "stream")),
        think=think and name in THINKING_MODELS,
        json_mode=_parse_response_format(payload.get("response_format")),
        max_tokens=_parse_max_tokens(payload.get("max_tokens"), name),
        search=search,
        return_search=return_search,
        request_id=request_id if isinstance(request_id, str) else None,
        parts_reply=name in PARTS_REPLY_MODELS,
    )


def _parse_model(model: Any, platform: str) -> str:
    if model is None or model == "":
        raise ApiError(400, "1214", "model:The model cannot be empty.")
    if not isinstance(model, str):
        raise ApiError(400, "1214", "model:The model must be a string.")
    if model.lower() not in TEXT_MODELS[platform] | VISION_MODELS[platform]:
        raise ApiError(400, "1211")
    return model


def _walk_messages(messages: list[Any], model: str, vision: bool) -> tuple[list[str], int, str]:
    """Validate messages; return all texts, the image count and the last user message's text."""
    texts: list[str] = []
    images = 0
    last_user: str | None = None
    for message in messages:
        if not isinstance(message, dict):
            raise ApiError(400, "1214", "messages:Each message must be an object.")
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise ApiError(400, "1214", f"messages.role:The role {role!r} is invalid.")
        text, seen = _message_content(message.get("content"), role, model, vision)
        texts.append(text)
        images += seen
        if role == "user":
            last_user = text
    if last_user is None:
        raise ApiError(400, "1214", "Input cannot be empty")
    limit = MAX_IMAGES.get(model)
    if limit is not None and images > limit:
        raise ApiError(400, "1210", f"messages.content.image_url:{model} takes at most {limit} images.")
    return texts, images, last_user


def _check_file_alone(messages: list[Any]) -> None:
    """A `file` part is not sent with image or video parts: "Not support passing both the file and
    image_url or video_url parameters at the same time" (VisionMultimodalContentItem)."""
    kinds = {
        part.get("type")
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict)
    }
    if "file" in kinds and kinds & {"image_url", "video_url"}:
        raise ApiError(
            400, "1210", "messages.content.file:A file part cannot be sent with image_url or video_url parts."
        )


def _check_videos_and_files(messages: list[Any], model: str, platform: str) -> None:
    """The per-model rules of video and file parts: how many, which models, where a video goes."""
    contents = [m["content"] for m in messages if isinstance(m, dict) and isinstance(m.get("content"), list)]
    parts = [part for content in contents for part in content if isinstance(part, dict)]
    videos = sum(part.get("type") == "video_url" for part in parts)
    if videos > MAX_VIDEOS.get(model, 0):
        limit = MAX_VIDEOS.get(model, 0)
        raise ApiError(400, "1210", f"messages.content.video_url:{model} takes at most {limit} videos.")
    if model in VIDEO_FIRST:
        for content in contents:
            kinds = [part.get("type") for part in content if isinstance(part, dict)]
            if "video_url" in kinds and kinds[0] != "video_url":
                raise ApiError(400, "1210", "messages.content.video_url:The video_url must come first.")
    files = [part for part in parts if part.get("type") in ("file", "file_url")]
    if files and model not in FILE_MODELS[platform]:
        raise ApiError(400, "1210", f"messages.content.{files[0]['type']}:{model} does not support files.")
    if len(files) > MAX_FILES:
        raise ApiError(400, "1210", f"messages.content.file:At most {MAX_FILES} files are supported.")
    for part in files:
        inner = part.get("file")
        if not isinstance(inner, dict):
            continue
        given = [key for key in ("file_id", "file_url", "file_data") if inner.get(key) is not None]
        if len(given) != 1:
            raise ApiError(
                400, "1214", "messages.content.file:Give exactly one of file_id, file_url or file_data."
            )
        if inner.get("file_id") is not None and model not in FILE_ID_MODELS:
            raise ApiError(400, "1210", f"messages.content.file.file_id:{model} does not support file_id.")
        data = inner.get("file_data")
        if isinstance(data, str) and len(data.partition(",")[2]) * 3 // 4 > FILE_MAX_BYTES:
            raise ApiError(400, "1210", "messages.content.file.file_data:The file must be under 50M.")


def _message_content(content: Any, role: str, model: str, vision: bool) -> tuple[str, int]:
    """Text of one message's content and how many image parts it has."""
    if content is None or content in ("", []):
        if role == "user":
            raise ApiError(400, "1214", "Input cannot be empty")
        return "", 0
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        raise ApiError(400, "1214", "messages.content:The content must be a string or an array.")
    if not vision:
        # Text models take string content only (ChatCompletionTextRequest).
        raise ApiError(400, "1210", "messages.content.type 参数非法, 取值范围 ['text']")
    texts: list[str] = []
    images = 0
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(_part_text(part))
        elif kind == "image_url":
            _check_image(part, model)
            images += 1
        elif kind not in ("video_url", "file_url", "file"):
            raise ApiError(
                400,
                "1210",
                "messages.content.type 参数非法, 取值范围 "
                "['text', 'image_url', 'video_url', 'file_url', 'file']",
            )
    return " ".join(texts), images


def _check_image(part: dict[str, Any], model: str) -> None:
    """An image_url part: an http(s) URL, or bare base64 of a PNG or JPEG of at most 5 MB."""
    _check_url(part, "image_url")
    url: str = part["image_url"]["url"]
    if url.startswith(("http://", "https://")):
        return
    if model in URL_ONLY_IMAGES:
        raise ApiError(400, "1210", f"messages.content.image_url.url:{model} takes image URLs only.")
    if url.startswith("data:"):
        # The real API takes no data: prefix (the official SDK strips it).
        raise ApiError(400, "1210", "messages.content.image_url.url:Invalid image data.")
    head = url[:64]
    try:
        decoded = base64.b64decode(head[: len(head) // 4 * 4], validate=True)
    except ValueError:
        raise ApiError(400, "1210", "messages.content.image_url.url:Invalid image data.") from None
    if not decoded.startswith(IMAGE_SIGNATURES):
        raise ApiError(
            400, "1210", "messages.content.image_url.url:Only jpg, jpeg and png images are supported."
        )
    if len(url) * 3 // 4 > IMAGE_MAX_BYTES:
        raise ApiError(400, "1210", "messages.content.image_url.url:The image must be under 5M.")


def _has_builtin_tool(tools: Any) -> bool:
    return isinstance(tools, list) and any(
        isinstance(tool, dict) and tool.get("type") not in (None, "function") for tool in tools
    )


def _check_effort(value: Any, model: str) -> None:
    if value is None:
        return
    allowed = EFFORTS.get(model)
    if allowed is None:
        raise ApiError(400, "1210", f"reasoning_effort:The reasoning_effort is not supported by {model}.")
    if value not in allowed:
        raise ApiError(
            400, "1210", f"reasoning_effort:The reasoning_effort must be one of {', '.join(sorted(allowed))}."
        )


def _part_text(part: dict[str, Any]) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "1214", "messages.content.text:The text cannot be empty.")
    return text


def _check_url(part: dict[str, Any], kind: str) -> None:
    inner = part.get(kind)
    url = inner.get("url") if isinstance(inner, dict) else None
    if not isinstance(url, str) or not url:
        raise ApiError(400, "1210", f"messages.content.{kind}.url:The url cannot be empty.")


def _check_sampling(payload: dict[str, Any]) -> None:
    temperature = _number(payload.get("temperature"), "temperature")
    if temperature is not None and not 0.0 <= temperature <= 1.0:
        raise ApiError(400, "1210", "temperature:The temperature must be in [0.0, 1.0].")
    top_p = _number(payload.get("top_p"), "top_p")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ApiError(400, "1210", "top_p:The top_p must be in (0.0, 1.0].")


def _parse_max_tokens(value: Any, model: str) -> int | None:
    if value is None:
        return None
    limit = MAX_OUTPUT.get(model, MAX_TOKENS_LIMIT)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ApiError(400, "1210", f"max_tokens:The max_tokens must be an integer in [1, {limit}].")
    return value


def _parse_thinking(thinking: Any) -> bool:
    """Whether the model should think (the default)."""
    if thinking is None:
        return True
    if not isinstance(thinking, dict):
        raise ApiError(400, "1210", "thinking:The thinking must be an object.")
    kind = thinking.get("type")
    if kind not in (None, "enabled", "disabled"):
        raise ApiError(400, "1210", "thinking.type:The thinking.type must be enabled or disabled.")
    return kind != "disabled"


def _parse_response_format(value: Any) -> bool:
    """Whether JSON mode was asked for."""
    if value is None:
        return False
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("text", "json_object"):
        raise ApiError(400, "1214", "不支持当前response_format值")
    return bool(kind == "json_object")


def _parse_tools(tools: Any, text: str) -> tuple[SearchOptions | None, bool]:
    """The built-in web search options if enabled, and whether results go into the response."""
    if tools is None:
        return None, False
    if not isinstance(tools, list):
        raise ApiError(400, "1214", "tools:The tools must be an array.")
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise ApiError(400, "1214", "tools.type:Each tool must have a type.")
        if tool["type"] == "web_search":
            return _parse_search_tool(tool.get("web_search"), text)
    return None, False


def _parse_search_tool(spec: Any, text: str) -> tuple[SearchOptions | None, bool]:
    spec = spec if isinstance(spec, dict) else {}
    if not _flag(spec.get("enable"), "web_search.enable"):
        return None, False
    count = _int(spec.get("count"), "web_search.count")
    if count is not None and not 1 <= count <= 50:
        raise ApiError(400, "1214", "web_search.count:The count must be between 1 and 50.")
    _check_recency(spec.get("search_recency_filter"))
    query = spec.get("search_query")
    domain = spec.get("search_domain_filter")
    opts = SearchOptions(
        query=query if isinstance(query, str) and query else text,
        count=min(count or 2, 2),
        domain=domain if isinstance(domain, str) and domain else None,
        content_size=_content_size(spec.get("content_size")),
    )
    return opts, bool(_flag(spec.get("search_result"), "web_search.search_result"))


# ---------------------------------------------------------------- POST chat/completions: response


@dataclass(frozen=True)
class Completion:
    id: str
    created: int
    model: str
    request_id: str
    reasoning: str | None
    content: str
    finish_reason: str
    usage: dict[str, Any]
    web_search: list[dict[str, Any]] | None
    parts: bool = False  # content as a list of {type: "text", text} parts (GLM-4V)


def chat_completions(payload: dict[str, Any], fault: Fault | None, platform: str) -> Reply:
    check_search_tool(payload.get("tools"), platform)
    req = parse_chat(payload, platform)
    done = complete(req, fault)
    if not req.stream:
        return json_reply(200, completion_body(done))
    events, cut = stream_events(done, fault)
    return Reply(200, (("Content-Type", SSE_TYPE), ("Cache-Control", "no-cache")), events=events, cut=cut)


def answer_text(req: ChatRequest, fault: Fault | None) -> str:
    if fault is not None and fault.content is not None:
        return fault.content
    answer = f"Fake GLM answer to: {req.text}"
    if req.images:
        answer += f" ({req.images} image{'s' if req.images != 1 else ''})"
    if req.search is not None:
        answer += " [ref_1]"
    if req.json_mode:
        answer = dump({"answer": answer}).decode("utf-8")
    return answer


def complete(req: ChatRequest, fault: Fault | None) -> Completion:
    content = answer_text(req, fault)
    finish_reason = "stop"
    if req.max_tokens is not None and words(content) > req.max_tokens:
        content = "".join(pieces(content)[: req.max_tokens]).rstrip()
        finish_reason = "length"
    reasoning = f"Thinking about: {req.text}" if req.think else None
    completion_tokens = words(content) + words(reasoning or "")
    ident = new_id()
    return Completion(
        id=ident,
        created=int(time.time()),
        model=req.model,
        request_id=req.request_id or ident,
        reasoning=reasoning,
        content=content,
        finish_reason=finish_reason,
        usage={
            "prompt_tokens": req.prompt_words,
            "completion_tokens": completion_tokens,
            "total_tokens": req.prompt_words + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
        web_search=search_results(req.search) if req.search is not None and req.return_search else None,
        parts=req.parts_reply or (fault is not None and fault.content_parts),
    )


def completion_body(done: Completion) -> dict[str, Any]:
    """Non-stream body, keys in the order api.z.ai sends them (glm-api.md §3.3)."""
    message: dict[str, Any] = {"content": _content(done, done.content)}
    if done.reasoning is not None:
        message["reasoning_content"] = done.reasoning
    message["role"] = "assistant"
    usage = done.usage
    body: dict[str, Any] = {
        "choices": [{"finish_reason": done.finish_reason, "index": 0, "message": message}],
        "created": done.created,
        "id": done.id,
        "model": done.model,
        "request_id": done.request_id,
        "usage": {
            "completion_tokens": usage["completion_tokens"],
            "prompt_tokens": usage["prompt_tokens"],
            "prompt_tokens_details": usage["prompt_tokens_details"],
            "total_tokens": usage["total_tokens"],
        },
    }
    if done.web_search is not None:
        body["web_search"] = done.web_search
    return body


def sse(payload: Any) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else dump(payload)) + b"\n\n"


def stream_events(done: Completion, fault: Fault | None) -> tuple[tuple[bytes, ...], bool]:
    """SSE events of one completion (glm-api.md §3.4), shaped by the fault's stream options."""
    chunks = [_chunk(done, {"reasoning_content": p}) for p in pieces(done.reasoning or "")]
    chunks += [_chunk(done, {"content": _content(done, p)}) for p in pieces(done.content)]
    if done.web_search is not None:
        if not chunks:
            chunks.append(_chunk(done, {"content": ""}))
        chunks[0]["web_search"] = done.web_search
    finish = fault.finish_reason if fault is not None and fault.finish_reason else done.finish_reason
    cut_after = fault.cut_after if fault is not None else None
    if cut_after is not None:
        chunks = chunks[:cut_after]
        if not (fault is not None and fault.finish_reason):
            return tuple(sse(c) for c in chunks), True
    events = [*(sse(c) for c in chunks), sse(_final_chunk(done, finish))]
    if not (fault is not None and fault.no_done):
        events.append(sse(b"[DONE]"))
    return tuple(events), False


def _content(done: Completion, text: str) -> str | list[dict[str, str]]:
    """A content field as the model sends it: a string, or GLM-4V's list of text parts."""
    return [{"type": "text", "text": text}] if done.parts else text


def _chunk(done: Completion, delta: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": done.id,
        "created": done.created,
        "model": done.model,
        "choices": [{"index": 0, "delta": {"role": "assistant", **delta}}],
    }


def _final_chunk(done: Completion, finish_reason: str) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": done.id,
        "created": done.created,
        "model": done.model,
        "choices": [
            {"index": 0, "finish_reason": finish_reason, "delta": {"role": "assistant", "content": ""}}
        ],
        "usage": done.usage,
    }
    if finish_reason == "sensitive":
        chunk["content_filter"] = [{"role": "assistant", "level": 1}]
    return chunk


ROUTES: dict[str, Callable[[dict[str, Any], Fault | None, str], Reply]] = {
    "chat/completions": chat_completions,
    "web_search": web_search,
}
