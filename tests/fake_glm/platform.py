"""The fake's platform tool routes: reader, layout_parsing (GLM-OCR), audio/speech (GLM-TTS), embeddings,
rerank, tokenizer, the translation agent and the Coding Plan quota, each with its per-model rules.

The schema level (fields, types, enums, ranges) is `reference.py`'s, checked before any route here runs;
these routes add what a schema cannot say (page counts, file formats and sizes, token limits, voices).
Test-controlled state arrives in a `Desk` built per request by the server (`FakeGLM.pages` etc.)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import random
import re
import struct
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import reference
from .api import SSE_TYPE, ApiError, Fault, Reply, dump, json_reply, new_id, parse_json_object, sse

# Routes served at the host root (/api/...), outside /api/paas/v4; the agents are also served under the
# paas base, where the official SDKs post them (glm-api.md §16.1).
QUOTA_ROUTE = "monitor/usage/quota/limit"
AGENTS_ROUTE = "v1/agents"
ROOT_ROUTES = frozenset({QUOTA_ROUTE, AGENTS_ROUTE})
# Routes a Coding Plan key without balance may call: only the plan's own quota query.
FREE_ROUTES = frozenset({QUOTA_ROUTE})

# ---------------------------------------------------------------- limits (glm-api.md §6, §10-§14, §22)

# GLM-OCR: pages per request (§22: 100 on BigModel, 30 in Z.AI's document), file sizes.
OCR_PAGES = {"zai": 30, "bigmodel": 100}
OCR_IMAGE_BYTES = 10 * 1024 * 1024
OCR_PDF_BYTES = 50 * 1024 * 1024
OCR_PAGE_TOKENS = 1200  # prompt tokens billed per parsed page (a plausible figure; none is documented)
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# GLM-TTS system voices (§10.1); a cloned voice's id is accepted when the test lists it in `fake.voices`.
TTS_VOICES = frozenset({"tongtong", "chuichui", "xiaochen", "jam", "kazi", "douji", "luodo"})
TTS_RATE = 24000  # Hz, mono, 16-bit PCM
TTS_SECONDS_PER_CHAR = 0.05  # at speed 1: 20 characters a second
# Embeddings: default dimensions and tokens per input (§11, §22: embedding-3 ≤ 3072; CN: embedding-2 512).
EMBEDDING_DIMENSIONS = {"embedding-3": 2048, "embedding-2": 1024}
EMBEDDING_TOKENS = {"embedding-3": 3072, "embedding-2": 512}
TOKENIZER_IMAGE_TOKENS = 1024  # per image part
TOKENIZER_VIDEO_TOKENS = 4096  # per video part
TOKENIZER_MESSAGE_TOKENS = 4  # role and separators of each message


def count_tokens(text: str) -> int:
    """The fake's tokenizer: one token per run of letters or digits, one per other visible character
    (each CJK character, each punctuation mark)."""
    return len(re.findall(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]", text))


# ---------------------------------------------------------------- test-controlled state


@dataclass(frozen=True)
class Page:
    """A web page the reader can fetch: its title and markdown body (links and images are read from the
    markdown), with optional description and publication time."""

    title: str
    markdown: str
    description: str = ""
    published: str | None = None


PageEntry = Page | tuple[str, str] | tuple[str, str, str] | None  # None: the page cannot be reached


@dataclass
class Quota:
    """What the Coding Plan quota query reports for a plan key (`fake.quota`)."""

    level: str = "lite"
    token_percentage: int = 12  # of the 5-hour token window used
    token_reset_ms: int = 1_900_000_000_000
    calls_total: int = 100  # monthly MCP/tool calls
    calls_used: int = 28
    calls_reset_ms: int = 1_902_000_000_000
    call_details: dict[str, int] = field(
        default_factory=lambda: {"search-prime": 20, "web-reader": 8, "zread": 0}
    )


@dataclass(frozen=True)
class Desk:
    """The platform routes' view of the fake for one request (the dicts and lists are the fake's own)."""

    root_url: str
    platform: str
    pages: dict[str, PageEntry]
    documents: dict[str, bytes]
    voices: set[str]
    quota: Quota
    quota_available: bool
    coding_keys: frozenset[str]
    parsed_pages: list[tuple[int, int]]

    def check_base(self, route: str, base: str) -> None:
        """The host root serves the agents and the quota query only; the quota lives nowhere else."""
        if (base == "root" and route not in ROOT_ROUTES) or (base != "root" and route == QUOTA_ROUTE):
            raise ApiError(404, "1222", f"The API {route} does not exist.")

    def route(
        self, method: str, route: str, base: str, body: bytes, fault: Fault | None, key: str
    ) -> Reply | None:
        """The reply of a platform route, or None if `route` is none of them here."""
        if route == QUOTA_ROUTE:
            if method != "GET":
                raise ApiError(405, "1222", f"Request method '{method}' is not supported.")
            return self.quota_limit(key)
        handler = ROUTES.get(route)
        if handler is None:
            return None
        if method != "POST":
            raise ApiError(405, "1222", f"Request method '{method}' is not supported.")
        return handler(self, reference.without_nulls(parse_json_object(body)), fault)

    def quota_limit(self, key: str) -> Reply:
        """GET /api/monitor/usage/quota/limit as Z.AI's coding plugins read it (undocumented, §22)."""
        if not self.quota_available:
            raise ApiError(404, "1222", f"The API {QUOTA_ROUTE} does not exist.")
        data: dict[str, Any] = {"limits": []}
        if key in self.coding_keys:
            q = self.quota
            data = {
                "limits": [
                    {
                        "type": "TIME_LIMIT",
                        "unit": 5,
                        "number": 1,
                        "usage": q.calls_total,
                        "currentValue": q.calls_used,
                        "remaining": max(q.calls_total - q.calls_used, 0),
                        "percentage": round(100 * q.calls_used / q.calls_total) if q.calls_total else 100,
                        "nextResetTime": q.calls_reset_ms,
                        "usageDetails": [{"modelCode": k, "usage": v} for k, v in q.call_details.items()],
                    },
                    {
                        "type": "TOKENS_LIMIT",
                        "unit": 3,
                        "number": 5,
                        "percentage": q.token_percentage,
                        "nextResetTime": q.token_reset_ms,
                    },
                ],
                "level": q.level,
            }
        return json_reply(200, {"code": 200, "msg": "Operation successful", "data": data, "success": True})


