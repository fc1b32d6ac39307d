"""The request schemas of every GLM route we call, per platform and model family, as JSON Schema.
The fake refuses what they refuse (`refusal`), and the contract tests hold our client's requests to them.

Z.AI facts come from Z.AI's OpenAPI document (its request schemas, field for field); BigModel facts from
the project's API notes (glm-api.md, §22 first). Every object we define is closed (`additionalProperties:
false`): a field or shape the reference does not define is a violation. Only the schema level lives here
(fields, types, enums, ranges, lengths, required fields); per-model rules (max_tokens per model, images
per model, formats) belong to the route modules. JSON null counts as absent (official SDKs send it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, ValidationError

Schema = dict[str, Any]
PLATFORMS = ("zai", "bigmodel")

# ---------------------------------------------------------------- schema builders

STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
REQUEST_ID: Schema = {"type": "string", "minLength": 6, "maxLength": 64}
USER_ID: Schema = {"type": "string", "minLength": 6, "maxLength": 128}
RECENCY = ("oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit")
# §22 row 1: a chat image is an http(s) URL or bare base64; a data: URL is refused with 1210.
CHAT_IMAGE_URL: Schema = {
    "type": "string",
    "pattern": "^(?!data:)",
    "$comment": "a chat image is an http(s) URL or bare base64, not a data: URL",
}


# §22 row 9: videos and BigModel's files are fetched by URL (no base64); Z.AI's file_data is a full data URL.
WEB_URL: Schema = {"type": "string", "pattern": "^https?://", "$comment": "an http(s) URL, not inline data"}
FILE_DATA: Schema = {
    "type": "string",
    "pattern": "^data:[^;,]+;base64,",
    "$comment": "a data URL, data:<MIME>;base64,<data>",
}


def obj(properties: Mapping[str, Schema], required: Iterable[str] = (), **more: Any) -> Schema:
    """A closed object: only `properties` may appear."""
    schema: Schema = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema.update(more)
    return schema


def enum(*values: Any) -> Schema:
    kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    return {"type": kind, "enum": list(values)}


def string(**limits: Any) -> Schema:
    return {"type": "string", **limits}


def integer(**limits: Any) -> Schema:
    return {"type": "integer", **limits}


def number(**limits: Any) -> Schema:
    return {"type": "number", **limits}


def array(items: Schema, **limits: Any) -> Schema:
    return {"type": "array", "items": items, **limits}


def union(key: str, branches: Mapping[str, Schema]) -> Schema:
    """Objects told apart by `key` (a message's role, a part's type): each value has its own schema."""
    return {
        "type": "object",
        "required": [key],
        "properties": {key: enum(*branches)},
        "allOf": [
            {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": branch}
            for value, branch in branches.items()
        ],
    }


def either(*fields: str) -> Schema:
    """At least one of `fields` is given (and not empty)."""
    return {"anyOf": [{"required": [name]} for name in fields]}


def tagged(key: str, value: str, properties: Mapping[str, Schema], required: Iterable[str] = ()) -> Schema:
    """One branch of a `union`: the tag itself and the branch's own fields."""
    return obj({key: enum(value), **properties}, [key, *required])


# ---------------------------------------------------------------- model families

