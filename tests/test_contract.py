"""Contract tests: every kind of request our client builds, sent through the server to the fake, holds to
the reference of the platform it goes to; and our Z.AI encoding matches Z.AI's own OpenAPI document.

Cases marked xfail are requests the client builds today that the reference refuses: each reason names
the defect, owned by the slice that fixes it; strict, so a fix that lands shows up as XPASS to flip."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from mcp_server_glm.glm import catalog
from mcp_server_glm.settings import Platform, Settings
from tests.conftest import (
    OUR_AGENT,
    contract_violations,
    in_process,
    over_stdio,
    server_env,
    text_of,
    wav_file,
)
from tests.fake_glm import FakeGLM, reference
from tests.fake_glm.media import PNG
from tests.samples import pdf

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
# The reference beside the repository (it is not part of it): the encoding is compared with it when present.
DOCUMENT_PLACES = (
    REPO.parent / "shared" / "zai-openapi.json",
    REPO.parent.parent / "shared" / "zai-openapi.json",
)


# What the tool answers, in one line, when it refuses a call before sending anything: the request the
# reference would refuse is never built.
VISION_JSON = "json_mode"
VISION_SEARCH = "web_search"
ZAI_CONTENT_SIZE = "content_size"
LEGACY_ASR = "glm-asr-2512"
THINKING_ONLY = "thinking"
CN_INLINE_FILE = "bigmodel takes files by http(s) URL only"
ZAI_MIXED = "Z.AI takes no file parts with images or videos"
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()

WAV = wav_file(b"\x00\x01" * 8000)  # 1 s at 8 kHz
LONG_WAV = wav_file(b"\x00\x01" * 8000 * 35)  # two request-sized pieces


def case(
    platform: str,
    name: str,
    calls: list[tuple[str, dict[str, Any]]],
    route: str,
    refused: str | None = None,
) -> Any:
    """One case: the calls, the route their requests go to, and, when the tool must refuse the call
    locally (what the reference refuses, sent nowhere), a word of its one-line refusal."""
    return pytest.param(platform, calls, route, refused, id=f"{platform}-{name}")


def both(
    name: str,
    calls: list[tuple[str, dict[str, Any]]],
    route: str,
    zai: str | None = None,
    bigmodel: str | None = None,
) -> list[Any]:
    return [case("zai", name, calls, route, zai), case("bigmodel", name, calls, route, bigmodel)]


def chat(**arguments: Any) -> list[tuple[str, dict[str, Any]]]:
    return [("glm_chat", {"prompt": "What is in the news?", **arguments})]


def search(**arguments: Any) -> list[tuple[str, dict[str, Any]]]:
    return [("web_search", {"query": "glm news", **arguments})]


def video(**arguments: Any) -> list[tuple[str, dict[str, Any]]]:
    return [("generate_video", {"wait_seconds": 0, **arguments})]


CHAT = "chat/completions"
CASES = [
    *both("chat-prompt", chat(), CHAT),
    *both(
        "chat-system-and-turns",
        chat(
            system="Be brief.",
            messages=[
                {"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": "Hello Ada."},
            ],
        ),
        CHAT,
    ),
    *both("chat-model", chat(model="glm-4.5-air"), CHAT),
    *both("chat-thinking-on", chat(thinking=True), CHAT),
    *both("chat-thinking-off", chat(thinking=False, model="glm-4.7"), CHAT),
    *both("chat-thinking-off-thinking-only-model", chat(thinking=False), CHAT, THINKING_ONLY, THINKING_ONLY),
    *both("chat-sampling", chat(temperature=0.5, top_p=0.9, max_tokens=100), CHAT),
    *both("chat-temperature-0", chat(temperature=0), CHAT),
    *both("chat-json", chat(json_mode=True), CHAT),
    *both("chat-web-search", chat(web_search=True), CHAT),
    *both("chat-image-url", chat(images=["https://example.com/cat.png"]), CHAT),
    *both("chat-vision-model", chat(images=["https://example.com/cat.png"], model="glm-4.6v-flash"), CHAT),
    *both("chat-image-file", chat(images=["{png}"]), CHAT),
    *both("chat-image-data-url", chat(images=[PNG_DATA_URL]), CHAT),
    *both("chat-video-url", chat(videos=["https://example.com/clip.mp4"]), CHAT),
    case("zai", "chat-video-4.5v", chat(videos=["https://example.com/clip.mp4"], model="glm-4.5v"), CHAT),
    *both("chat-file-url", chat(files=["https://example.com/report.pdf"]), CHAT),
    *both("chat-file-local", chat(files=["{pdf}"]), CHAT, None, CN_INLINE_FILE),
    *both("chat-files-with-images", chat(files=["{pdf}"], images=["{png}"]), CHAT, ZAI_MIXED, CN_INLINE_FILE),
    *both(
        "chat-vision-json",
        chat(images=["https://e.com/a.png"], json_mode=True),
        CHAT,
        VISION_JSON,
        VISION_JSON,
    ),
    *both(
        "chat-vision-search",
        chat(images=["https://e.com/a.png"], web_search=True),
        CHAT,
        VISION_SEARCH,
        VISION_SEARCH,
    ),
    *both("search-defaults", search(), "web_search"),
    *both(
        "search-options",
        search(count=5, domain_filter="www.example.com", recency="oneWeek"),
        "web_search",
    ),
    *both("search-content-size", search(content_size="high"), "web_search", ZAI_CONTENT_SIZE),
    case("zai", "search-engine", search(engine="search-prime"), "web_search"),
    case("bigmodel", "search-engine", search(engine="search_pro"), "web_search"),
    case("bigmodel", "search-sogou", search(engine="search_pro_sogou", count=20), "web_search"),
    *both(
        "image",
        [("generate_image", {"prompt": "a red fox"})],
        "images/generations",
    ),
    *both(
        "image-options",
        [("generate_image", {"prompt": "a fox", "model": "glm-image", "size": "1280x1280", "quality": "hd"})],
        "async/images/generations",  # glm-image waits as a job when the read timeout is short (5 s here)
    ),
    *both("video-prompt", video(prompt="a cat plays"), "videos/generations"),
    *both(
        "video-options",
        video(prompt="a cat", quality="quality", with_audio=True, size="1920x1080", fps=60, duration=10),
        "videos/generations",
    ),
    *both(
        "video-image-url",
        video(image="https://example.com/a.png", prompt="move"),
        "videos/generations",
    ),
    *both("video-local-image", video(image="{png}"), "videos/generations"),
    *both(
        "video-frames",
        video(image=["{png}", "https://example.com/last.png"], prompt="morph", quality="speed"),
        "videos/generations",
    ),
    *both(
        "get-task",
        [*video(prompt="a cat"), ("get_task", {"task_id": "{task}", "wait_seconds": 30})],
        "videos/generations",
    ),
    case(
        "bigmodel",
        "video-vidu-text",
        video(
            model="viduq1-text", prompt="a cat", style="anime", aspect_ratio="1:1", movement_amplitude="auto"
        ),
        "videos/generations",
    ),
    case(
        "bigmodel",
        "video-vidu-image",
        video(model="vidu2-image", image="{png}", with_audio=True),
        "videos/generations",
    ),
    case(
        "bigmodel",
        "video-vidu-reference",
        video(model="vidu2-reference", image=["{png}", "https://example.com/b.png"], aspect_ratio="16:9"),
        "videos/generations",
    ),
    case("zai", "video-vidu", video(model="viduq1-text", prompt="x"), "videos/generations", "BigModel"),
    case(
        "bigmodel",
        "speak",
        [("speak", {"text": "Hello. " * 200, "voice": "xiaochen", "speed": 1.2, "volume": 5})],
        "audio/speech",
    ),
    case("zai", "speak", [("speak", {"text": "Hello."})], "audio/speech", "BigModel"),
    *both("transcribe", [("transcribe", {"file": "{wav}"})], "audio/transcriptions"),
    *both(
        "transcribe-prompt-hotwords",
        [("transcribe", {"file": "{wav}", "prompt": "Earlier: GLM.", "hotwords": ["GLM", "Zhipu"]})],
        "audio/transcriptions",
    ),
    *both("transcribe-pieces", [("transcribe", {"file": "{long_wav}"})], "audio/transcriptions"),
    *both(
        "transcribe-legacy-model",
        [("transcribe", {"file": "{wav}", "model": "glm-asr"})],
        "audio/transcriptions",
        LEGACY_ASR,
        LEGACY_ASR,
    ),
]


def _filled(value: Any, files: dict[str, str], task: str | None) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        key = value[1:-1]
        return task if key == "task" else files[key]
    if isinstance(value, list):
        return [_filled(v, files, task) for v in value]
    return value


def _ours(fake: FakeGLM) -> list[str]:
    return [
        r.route
        for r in fake.requests
        if r.method == "POST" and r.headers.get("user-agent", "").startswith(OUR_AGENT)
    ]


@pytest.mark.parametrize(("platform", "calls", "route", "refused"), CASES)
async def test_request_holds_to_the_reference(
    fake: FakeGLM,
    isolated_dirs: Path,
    platform: str,
    calls: list[tuple[str, dict[str, Any]]],
    route: str,
    refused: str | None,
) -> None:
    """The calls' requests break no rule of the platform's reference: each sound case reaches `route`
    and succeeds; a call the reference forbids is refused in one line before anything is sent."""
    fake.platform = platform
    files = {
        "png": isolated_dirs / "cat.png",
        "pdf": isolated_dirs / "report.pdf",
        "wav": isolated_dirs / "a.wav",
        "long_wav": isolated_dirs / "b.wav",
    }
    files["png"].write_bytes(PNG)
    files["pdf"].write_bytes(pdf(2))
    files["wav"].write_bytes(WAV)
    files["long_wav"].write_bytes(LONG_WAV)
    task: str | None = None
    async with in_process(fake) as client:
        for tool, arguments in calls:
            filled = {
                k: _filled(v, {k: str(p) for k, p in files.items()}, task) for k, v in arguments.items()
            }
            result = await client.call_tool(tool, filled)
            if isinstance(result.structured_content, dict):
                task = result.structured_content.get("task_id", task)
    assert contract_violations(fake, names=True) == []
    if refused is None:
        assert route in _ours(fake), "the call sent no request to " + route
        assert not result.is_error, text_of(result)
    else:
        assert result.is_error
        assert refused in text_of(result)
        assert "\n" not in text_of(result)
        assert route not in _ours(fake)


@pytest.mark.slow
async def test_installed_server_over_stdio_holds_to_the_reference(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "a.wav"
    audio.write_bytes(WAV)
    env = server_env(fake)
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "glm_chat",
            {"prompt": "hi", "model": "glm-4.7", "thinking": False, "max_tokens": 50, "web_search": True},
        ),
        ("web_search", {"query": "glm", "count": 3, "recency": "oneDay"}),
        ("generate_video", {"prompt": "a cat", "wait_seconds": 0}),
        ("transcribe", {"file": str(audio), "hotwords": ["GLM"]}),
    ]
    async with over_stdio(env, isolated_dirs.parent / "stderr.txt") as client:
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, text_of(result)
    assert sorted(set(_ours(fake))) == [
        "audio/transcriptions",
        "chat/completions",
        "videos/generations",
        "web_search",
    ]
    assert contract_violations(fake, names=True) == []


# ---------------------------------------------------------------- the names the client offers

KIND_ROUTES = {
    "chat": ("chat/completions", 0),  # the text family
    "vision": ("chat/completions", 1),  # the vision family
    "image": ("images/generations", None),
    "video": ("videos/generations", None),
    "asr": ("audio/transcriptions", None),
    "ocr": ("layout_parsing", None),
    "tts": ("audio/speech", None),
    "embedding": ("embeddings", None),
    "rerank": ("rerank", None),
}


def _unaccepted(platform: str, name: str, kind: str) -> str | None:
    """Why the reference of `platform` refuses model `name` of `kind`, or None when it takes it."""
    route_name, family_index = KIND_ROUTES[kind]
    found = reference.route(platform, route_name)
    assert found is not None
    family = found.family(name)
    if family is None:
        return f"{name} ({kind}) is not a model of {route_name} on {platform}"
    if family_index is not None and found.families.index(family) != family_index:
        return f"{name} is listed as {kind} but {platform}'s reference has it in the other chat family"
    return None


def test_defaults_are_models_of_their_platform() -> None:
    for platform in reference.PLATFORMS:
        settings = Settings(api_key=SecretStr("k"), platform=cast(Platform, platform))
        named = {
            "chat": settings.default_chat_model,
            "vision": settings.default_vision_model,
            "image": settings.image_model,
            "video": settings.video_model,
            "asr": settings.asr_model,
        }
        for kind, name in [*named.items(), *catalog.DEFAULTS[settings.platform].items()]:
            assert _unaccepted(platform, name, kind) is None
        assert (
            settings.default_search_engine
            in reference.schema(platform, "web_search")["properties"]["search_engine"]["enum"]
        )
        chat_engines = reference.schema(platform, "chat/completions", settings.default_chat_model)[
            "properties"
        ]["tools"]
        assert settings.default_chat_search_engine in json.dumps(chat_engines)


def test_catalogue_lists_only_models_its_platforms_accept() -> None:
    wrong = [
        why
        for model in catalog.MODELS
        for platform in model.platforms
        if (why := _unaccepted(platform, model.name, model.kind)) is not None
    ]
    assert wrong == []


def test_catalogue_tokenizer_models_are_the_references() -> None:
    for platform in reference.PLATFORMS:
        listed = {m.name for m in catalog.MODELS if m.tokenizer and m.on(platform)}
        assert listed == set(reference.schema(platform, "tokenizer")["properties"]["model"]["enum"])


# ---------------------------------------------------------------- the encoding itself


def _object_nodes(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "properties" in node and node.get("type") == "object":
            found.append((path, node))
        for key, value in node.items():
            found += _object_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _object_nodes(value, f"{path}/{index}")
    return found


def test_every_schema_is_valid_and_closed() -> None:
    for platform in reference.PLATFORMS:
        for name, found in reference.REFERENCE[platform].items():
            for family in found.families:
                Draft202012Validator.check_schema(family.schema)
                for path, node in _object_nodes(family.schema):
                    union = "allOf" in node and all("if" in part or "anyOf" in part for part in node["allOf"])
                    closed = node.get("additionalProperties") is False or (union and "required" in node)
                    assert closed, f"{platform} {name} {family.models[:1]} {path} is open"


# ---------------------------------------------------------------- our Z.AI encoding against Z.AI's document

COMPARED = (
    "type",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)
# Where our encoding knowingly differs from the document, and why.
DEVIATIONS = {
    # ChatThinking: with clear_thinking false, earlier turns' reasoning_content must be sent back.
    ("chat/completions", "glm-5.3", "messages[]<assistant> properties"),
    ("chat/completions", "glm-5.3", "messages[]<assistant>.reasoning_content"),
    ("chat/completions", "glm-5.3-flashx", "messages[]<assistant> properties"),
    ("chat/completions", "glm-5.3-flashx", "messages[]<assistant>.reasoning_content"),
    ("tokenizer", "glm-4.6", "messages[]<assistant> properties"),
    ("tokenizer", "glm-4.6", "messages[]<assistant>.reasoning_content"),
    # AudioTranscriptionRequest requires file, and says "only one of file_base64 or file needs to be
    # provided": we require one of the two.
    ("audio/transcriptions", "glm-asr-2512", " required"),
}


def _document() -> dict[str, Any]:
    for place in DOCUMENT_PLACES:
        if place.exists():
            loaded: dict[str, Any] = json.loads(place.read_text(encoding="utf-8"))
            return loaded
    pytest.skip(
        "Z.AI's OpenAPI document is not here (looked for "
        + ", ".join(str(p) for p in DOCUMENT_PLACES)
        + "): our Z.AI encoding was not compared with it"
    )


class Flattener:
    """A request schema as facts per field path, the same for the document's oneOf/anyOf/allOf/$ref
    and for our if/then unions and type lists: `messages[]<user>.content<array>[]<image_url>.image_url`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.facts: dict[str, dict[str, Any]] = {}

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
        for key in ("oneOf", "anyOf"):
            if key in node and len(node[key]) == 1:
                rest = {k: v for k, v in node.items() if k != key}
                node = self.resolve({**rest, **self.resolve(node[key][0])})
        parts = node.get("allOf", [])
        plain = [self.resolve(p) for p in parts if "if" not in p and not _only_required(p)]
        if plain:
            merged = {k: v for k, v in node.items() if k != "allOf"}
            kept = [p for p in parts if "if" in p]
            if kept:
                merged["allOf"] = kept
            for part in plain:
                merged.setdefault("type", part.get("type"))
                merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
                merged["required"] = [*merged.get("required", []), *part.get("required", [])]
            node = merged
        return node

    def branches(self, node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
        for key in ("oneOf", "anyOf"):
            if key in node and not _only_required(node):
                return [(self.tag(self.resolve(b)), self.resolve(b)) for b in node[key]]
        unions = [p for p in node.get("allOf", []) if "if" in p]
        if unions:
            return [
                (str(next(iter(p["if"]["properties"].values()))["const"]), self.resolve(p["then"]))
                for p in unions
            ]
        if isinstance(node.get("type"), list):
            return [
                (t, {"type": t, **({"items": node["items"]} if t == "array" else {})}) for t in node["type"]
            ]
        return None

    def tag(self, branch: dict[str, Any]) -> str:
        for key in ("role", "type"):
            values = self.resolve(branch.get("properties", {}).get(key, {})).get("enum", [])
            if len(values) == 1:
                return str(values[0])
        return str(branch.get("type"))

    def walk(self, node: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
        node = self.resolve(node)
        branches = self.branches(node)
        if branches is not None:
            tags = {tag for tag, _ in branches}  # branches of one tag differ only in what we do not compare
            for tag, branch in branches[: 1 if len(tags) == 1 else None]:
                self.walk(branch, f"{path}<{tag}>" if len(tags) > 1 else path)
            return self.facts
        facts = {key: node[key] for key in COMPARED if key in node}
        if "enum" in facts:
            facts["enum"] = sorted(map(str, facts["enum"]))
        self.facts[path] = facts
        if node.get("type") == "object":
            self.facts[path + " properties"] = {"names": sorted(node.get("properties", {}))}
            self.facts[path + " required"] = {"names": sorted(node.get("required", []))}
        for name, sub in node.get("properties", {}).items():
            self.walk(sub, f"{path}.{name}" if path else name)
        if "items" in node:
            self.walk(node["items"], f"{path}[]")
        return self.facts


def _only_required(node: dict[str, Any]) -> bool:
    """Our `either(...)`: at least one of some fields (the document says so in prose)."""
    return "anyOf" in node and all(set(b) == {"required"} for b in node["anyOf"])


def _differences(document: dict[str, Any], doc_schema: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    theirs = Flattener(document).walk(doc_schema)
    mine = Flattener(document).walk(ours)
    found = []
    for path in sorted(set(theirs) | set(mine)):
        if path not in mine:
            found.append(f"{path}: in the document, not in ours")
        elif path not in theirs:
            found.append(f"{path}: in ours, not in the document")
        elif theirs[path] != mine[path]:
            found.append(f"{path}: document {theirs[path]}, ours {mine[path]}")
    return found


# Routes of the document's host root (not under /paas/v4), and the families of each we encode (the
# agents endpoint also serves the effects and slides agents, which no tool calls).
ROOT_ROUTES = {"v1/agents": {"general_translation"}}


def _document_path(name: str) -> str:
    return f"/{name}" if name in ROOT_ROUTES else f"/paas/v4/{name}"


def _request_schemas(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The request schema(s) of a route in the document: one per model family (its oneOf), only the
    families we encode on a root route."""
    content = document["paths"][_document_path(name)]["post"]["requestBody"]["content"]
    [body] = content.values()
    schema = body["schema"]
    found = list(schema.get("oneOf", [schema]))
    if name not in ROOT_ROUTES:
        return found
    flattener = Flattener(document)
    return [
        s
        for s in found
        if set(flattener.resolve(s)["properties"].get("agent_id", {}).get("enum", [])) & ROOT_ROUTES[name]
    ]


def test_zai_encoding_matches_the_openapi_document() -> None:
    document = _document()
    flattener = Flattener(document)
    unexplained: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for name, found in reference.REFERENCE["zai"].items():
        doc_schemas = _request_schemas(document, name)
        doc_models: set[str] = set()
        for doc_schema in doc_schemas:
            resolved = flattener.resolve(doc_schema)
            models = resolved["properties"].get(found.model_field or "", {}).get("enum", [None])
            doc_models.update(m for m in models if m)
            family = found.family(models[0]) if found.model_field else found.families[0]
            assert family is not None, f"{name}: no family of ours for the document's {models}"
            assert set(family.models) == set(models) or found.model_field is None, name
            key = family.models[0] if family.models else ""
            for line in _differences(document, doc_schema, family.schema):
                where = (name, key, line.partition(":")[0])
                seen.add(where)
                if where not in DEVIATIONS:
                    unexplained.append(f"{name} ({key}) {line}")
        assert doc_models == set(found.models), f"{name}: document {doc_models}, ours {set(found.models)}"
    assert unexplained == []
    assert seen >= DEVIATIONS, f"deviations no longer there: {DEVIATIONS - seen}"


def test_zai_routes_are_the_documents() -> None:
    document = _document()
    documented = {
        path.removeprefix("/paas/v4/") for path in document["paths"] if path.startswith("/paas/v4/")
    } | {name for name in ROOT_ROUTES if f"/{name}" in document["paths"]}
    assert set(reference.REFERENCE["zai"]) <= documented