def _request_id(payload: dict[str, Any], ident: str) -> str:
    value = payload.get("request_id")
    return value if isinstance(value, str) and value else ident


def _head(payload: dict[str, Any]) -> dict[str, Any]:
    ident = new_id()
    return {"id": ident, "created": int(time.time()), "request_id": _request_id(payload, ident)}


# ---------------------------------------------------------------- POST reader

_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def default_page(url: str) -> Page:
    host = re.sub(r"^https?://", "", url).split("/", 1)[0] or "example.com"
    markdown = (
        f"# Page at {host}\n\n"
        f"This is the fake page served for {url}. It has a paragraph of plain words, "
        f"a [link to the home page](https://{host}/) and a picture.\n\n"
        f"![A diagram](https://{host}/diagram.png)\n\n"
        "## Details\n\n- first item\n- second item\n"
    )
    return Page(title=f"Page at {host}", markdown=markdown, description=f"A page of {host}.")


def _page(entry: PageEntry, url: str) -> Page:
    if entry is None:
        raise ApiError(400, "1214", f"url:The page {url} could not be fetched.")
    if isinstance(entry, Page):
        return entry
    title, markdown, *rest = entry
    return Page(title=title, markdown=markdown, description=rest[0] if rest else "")


def as_text(markdown: str) -> str:
    """The page as plain text: links become their text, images vanish, markup is dropped."""
    text = _LINK.sub(lambda m: "" if m[1] else m[2], markdown)
    text = re.sub(r"^[ \t]{0,3}(#{1,6}[ \t]+|[-*+][ \t]+|>[ \t]?)", "", text, flags=re.MULTILINE)
    text = re.sub(r"(\*\*|__|`)", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def reader(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    url = payload["url"]
    if not re.match(r"https?://[^/\s]+", url):
        raise ApiError(400, "1214", "url:The url must be an http(s) URL.")
    page = _page(desk.pages[url], url) if url in desk.pages else default_page(url)
    markdown = page.markdown
    if payload.get("retain_images") is False:
        markdown = _LINK.sub(lambda m: "" if m[1] else m[0], markdown)
    fmt = payload.get("return_format") or "markdown"
    if fmt not in ("markdown", "text"):  # Z.AI types it as a free string; only these two are described
        raise ApiError(400, "1210", "return_format:The return_format must be markdown or text.")
    content = markdown if fmt == "markdown" else as_text(markdown)
    result: dict[str, Any] = {
        "content": content,
        "description": page.description,
        "title": page.title,
        "url": url,
        "external": {"stylesheet": {url.rstrip("/") + "/style.css": {"type": "text/css"}}},
        "metadata": {"description": page.description, "viewport": "width=device-width, initial-scale=1"},
    }
    if payload.get("with_images_summary") is True:
        result["images"] = {m[2] or f"image {n}": m[3] for n, m in enumerate(_images_of(page.markdown), 1)}
    if payload.get("with_links_summary") is True:
        result["links"] = {m[2] or m[3]: m[3] for m in _LINK.finditer(page.markdown) if not m[1]}
    if page.published is not None:
        result["publishedTime"] = page.published
    return json_reply(200, {**_head(payload), "model": "reader", "reader_result": result})


def _images_of(markdown: str) -> list[re.Match[str]]:
    return [m for m in _LINK.finditer(markdown) if m[1]]


# ---------------------------------------------------------------- POST layout_parsing


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF, counted as its page objects (`/Type /Page`, not `/Pages`)."""
    return len(PDF_PAGE.findall(data))


def _document(desk: Desk, file: str) -> bytes:
    """The bytes of `file`: a URL (from `fake.documents`, else a default by extension) or base64 (bare or
    a data: URL)."""
    if file.startswith(("http://", "https://")):
        if file in desk.documents:
            return desk.documents[file]
        ext = file.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower()
        if ext == "pdf":
            return make_pdf(1)
        if ext in ("png", "jpg", "jpeg"):
            return PNG_MAGIC + bytes(64)
        raise ApiError(400, "1210", "file:Only PDF, JPG and PNG files are supported.")
    raw = file.partition(",")[2] if file.startswith("data:") else file
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "1210", "file:The file is neither a URL nor valid base64.") from None


def layout_parsing(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    data = _document(desk, payload["file"])
    limit = OCR_PAGES[desk.platform]
    if data.startswith(PDF_MAGIC):
        if len(data) > OCR_PDF_BYTES:
            raise ApiError(400, "1210", "file:A PDF must be at most 50 MB.")
        total = pdf_pages(data)
        if total == 0:
            raise ApiError(400, "1210", "file:The PDF has no pages.")
        start = payload.get("start_page_id", 1)
        end = min(payload.get("end_page_id", total), total)
        if start > total:
            raise ApiError(400, "1210", f"start_page_id:The document has {total} pages.")
        if start > end:
            raise ApiError(400, "1210", "start_page_id:The start_page_id must not exceed end_page_id.")
        if end - start + 1 > limit:
            raise ApiError(
                400,
                "1210",
                f"file:At most {limit} pages are parsed per request; set start_page_id/end_page_id.",
            )
        width, height = 1240, 1754
    elif data.startswith((PNG_MAGIC, JPEG_MAGIC)):
        if len(data) > OCR_IMAGE_BYTES:
            raise ApiError(400, "1210", "file:An image must be at most 10 MB.")
        total, start, end = 1, 1, 1
        width, height = 800, 600
    else:
        raise ApiError(400, "1210", "file:Only PDF, JPG and PNG files are supported.")
    desk.parsed_pages.append((start, end))
    pages = range(start, end + 1)
    details = [_page_blocks(n, width, height) for n in pages]
    md = "\n\n".join(
        f"## Page {n}\n\nText of page {n}.\n\n| a | b |\n|---|---|\n| {n} | {n * 2} |" for n in pages
    )
    completion = count_tokens(md)
    prompt = OCR_PAGE_TOKENS * len(pages)
    ident = new_id()
    body: dict[str, Any] = {
        "id": ident,
        "created": int(time.time()),
        "model": "GLM-OCR",
        "md_results": md,
        "layout_details": details,
        "data_info": {"num_pages": total, "pages": [{"width": width, "height": height} for _ in pages]},
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "total_tokens": prompt + completion,
        },
        "request_id": _request_id(payload, ident),
    }
    if payload.get("need_layout_visualization") is True:
        body["layout_visualization"] = [f"{desk.root_url}/media/image-{ident}-{n}.png" for n in pages]
    return json_reply(200, body)


def _page_blocks(n: int, width: int, height: int) -> list[dict[str, Any]]:
    blocks = [
        ("text", [0.1, 0.05, 0.9, 0.1], f"## Page {n}"),
        ("text", [0.1, 0.12, 0.9, 0.3], f"Text of page {n}."),
        ("table", [0.1, 0.35, 0.9, 0.6], f"<table><tr><td>{n}</td><td>{n * 2}</td></tr></table>"),
        ("formula", [0.3, 0.65, 0.7, 0.7], f"$$x_{{{n}}} = {n}$$"),
        ("image", [0.2, 0.75, 0.8, 0.95], f"page-{n}-figure.png"),
    ]
    return [
        {"index": i, "label": label, "bbox_2d": bbox, "content": content, "height": height, "width": width}
        for i, (label, bbox, content) in enumerate(blocks)
    ]


def make_pdf(pages: int) -> bytes:
    """A small valid PDF of `pages` empty A4 pages (catalog, page tree, pages, xref table)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# ---------------------------------------------------------------- POST audio/speech


def speech_frames(text: str, speed: float) -> bytes:
    """16-bit mono PCM at 24 kHz, TTS_SECONDS_PER_CHAR per character at speed 1 (a quiet tone)."""
    count = max(1, round(len(text) * TTS_SECONDS_PER_CHAR * TTS_RATE / speed))
    period = b"".join(struct.pack("<h", round(1000 * math.sin(2 * math.pi * i / 60))) for i in range(60))
    return (period * (count // 60 + 1))[: count * 2]


def wav_bytes(frames: bytes, rate: int = TTS_RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(frames)
    return out.getvalue()


def audio_speech(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    voice = payload.get("voice", "tongtong")
    if voice not in TTS_VOICES and voice not in desk.voices:
        raise ApiError(400, "1210", f"voice:The voice {voice} does not exist.")
    fmt = payload.get("response_format", "pcm")
    stream = payload.get("stream") is True
    if stream and fmt != "pcm":
        raise ApiError(400, "1214", "不支持当前response_format值")
    if not stream and payload.get("encode_format") is not None:
        raise ApiError(400, "1210", "encode_format:The encode_format applies to streaming only.")
    frames = speech_frames(payload["input"], float(payload.get("speed", 1.0)))
    if stream:
        return _speech_stream(payload, frames)
    if fmt == "wav":
        return Reply(200, (("Content-Type", "audio/wav"),), wav_bytes(frames))
    return Reply(200, (("Content-Type", "application/octet-stream"),), frames)


def _speech_stream(payload: dict[str, Any], frames: bytes) -> Reply:
    head = _head(payload)
    hexed = payload.get("encode_format") == "hex"
    step = TTS_RATE  # half a second of 16-bit samples per chunk
    events = []
    for offset in range(0, len(frames), step):
        piece = frames[offset : offset + step]
        content = piece.hex() if hexed else base64.b64encode(piece).decode("ascii")
        delta = {"role": "assistant", "content": content}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        events.append(
            sse({"choices": [choice], "request_id": head["request_id"], "created": head["created"]})
        )
    done = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": "stop"}
    events.append(sse({"choices": [done], "request_id": head["request_id"], "created": head["created"]}))
    events.append(sse(b"[DONE]"))
    return Reply(200, (("Content-Type", SSE_TYPE), ("Cache-Control", "no-cache")), events=tuple(events))


# ---------------------------------------------------------------- POST embeddings


def vector(model: str, dimensions: int, text: str) -> list[float]:
    """A unit vector seeded by the model, size and text: the same input, the same vector."""
    seed = hashlib.sha256(f"{model}\0{dimensions}\0{text}".encode()).digest()
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def embeddings(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    model = payload["model"].lower()
    given = payload["input"]
    inputs: list[str] = [given] if isinstance(given, str) else list(given)
    limit = EMBEDDING_TOKENS[model]
    counts = []
    for index, text in enumerate(inputs):
        if not text.strip():
            raise ApiError(400, "1214", f"input[{index}]:The input cannot be empty.")
        tokens = count_tokens(text)
        if tokens > limit:
            raise ApiError(400, "1210", f"input[{index}]:{model} takes at most {limit} tokens per input.")
        counts.append(tokens)
    dimensions = payload.get("dimensions", EMBEDDING_DIMENSIONS[model])
    data = [
        {"index": i, "object": "embedding", "embedding": vector(model, dimensions, text)}
        for i, text in enumerate(inputs)
    ]
    total = sum(counts)
    usage = {"prompt_tokens": total, "completion_tokens": 0, "total_tokens": total}
    return json_reply(200, {"model": model, "data": data, "object": "list", "usage": usage})


# ---------------------------------------------------------------- POST rerank


def relevance(query: str, document: str) -> float:
    """A raw score: shared words weigh most, a hash of the pair breaks ties."""
    q = set(re.findall(r"\w+", query.lower()))
    d = set(re.findall(r"\w+", document.lower()))
    overlap = len(q & d) / len(q) if q else 0.0
    jitter = int.from_bytes(hashlib.sha256(f"{query}\0{document}".encode()).digest()[:2]) / 65535
    return round(12 * overlap - 6 + jitter, 6)


def rerank(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    query: str = payload["query"]
    documents: list[str] = payload["documents"]
    raw = payload.get("return_raw_scores") is True
    scored = []
    for index, document in enumerate(documents):
        score = relevance(query, document)
        scored.append((score if raw else round(1 / (1 + math.exp(-score)), 6), index, document))
    scored.sort(key=lambda item: (-item[0], item[1]))
    top_n = min(payload.get("top_n", len(documents)), len(documents))
    results = []
    for score, index, document in scored[:top_n]:
        item: dict[str, Any] = {"index": index, "relevance_score": score}
        if payload.get("return_documents") is True:
            item = {"document": document, **item}
        results.append(item)
    tokens = count_tokens(query) * len(documents) + sum(count_tokens(d) for d in documents)
    body = {**_head(payload), "results": results, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return json_reply(200, body)


# ---------------------------------------------------------------- POST tokenizer


def tokenizer(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    text = images = videos = 0
    messages = payload["messages"]
    if all(m.get("role") != "user" for m in messages):
        raise ApiError(400, "1214", "messages:The messages must not be system or assistant messages only.")
    for message in messages:
        text += TOKENIZER_MESSAGE_TOKENS
        content = message.get("content", "")
        for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            kind = part["type"]
            if kind == "text":
                text += count_tokens(part["text"])
            elif kind == "image_url":
                images += 1
            elif kind == "video_url":
                videos += 1
            else:
                text += OCR_PAGE_TOKENS  # a file part
    for tool in payload.get("tools", []):
        text += count_tokens(dump(tool).decode("utf-8"))
    image_tokens = images * TOKENIZER_IMAGE_TOKENS
    video_tokens = videos * TOKENIZER_VIDEO_TOKENS
    usage = {
        "prompt_tokens": text,
        "image_tokens": image_tokens,
        "video_tokens": video_tokens,
        "total_tokens": text + image_tokens + video_tokens,
    }
    head = _head(payload)
    return json_reply(
        200, {"created": head["created"], "id": head["id"], "request_id": head["request_id"], "usage": usage}
    )


# ---------------------------------------------------------------- POST v1/agents (general_translation)


def translate(text: str, source: str, target: str, strategy: str) -> str:
    return f"[{source}->{target}/{strategy}] {text}"


def agents(desk: Desk, payload: dict[str, Any], fault: Fault | None) -> Reply:
    variables = payload.get("custom_variables", {})
    source = variables.get("source_lang", "auto")
    target = variables.get("target_lang", "zh-CN")
    strategy = variables.get("strategy", "general")
    texts = [part["text"] for message in payload["messages"] for part in message["content"]]
    if not any(t.strip() for t in texts):
        raise ApiError(400, "1214", "messages.content.text:The text cannot be empty.")
    source_text = "\n".join(texts)
    answer = translate(source_text, source, target, strategy)
    prompt = count_tokens(source_text) + 20
    completion = count_tokens(answer)
    ident = new_id()
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "total_calls": 2 if strategy in ("two_step", "reflection") else 3 if strategy == "three_step" else 1,
    }
    if payload.get("stream") is True:
        return _agent_stream(ident, answer, usage)
    message = {"role": "assistant", "content": {"type": "text", "text": answer}}
    body = {
        "id": ident,
        "agent_id": payload["agent_id"],
        "status": "success",
        "choices": [{"index": 0, "finish_reason": "stop", "messages": message}],
        "usage": usage,
    }
    return json_reply(200, body)


def _agent_stream(ident: str, answer: str, usage: dict[str, int]) -> Reply:
    """Chunks as the chat stream's, with the agent's `messages` object in place of `delta`."""
    pieces = re.findall(r"\s*\S+", answer)
    events = []
    for piece in pieces:
        message = {"role": "assistant", "content": {"type": "text", "text": piece}}
        chunk = {
            "id": ident,
            "agent_id": "general_translation",
            "choices": [{"index": 0, "messages": message}],
        }
        events.append(sse(chunk))
    final = {
        "id": ident,
        "agent_id": "general_translation",
        "status": "success",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "messages": {"role": "assistant", "content": {"type": "text", "text": ""}},
            }
        ],
        "usage": usage,
    }
    events += [sse(final), sse(b"[DONE]")]
    return Reply(200, (("Content-Type", SSE_TYPE), ("Cache-Control", "no-cache")), events=tuple(events))


ROUTES: dict[str, Callable[[Desk, dict[str, Any], Fault | None], Reply]] = {
    "reader": reader,
    "layout_parsing": layout_parsing,
    "audio/speech": audio_speech,
    "embeddings": embeddings,
    "rerank": rerank,
    "tokenizer": tokenizer,
    AGENTS_ROUTE: agents,
}