ZAI_TEXT = (
    "glm-5.3",
    "glm-5.2",
    "glm-5.1",
    "glm-5",
    "glm-4.7",
    "glm-4.7-flash",
    "glm-4.7-flashx",
    "glm-4.6",
    "glm-4.5",
    "glm-4.5-air",
    "glm-4.5-x",
    "glm-4.5-airx",
    "glm-4.5-flash",
    "glm-4-32b-0414-128k",
)
ZAI_VISION = (
    "glm-5.3-flashx",
    "glm-5.3-flash",
    "glm-4.6v",
    "autoglm-phone-multilingual",
    "glm-4.6v-flash",
    "glm-4.6v-flashx",
    "glm-4.5v",
)
# glm-api.md §18.1, §22 row 17 (glm-4.5, glm-4.5-x, glm-4-32b-0414-128k are Z.AI only).
BIGMODEL_TEXT = (
    "glm-5.3",
    "glm-5.2",
    "glm-5.1",
    "glm-5",
    "glm-5-turbo",
    "glm-4.7",
    "glm-4.7-flash",
    "glm-4.7-flashx",
    "glm-4.6",
    "glm-4.5-air",
    "glm-4.5-airx",
    "glm-4.5-flash",
    "glm-4-plus",
    "glm-4-air",
    "glm-4-air-250414",
    "glm-4-airx",
    "glm-4-flash",
    "glm-4-flash-250414",
    "glm-4-flashx",
    "glm-4-flashx-250414",
    "glm-4-long",
    "glm-4",
    "glm-4-0520",
    "glm-z1-air",
    "glm-z1-airx",
    "glm-z1-flash",
    "glm-z1-flashx",
    "charglm-3",
    "charglm-4",
    "emohaa",
    "codegeex-4",
)
# glm-api.md §18.2, §22 row 17 (glm-4.5v is Z.AI only).
BIGMODEL_VISION = (
    "glm-5.3-flashx",
    "glm-5.3-flash",
    "glm-5v-turbo",
    "glm-4.6v",
    "glm-4.6v-flashx",
    "glm-4.6v-flash",
    "glm-4v-plus-0111",
    "glm-4v-plus",
    "glm-4v",
    "glm-4v-flash",
    "glm-4.1v-thinking-flash",
    "glm-4.1v-thinking-flashx",
)
BIGMODEL_ENGINES = ("search_std", "search_pro", "search_pro_sogou", "search_pro_quark")
VIDEO_SIZES = ("1280x720", "720x1280", "1024x1024", "1920x1080", "1080x1920", "2048x1080", "3840x2160")
MOVEMENT = enum("auto", "small", "medium", "large")
ASPECT = enum("16:9", "9:16", "1:1")


# ---------------------------------------------------------------- chat/completions

THINKING = obj({"type": enum("enabled", "disabled"), "clear_thinking": BOOLEAN})
FUNCTION = obj(
    {
        "name": string(minLength=1, maxLength=64, pattern="^[a-zA-Z0-9_-]+$"),
        "description": STRING,
        "parameters": {"type": "object", "additionalProperties": True},  # the caller's own JSON Schema
    },
    ["name", "description", "parameters"],
)
FUNCTION_BRANCH = tagged("type", "function", {"function": FUNCTION}, ["function"])
FUNCTION_TOOL = union("type", {"function": FUNCTION_BRANCH})
TOOL_CALL = obj(
    {
        "id": STRING,
        "type": enum("function", "web_search", "retrieval"),
        "function": obj({"name": STRING, "arguments": STRING}, ["name", "arguments"]),
    },
    ["id", "type"],
)
# ChatThinking: with clear_thinking false "you must forward the full ... reasoning_content in messages",
# so an assistant turn may carry it although the message schemas do not list it.
REASONING = {"reasoning_content": STRING}


def _search_tool(engines: tuple[str, ...]) -> Schema:
    return obj(
        {
            "enable": BOOLEAN,
            "search_engine": enum(*engines),
            "search_query": STRING,
            "count": integer(minimum=1, maximum=50),
            "search_domain_filter": STRING,
            "search_recency_filter": enum(*RECENCY),
            "content_size": enum("medium", "high"),
            "result_sequence": enum("before", "after"),
            "search_result": BOOLEAN,
            "require_search": BOOLEAN,
            "search_prompt": STRING,
        },
        ["search_engine"],
    )


def _parts(platform: str) -> Schema:
    """The parts of a vision user message."""
    url = obj({"url": WEB_URL}, ["url"])
    image = obj({"url": CHAT_IMAGE_URL}, ["url"])
    branches = {
        "text": tagged("type", "text", {"text": STRING}, ["text"]),
        "image_url": tagged("type", "image_url", {"image_url": image}, ["image_url"]),
        "video_url": tagged("type", "video_url", {"video_url": url}, ["video_url"]),
    }
    if platform == "zai":
        # "supports one of file_id, file_url, or file_data": exactly one (api.py checks it).
        file = obj({"file_id": STRING, "file_url": WEB_URL, "file_data": FILE_DATA, "filename": STRING})
        branches["file"] = tagged("type", "file", {"file": file}, ["file"])
    else:  # §22 row 9: BigModel takes file_url parts only
        branches["file_url"] = tagged("type", "file_url", {"file_url": url}, ["file_url"])
    return union("type", branches)


def _text_messages() -> Schema:
    return union(
        "role",
        {
            "user": tagged("role", "user", {"content": STRING}, ["content"]),
            "system": tagged("role", "system", {"content": STRING}, ["content"]),
            "assistant": tagged(
                "role", "assistant", {"content": STRING, "tool_calls": array(TOOL_CALL), **REASONING}
            ),
            "tool": tagged(
                "role", "tool", {"content": STRING, "tool_call_id": STRING}, ["content", "tool_call_id"]
            ),
        },
    )


def _vision_messages(platform: str) -> Schema:
    return union(
        "role",
        {
            "user": tagged(
                "role",
                "user",
                {"content": {"type": ["array", "string"], "items": _parts(platform)}},
                ["content"],
            ),
            "system": tagged("role", "system", {"content": STRING}, ["content"]),
            "assistant": tagged("role", "assistant", {"content": STRING, **REASONING}),
        },
    )


def _sampling() -> dict[str, Schema]:
    return {
        "do_sample": BOOLEAN,
        "stream": BOOLEAN,
        "thinking": THINKING,
        "temperature": number(minimum=0.0, maximum=1.0),
        "top_p": number(minimum=0.01, maximum=1.0),
        "max_tokens": integer(minimum=1, maximum=131072),
    }


def _chat_text(platform: str) -> Schema:
    tools: dict[str, Schema] = {
        "function": FUNCTION_BRANCH,
        "retrieval": tagged(
            "type",
            "retrieval",
            {"retrieval": obj({"knowledge_id": STRING, "prompt_template": STRING}, ["knowledge_id"])},
            ["retrieval"],
        ),
    }
    extra: dict[str, Schema] = {}
    models: tuple[str, ...] = ZAI_TEXT
    engines: tuple[str, ...] = ("search_pro_jina",)
    if platform == "bigmodel":
        models, engines = BIGMODEL_TEXT, BIGMODEL_ENGINES
        mcp = obj(
            {
                "server_label": STRING,
                "server_url": STRING,
                "transport_type": STRING,
                "allowed_tools": array(STRING),
                "headers": {"type": "object", "additionalProperties": STRING},
            },
            ["server_label"],
        )
        tools["mcp"] = tagged("type", "mcp", {"mcp": mcp}, ["mcp"])
        role_play = ("user_info", "bot_info", "bot_name", "user_name")
        extra["meta"] = obj(dict.fromkeys(role_play, STRING))  # charglm role play (§3.1)
    tools["web_search"] = tagged("type", "web_search", {"web_search": _search_tool(engines)}, ["web_search"])
    return obj(
        {
            "model": enum(*models),
            "messages": array(_text_messages(), minItems=1),
            **_sampling(),
            "reasoning_effort": enum("max", "xhigh", "high", "medium", "low", "minimal", "none"),
            "tool_stream": BOOLEAN,
            "tools": array(union("type", tools)),
            "tool_choice": enum("auto"),
            "stop": array(STRING, maxItems=4),
            "response_format": obj({"type": enum("text", "json_object")}, ["type"]),
            "request_id": REQUEST_ID,
            "user_id": USER_ID,
            **extra,
        },
        ["model", "messages"],
    )


def _chat_vision(platform: str) -> Schema:
    """§22 row 5: no response_format, and function tools only."""
    return obj(
        {
            "model": enum(*(ZAI_VISION if platform == "zai" else BIGMODEL_VISION)),
            "messages": array(_vision_messages(platform), minItems=1),
            **_sampling(),
            "reasoning_effort": enum("max", "high", "low"),
            "tools": array(FUNCTION_TOOL),
            "tool_choice": enum("auto"),
            "stop": array(STRING, maxItems=4),
            "request_id": REQUEST_ID,
            "user_id": USER_ID,
        },
        ["model", "messages"],
    )


# ---------------------------------------------------------------- web_search, images, videos, ASR


def _web_search(platform: str) -> Schema:
    common = {
        "count": integer(minimum=1, maximum=50),
        "search_domain_filter": STRING,
        "search_recency_filter": enum(*RECENCY),
        "request_id": REQUEST_ID,
        "user_id": USER_ID,
    }
    if platform == "zai":
        return obj(
            {"search_engine": enum("search-prime"), "search_query": STRING, **common},
            ["search_engine", "search_query"],
        )
    sogou = {  # §22 row 10: search_pro_sogou takes count 10, 20, 30, 40 or 50
        "if": {"properties": {"search_engine": {"const": "search_pro_sogou"}}, "required": ["search_engine"]},
        "then": {"properties": {"count": enum(10, 20, 30, 40, 50)}},
    }
    return obj(
        {
            "search_engine": enum(*BIGMODEL_ENGINES),
            "search_query": string(maxLength=70),
            "search_intent": BOOLEAN,
            "content_size": enum("medium", "high"),
            **common,
        },
        ["search_engine", "search_query", "search_intent"],
        allOf=[sogou],
    )


def _images(platform: str) -> Schema:
    models: tuple[str, ...] = ("glm-image", "cogview-4-250304")
    if platform == "bigmodel":
        models += ("cogview-4", "cogview-3-flash")
    return obj(
        {
            "model": enum(*models),
            "prompt": STRING,
            "quality": enum("hd", "standard"),
            "size": STRING,
            "user_id": USER_ID,
            **_watermark(platform),
        },
        ["model", "prompt"],
    )


def _async_images(platform: str) -> Schema:
    return obj(
        {
            "model": enum("glm-image"),
            "prompt": STRING,
            "quality": enum("hd"),
            "size": STRING,
            "user_id": USER_ID,
            **_watermark(platform),
        },
        ["model", "prompt"],
    )


def _watermark(platform: str) -> dict[str, Schema]:
    """BigModel's image routes take watermark_enabled (glm-api.md §7.1 "bool (SDK, CN docs)", §7.2 the
    async body); Z.AI's CreateImageRequest and AsyncCreateImageRequest do not define it."""
    return {"watermark_enabled": BOOLEAN} if platform == "bigmodel" else {}


def _cogvideox_3(platform: str) -> Schema:
    # Z.AI's CogVideoX3Request takes image_url as an array only (one start image is a list of one), and
    # its user_id has no length keywords (the description's 6 to 128 is the route's rule, media.py);
    # BigModel's reference takes a string or an array.
    image_url = array(STRING) if platform == "zai" else {"type": ["string", "array"], "items": STRING}
    # BigModel's video reference (docs.bigmodel.cn, 生成视频(异步), the CogVideoX-3 body) defines
    # watermark_enabled; glm-api.md §8 lists it among the SDK's extras, Z.AI's CogVideoX3Request lacks it.
    extra = {"watermark_enabled": BOOLEAN} if platform == "bigmodel" else {}
    return obj(
        {
            "model": enum("cogvideox-3"),
            "prompt": STRING,
            "quality": enum("speed", "quality"),
            "with_audio": BOOLEAN,
            "image_url": image_url,
            "size": enum(*VIDEO_SIZES),
            "fps": enum(30, 60),
            "duration": enum(5, 10),
            "request_id": REQUEST_ID,
            "user_id": STRING if platform == "zai" else USER_ID,
            **extra,
        },
        ["model"],
        allOf=[either("prompt", "image_url")],
    )


def _cogvideox_2(model: str) -> Schema:
    """cogvideox-2 and cogvideox-flash (BigModel, glm-api.md §8): no duration, one image."""
    return obj(
        {
            "model": enum(model),
            "prompt": STRING,
            "quality": enum("speed", "quality"),
            "with_audio": BOOLEAN,
            "image_url": STRING,
            "size": STRING,
            "fps": enum(30, 60),
            "request_id": REQUEST_ID,
            "user_id": USER_ID,
        },
        ["model"],
        allOf=[either("prompt", "image_url")],
    )


def _vidu(model: str) -> Schema:
    """The Vidu models (BigModel, glm-api.md §8 and §22 row 13)."""
    q1 = model.startswith("viduq1")
    fields: dict[str, Schema] = {
        "model": enum(model),
        "prompt": STRING,
        "duration": enum(5 if q1 else 4),
        "size": enum("1920x1080" if q1 else "1280x720"),
        "movement_amplitude": MOVEMENT,
        "request_id": REQUEST_ID,
        "user_id": USER_ID,
    }
    required = ["model", "image_url"]
    if model == "viduq1-text":
        fields.update(style=enum("general", "anime"), aspect_ratio=ASPECT)
        required = ["model", "prompt"]
    else:
        fields["with_audio"] = BOOLEAN
        if model.endswith("-image"):
            fields["image_url"] = STRING
        elif model.endswith("-start-end"):
            fields["image_url"] = array(STRING, minItems=2, maxItems=2)
            if not q1:
                fields["size"] = enum("1280x720", "480x360")
        else:  # vidu2-reference
            fields.update(image_url=array(STRING, minItems=1, maxItems=3), aspect_ratio=ASPECT)
    return obj(fields, required)


ASR = obj(
    {
        "file": STRING,  # a file part (see form_payload)
        "file_base64": STRING,
        "model": enum("glm-asr-2512"),
        "prompt": STRING,
        "hotwords": array(STRING, maxItems=100),
        "stream": BOOLEAN,
        "request_id": REQUEST_ID,
        "user_id": USER_ID,
    },
    ["model"],
    allOf=[either("file", "file_base64")],  # "only one of file_base64 or file needs to be provided"
)

# ---------------------------------------------------------------- the routes that come next (§22)


def _reader(platform: str) -> Schema:
    flags = ("no_cache", "retain_images", "no_gfm", "keep_img_data_url", "with_images_summary")
    return obj(
        {
            "url": STRING,
            "timeout": integer(),
            "return_format": STRING if platform == "zai" else enum("markdown", "text"),
            **dict.fromkeys((*flags, "with_links_summary"), BOOLEAN),
        },
        ["url"],
    )


LAYOUT_PARSING = obj(
    {
        "model": enum("glm-ocr"),
        "file": STRING,
        "return_crop_images": BOOLEAN,
        "need_layout_visualization": BOOLEAN,
        "start_page_id": integer(minimum=1),
        "end_page_id": integer(minimum=1),
        "request_id": REQUEST_ID,
        "user_id": USER_ID,
    },
    ["model", "file"],
)


def _tokenizer(platform: str) -> Schema:
    # glm-4.5 is a Z.AI-only model (§22 row 17), so BigModel's tokenizer is left the other two.
    models = ("glm-4.6", "glm-4.6v", "glm-4.5") if platform == "zai" else ("glm-4.6", "glm-4.6v")
    return obj(
        {
            "model": enum(*models),
            "messages": array(_vision_messages(platform), minItems=1),
            "tools": array(FUNCTION_TOOL),
            "request_id": REQUEST_ID,
            "user_id": USER_ID,
        },
        ["model", "messages"],
    )


SPEECH = obj(
    {
        "model": enum("glm-tts"),
        "input": string(maxLength=1024),
        "voice": STRING,  # a system voice (tongtong, chuichui, ...) or a cloned voice's id
        "response_format": enum("wav", "pcm"),
        "speed": number(minimum=0.5, maximum=2),
        "volume": number(exclusiveMinimum=0, maximum=10),
        "stream": BOOLEAN,
        "encode_format": enum("base64", "hex"),
        "watermark_enabled": BOOLEAN,
        "request_id": REQUEST_ID,
        "user_id": USER_ID,
    },
    ["model", "input"],
)


def _embeddings(model: str) -> Schema:
    fields: dict[str, Schema] = {"model": enum(model)}
    if model == "embedding-3":
        fields["input"] = {"type": ["string", "array"], "items": STRING, "maxItems": 64}
        fields["dimensions"] = enum(256, 512, 1024, 2048)
    else:
        fields["input"] = {"type": ["string", "array"], "items": STRING}
    return obj(fields, ["model", "input"])


RERANK = obj(
    {
        "model": enum("rerank"),
        "query": string(maxLength=4096),
        "documents": array(string(maxLength=4096), maxItems=128),
        "top_n": integer(minimum=1),
        "return_documents": BOOLEAN,
        "return_raw_scores": BOOLEAN,
    },
    ["model", "query", "documents"],
)

# The translation agent (ZOAS TranslationAgentRequest; CN agent-api): languages, strategies.
SOURCE_LANGS = (
    "auto", "zh-CN", "zh-TW", "wyw", "yue", "en", "ja", "ko", "fr", "de", "es", "ru", "pt", "it", "ar", "hi",
    "bg", "cs", "da", "el", "et", "fi", "hu", "id", "lt", "lv", "nl", "no", "pl", "ro", "sk", "sl", "sv",
    "th", "tr", "uk", "vi", "my", "ms", "Pinyin", "IPA",
)  # fmt: skip
TARGET_LANGS = (*SOURCE_LANGS[1:6], "en-GB", "en-US", *SOURCE_LANGS[6:])
STRATEGIES = ("general", "paraphrase", "two_step", "three_step", "reflection")


def _translation_agent(platform: str) -> Schema:
    part = obj({"type": enum("text"), "text": STRING}, ["type", "text"])
    message = obj({"role": enum("user"), "content": array(part)}, ["role", "content"])
    variables = obj(
        {
            "source_lang": enum(*SOURCE_LANGS),
            "target_lang": enum(*TARGET_LANGS),
            "glossary": STRING,
            "strategy": enum(*STRATEGIES),
            "strategy_config": obj(
                {"general": obj({"suggestion": STRING}), "cot": obj({"reason_lang": enum("from", "to")})}
            ),
        }
    )
    # BigModel's agent body also takes request_id and user_id (glm-api.md §16.1); Z.AI's document lacks them.
    extra = {"request_id": REQUEST_ID, "user_id": USER_ID} if platform == "bigmodel" else {}
    return obj(
        {
            "agent_id": enum("general_translation"),
            "stream": BOOLEAN,
            "messages": array(message),
            "custom_variables": variables,
            **extra,
        },
        ["agent_id", "messages"],
    )


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Family:
    """Models of one route that share a request schema."""

    models: tuple[str, ...]
    schema: Schema


@dataclass(frozen=True)
class Route:
    """One route on one platform: the field naming its model (None: no model), and its families."""

    model_field: str | None
    families: tuple[Family, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m for family in self.families for m in family.models)

    def family(self, model: str | None) -> Family | None:
        if self.model_field is None:
            return self.families[0]
        return next((f for f in self.families if model in f.models), None)


def _single(schema: Schema, model_field: str | None = "model") -> Route:
    """A route whose models (or engines) all share one schema."""
    models = tuple(schema["properties"][model_field]["enum"]) if model_field else ()
    return Route(model_field, (Family(models, schema),))


def _per_model(schemas: Iterable[Schema]) -> Route:
    return Route("model", tuple(Family(tuple(s["properties"]["model"]["enum"]), s) for s in schemas))


def _platform(platform: str) -> dict[str, Route]:
    chat = _per_model((_chat_text(platform), _chat_vision(platform)))
    routes = {
        "chat/completions": chat,
        "web_search": _single(_web_search(platform), "search_engine"),
        "images/generations": _single(_images(platform)),
        "async/images/generations": _single(_async_images(platform)),
        "audio/transcriptions": _single(ASR),
        "reader": _single(_reader(platform), None),
        "layout_parsing": _single(LAYOUT_PARSING),
        "tokenizer": _single(_tokenizer(platform)),
        "v1/agents": _single(_translation_agent(platform), "agent_id"),
    }
    if platform == "zai":
        routes["videos/generations"] = _per_model([_cogvideox_3("zai")])
        return routes
    vidu = ("viduq1-text", "viduq1-image", "viduq1-start-end")
    vidu2 = ("vidu2-image", "vidu2-start-end", "vidu2-reference")
    routes["videos/generations"] = _per_model(
        [_cogvideox_3("bigmodel"), _cogvideox_2("cogvideox-2"), _cogvideox_2("cogvideox-flash")]
        + [_vidu(model) for model in (*vidu, *vidu2)]
    )
    routes["audio/speech"] = _single(SPEECH)
    routes["embeddings"] = _per_model([_embeddings("embedding-3"), _embeddings("embedding-2")])
    routes["rerank"] = _single(RERANK)
    return routes


REFERENCE: dict[str, dict[str, Route]] = {platform: _platform(platform) for platform in PLATFORMS}
FORM_ROUTES = frozenset({"audio/transcriptions"})  # multipart/form-data; every other route takes JSON
ROUTES = frozenset(route for routes in REFERENCE.values() for route in routes)
# Messages the real API is known to give for a missing field (glm-api.md §5: measured).
MISSING_MESSAGES = {("web_search", "search_engine"): "search_engine:The search_engine cannot both be empty."}
# Values out of an enum the real API refuses with 1214 and its own text, not 1210 (glm-api.md §10.1).
VALUE_MESSAGES = {("audio/speech", "response_format"): "不支持当前response_format值"}


def route(platform: str, name: str) -> Route | None:
    return REFERENCE[platform].get(name)


def schema(platform: str, name: str, model: str | None = None) -> Schema:
    """The request schema of a route on a platform (for `model`, on routes with model families)."""
    found = REFERENCE[platform][name]
    family = found.family(model) if model is not None else found.families[0]
    if family is None:
        raise KeyError(f"{model} is not a model of {name} on {platform}")
    return family.schema


# ---------------------------------------------------------------- violations


@dataclass(frozen=True)
class Violation:
    """One way a request breaks the reference; `message` starts with the field's path."""

    path: str
    kind: str  # route, model, missing, empty, value, unknown, type, enum, range, format
    message: str

    @property
    def status(self) -> int:
        return 404 if self.kind == "route" else 400

    @property
    def code(self) -> str:
        codes = {"route": "1222", "model": "1211", "missing": "1214", "empty": "1214", "value": "1214"}
        return codes.get(self.kind, "1210")


@dataclass(frozen=True)
class Refusal:
    """What the platform answers a request that breaks its reference (message None: the code's own)."""

    status: int
    code: str
    message: str | None


def _required(
    validator: Any, required: list[str], instance: Any, _schema: Schema
) -> Iterator[ValidationError]:
    """`required`, where an empty string, array or object counts as missing (1214 "cannot be empty")."""
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        if name not in instance:
            yield ValidationError("missing", path=(name,))
        elif instance[name] in ("", [], {}):
            yield ValidationError("empty", path=(name,), instance=instance[name])


Validator = jsonschema.validators.extend(Draft202012Validator, {"required": _required})


@cache
def _validator(platform: str, name: str, index: int) -> Any:
    family = REFERENCE[platform][name].families[index]
    return Validator(family.schema)


def without_nulls(value: Any) -> Any:
    """The value with every null member of an object dropped (null is absent)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def violations(platform: str, name: str, payload: Any) -> list[Violation]:
    """Every way `payload` (a JSON body, or `form_payload` of a multipart one) breaks the reference of
    route `name` on `platform`; the first one is the one the platform reports."""
    found = REFERENCE[platform].get(name)
    if found is None:
        return [Violation("", "route", f"The API {name} does not exist on {platform}.")]
    if not isinstance(payload, dict):
        return [Violation("", "type", "The request body must be a JSON object.")]
    payload = without_nulls(payload)
    field = found.model_field
    model = payload.get(field) if field else None
    if field is not None:
        if model in (None, ""):
            return [_missing(name, field, "missing" if model is None else "empty")]
        if not isinstance(model, str):
            return [Violation(field, "type", f"{field}:The {field} must be a string.")]
        model = model.lower()
        payload = {**payload, field: model}
    family = found.family(model)
    if family is None:
        what = f"{field}:Unknown {field} {model!r} for {name} on {platform}."
        return [Violation(field or "", "model", what)]
    validator = _validator(platform, name, found.families.index(family))
    errors = sorted(validator.iter_errors(payload), key=lambda e: _PRIORITY.get(e.validator, 2))
    found_all = [v for error in errors for v in _explain(name, error)]
    return list(dict.fromkeys(found_all))  # a non-object item breaks every branch of its union alike


def refusal(platform: str, name: str, payload: Any) -> Refusal | None:
    """The refusal the platform gives this request at the schema level, or None if it passes."""
    found = violations(platform, name, payload)
    if not found:
        return None
    first = found[0]
    return Refusal(first.status, first.code, None if first.kind == "model" else first.message)


_PRIORITY = {"required": 0, "anyOf": 0, "additionalProperties": 1}
_TYPES = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "array": "an array",
    "object": "an object",
}


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _missing(route_name: str, path: str, kind: str) -> Violation:
    leaf = path.rpartition(".")[2]
    message = MISSING_MESSAGES.get((route_name, path)) or f"{path}:The {leaf} cannot be empty."
    return Violation(path, kind, message)


def _explain(route_name: str, error: ValidationError) -> Iterator[Violation]:
    parts = list(error.absolute_path)
    path = _path(parts)
    leaf = next((str(p) for p in reversed(parts) if isinstance(p, str)), path)
    keyword, value = error.validator, error.validator_value
    if keyword == "required":
        yield _missing(route_name, path, str(error.message))
    elif keyword == "anyOf" and all(sub.validator == "required" for sub in error.context or ()):
        names = [str(s["required"][0]) for s in value]
        first = _path([*parts, names[0]])
        yield Violation(first, "missing", f"{first}:The {' and '.join(names)} cannot both be empty.")
    elif keyword == "additionalProperties":
        known = error.schema.get("properties", {})
        for extra in (k for k in error.instance if k not in known):
            where = _path([*parts, extra])
            text = f"{where}:The parameter {extra} is not defined for this request."
            yield Violation(where, "unknown", text)
    elif keyword == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_TYPES.get(k, k) for k in kinds)
        yield Violation(path, "type", f"{path}:The {leaf} must be {wanted}.")
    elif keyword in ("enum", "const"):
        allowed = value if keyword == "enum" else [value]
        kind = "empty" if error.instance in ("", [], {}) else "enum"
        if (route_name, path) in VALUE_MESSAGES and kind == "enum":
            yield Violation(path, "value", VALUE_MESSAGES[route_name, path])
            return
        options = ", ".join(json.dumps(a) if not isinstance(a, str) else a for a in allowed)
        yield Violation(path, kind, f"{path}:The {leaf} must be one of {options}.")
    elif keyword in ("minItems", "minLength") and error.instance in ("", []):
        yield Violation(path, "empty", f"{path}:The {leaf} cannot be empty.")
    elif keyword in _LIMITS:
        yield Violation(path, "range", f"{path}:The {leaf} must be {_LIMITS[keyword].format(value)}.")
    elif keyword == "pattern":
        what = error.schema.get("$comment") or f"match {value}"
        yield Violation(path, "format", f"{path}:The {leaf} is not accepted: {what}.")
    else:
        yield Violation(path, "format", f"{path}:{error.message}")


_LIMITS = {
    "minimum": "at least {}",
    "maximum": "at most {}",
    "exclusiveMinimum": "more than {}",
    "exclusiveMaximum": "less than {}",
    "minLength": "at least {} characters long",
    "maxLength": "at most {} characters long",
    "minItems": "a list of at least {} items",
    "maxItems": "a list of at most {} items",
}

# ---------------------------------------------------------------- multipart forms


def form_payload(form: Mapping[str, list[str]], files: Mapping[str, bytes]) -> dict[str, Any]:
    """A multipart form as the object its schema describes: file parts as strings naming their size,
    booleans from "true"/"false", hotwords from repeated `hotwords` or `hotwords[]` fields (or a JSON
    array in one), any other repeated field as an array (which no scalar field accepts)."""
    payload: dict[str, Any] = {}
    for name, values in form.items():
        if name in ("hotwords", "hotwords[]"):
            payload.setdefault("hotwords", []).extend(_words(values))
        elif len(values) > 1:
            payload[name] = list(values)
        elif values[0].strip().lower() in ("true", "false") and name in ("stream",):
            payload[name] = values[0].strip().lower() == "true"
        else:
            payload[name] = values[0]
    for name, data in files.items():
        payload[name] = f"<file part of {len(data)} bytes>"
    return payload


def _words(values: list[str]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        found.extend(parsed if isinstance(parsed, list) else [value])
    return found


def payload_of(name: str, body: Any, form: Mapping[str, list[str]], files: Mapping[str, bytes]) -> Any:
    """What a recorded request's body is to its route's schema: the JSON, or the multipart form."""
    return form_payload(form, files) if name in FORM_ROUTES else body
