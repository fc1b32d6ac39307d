"""The GLM adapter's platform tool routes against the loopback fake: what each request puts on the wire,
how answers are read, which error each refusal becomes, and what is (not) re-sent."""

from __future__ import annotations

import base64
import gzip
import io
import json
import socket
import threading
import wave
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import pytest

from mcp_server_glm.errors import (
    AuthenticationFailed,
    BadResponse,
    GLMError,
    InvalidRequest,
    QuotaExhausted,
    RateLimited,
    ServerFailed,
)
from mcp_server_glm.glm import catalog
from mcp_server_glm.glm.client import GLMClient
from mcp_server_glm.glm.platform_models import (
    EmbeddingRequest,
    LayoutRequest,
    ReaderRequest,
    RerankRequest,
    SpeechRequest,
    TokenizerRequest,
    Translation,
    TranslationRequest,
)
from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM, Fault, Page
from tests.fake_glm.platform import TTS_RATE, TTS_SECONDS_PER_CHAR
from tests.samples import GIF, PNG, pdf

pytestmark = pytest.mark.anyio

PLAN_KEY = "plan-key-without-balance-0123456789"
# A client whose requests the contract check skips: the tests that send refused requests on purpose.
OFF_CONTRACT = "refusal-probe"
USER = [{"role": "user", "content": "hello brave new world"}]


def client(fake: FakeGLM, key: str = CANARY_KEY, **options: Any) -> GLMClient:
    return GLMClient(key, fake.base_url, max_retries=3, retry_backoff=0.01, timeout=10, **options)


@pytest.fixture
async def glm(fake: FakeGLM) -> AsyncIterator[GLMClient]:
    async with client(fake) as glm:
        yield glm


@pytest.fixture
async def probe(fake: FakeGLM) -> AsyncIterator[GLMClient]:
    async with client(fake, user_agent=OFF_CONTRACT) as glm:
        yield glm


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- reader


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_read_page_sends_only_the_set_fields_and_reads_the_result(
    glm: GLMClient, fake: FakeGLM, platform: str
) -> None:
    fake.platform = platform
    url = "https://site.example/post"
    markdown = (
        "# Post\n\nSee [the docs](https://site.example/docs).\n\n![chart](https://site.example/c.png)\n"
    )
    fake.pages[url] = Page("Post", markdown, "About it", published="2026-11-30T08:00:00Z")
    page = await glm.read_page(
        ReaderRequest(url=url, return_format="markdown", with_links_summary=True, with_images_summary=True)
    )
    [sent] = fake.requests_to("reader")
    assert sent.json == {
        "url": url,
        "return_format": "markdown",
        "with_images_summary": True,
        "with_links_summary": True,
    }  # no request_id: the route defines none
    result = page.reader_result
    assert (result.title, result.description, result.url, result.content) == (
        "Post",
        "About it",
        url,
        markdown,
    )
    assert result.links == {"the docs": "https://site.example/docs"}
    assert result.images == {"chart": "https://site.example/c.png"}
    assert result.published_time == "2026-11-30T08:00:00Z"
    assert result.metadata["description"] == "About it"


async def test_read_page_as_text_and_unreachable(glm: GLMClient, fake: FakeGLM) -> None:
    text = await glm.read_page(ReaderRequest(url="https://a.example/", return_format="text"))
    assert "#" not in text.reader_result.content and "link to the home page" in text.reader_result.content
    assert text.reader_result.links == {} and text.reader_result.published_time is None
    fake.pages["https://down.example/"] = None
    with pytest.raises(InvalidRequest, match="code 1214"):
        await glm.read_page(ReaderRequest(url="https://down.example/"))


async def test_read_page_is_paid_not_resent_after_a_server_error(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("reader", Fault(status=429, code="1302"), Fault(status=500))
    with pytest.raises(ServerFailed):
        await glm.read_page(ReaderRequest(url="https://a.example/"))
    assert len(fake.requests_to("reader")) == 2  # the 429 never started work; the 500 may have


# ---------------------------------------------------------------- layout parsing (GLM-OCR)


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_parse_layout_of_a_pdf_range(glm: GLMClient, fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    document = pdf(5)
    answer = await glm.parse_layout(LayoutRequest.from_bytes(document, start_page_id=2, end_page_id=4))
    [sent] = fake.requests_to("layout_parsing")
    assert sent.json == {
        "model": "glm-ocr",
        "file": b64(document),  # bare base64
        "start_page_id": 2,
        "end_page_id": 4,
        "request_id": sent.json["request_id"],
    }
    assert sent.json["request_id"].startswith("mcp-")
    assert fake.parsed_pages == [(2, 4)]
    assert "## Page 2" in answer.md_results and "## Page 4" in answer.md_results
    assert len(answer.layout_details) == 3
    assert {block.label for block in answer.layout_details[0]} == {"text", "table", "formula", "image"}
    assert all(0 <= v <= 1 for block in answer.layout_details[1] for v in block.bbox_2d)
    assert answer.data_info.num_pages == 5 and len(answer.data_info.pages) == 3
    assert answer.usage.prompt_tokens > 0 and answer.usage.total_tokens > answer.usage.prompt_tokens


async def test_parse_layout_sends_a_data_url_as_bare_base64_and_urls_as_given(
    glm: GLMClient, fake: FakeGLM
) -> None:
    await glm.parse_layout(LayoutRequest(file="data:image/png;base64," + b64(PNG)))
    fake.documents["https://files.example/scan.pdf"] = pdf(2)
    answer = await glm.parse_layout(LayoutRequest(file="https://files.example/scan.pdf"))
    first, second = fake.requests_to("layout_parsing")
    assert first.json["file"] == b64(PNG)
    assert second.json["file"] == "https://files.example/scan.pdf"
    assert answer.data_info.num_pages == 2


@pytest.mark.parametrize(("platform", "limit"), [("zai", 30), ("bigmodel", 100)])
async def test_parse_layout_page_limit(probe: GLMClient, fake: FakeGLM, platform: str, limit: int) -> None:
    fake.platform = platform
    ocr = catalog.find("glm-ocr")
    assert ocr is not None and ocr.pages_on(platform) == limit
    document = pdf(limit + 1)
    with pytest.raises(InvalidRequest, match=f"code 1210.*At most {limit} pages"):
        await probe.parse_layout(LayoutRequest.from_bytes(document))
    answer = await probe.parse_layout(LayoutRequest.from_bytes(document, start_page_id=2))
    assert len(answer.layout_details) == limit


async def test_parse_layout_refuses_other_files(glm: GLMClient, fake: FakeGLM) -> None:
    with pytest.raises(InvalidRequest, match=r"code 1210.*Only PDF, JPG and PNG"):
        await glm.parse_layout(LayoutRequest.from_bytes(GIF))
    assert len(fake.requests_to("layout_parsing")) == 1


# ---------------------------------------------------------------- speech (GLM-TTS, BigModel)


async def test_speech_returns_a_wav_wave_reads(glm: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    text = "Hello from the speech route."
    speech = await glm.speech(
        SpeechRequest(input=text, voice="xiaochen", speed=2.0, volume=2.5, watermark_enabled=False)
    )
    [sent] = fake.requests_to("audio/speech")
    assert sent.json == {
        "model": "glm-tts",
        "input": text,
        "voice": "xiaochen",
        "response_format": "wav",
        "speed": 2.0,
        "volume": 2.5,
        "watermark_enabled": False,
        "request_id": speech.request_id,
    }
    assert speech.content_type == "audio/wav"
    with wave.open(io.BytesIO(speech.audio)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, TTS_RATE)
        assert audio.getnframes() == round(len(text) * TTS_SECONDS_PER_CHAR * TTS_RATE / 2.0)


async def test_speech_pcm_and_the_longest_input(glm: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    tts = catalog.find("glm-tts")
    assert tts is not None and tts.max_prompt == 1024
    speech = await glm.speech(SpeechRequest(input="x" * tts.max_prompt, response_format="pcm"))
    assert speech.content_type == "application/octet-stream"
    assert len(speech.audio) == 2 * round(1024 * TTS_SECONDS_PER_CHAR * TTS_RATE)  # ~2.5 MB


async def test_speech_cap_is_enforced_and_not_retried(glm: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    with pytest.raises(
        BadResponse,
        match="more than 100000 bytes of audio, the most read into memory: ask for a shorter text",
    ) as caught:
        await glm.speech(SpeechRequest(input="long enough " * 10), max_bytes=100_000)
    assert "\n" not in str(caught.value)
    assert len(fake.requests_to("audio/speech")) == 1
    # A scripted body past the cap (the fake sends a Content-Length, refused before reading).
    big = b"RIFF" + bytes(200_000)
    fake.script("audio/speech", Fault(body=big, content_type="audio/wav"))
    with pytest.raises(BadResponse, match="more than 100000 bytes of audio"):
        await glm.speech(SpeechRequest(input="hi"), max_bytes=100_000)


@contextmanager
def chunked_answer(
    chunks: Iterable[bytes], head: bytes = b"200 OK\r\nContent-Type: audio/wav"
) -> Iterator[str]:
    """A loopback HTTP server answering one request with `head` (status line and headers) and the
    `chunks` without a Content-Length (Transfer-Encoding: chunked); yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        peer, _ = listener.accept()
        with peer, suppress(OSError):
            request = b""
            while b"\r\n\r\n" not in request:
                request += peer.recv(65536)
            request_head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in request_head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += peer.recv(65536)
            peer.sendall(b"HTTP/1.1 " + head + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            for chunk in chunks:
                peer.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            peer.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/api/paas/v4"
    finally:
        listener.close()
        thread.join(timeout=10)


def audio(total: int) -> Iterator[bytes]:
    return (bytes(65536) for _ in range(total // 65536))


async def test_speech_cap_holds_while_reading_a_chunked_answer() -> None:
    with chunked_answer(audio(4 * 1024 * 1024)) as base:
        async with GLMClient(CANARY_KEY, base, max_retries=0, timeout=10) as glm:
            with pytest.raises(BadResponse, match="more than 1 MB of audio"):
                await glm.speech(SpeechRequest(input="hi"), max_bytes=1024 * 1024)
    with chunked_answer(audio(512 * 1024)) as base:
        async with GLMClient(CANARY_KEY, base, max_retries=0, timeout=10) as glm:
            speech = await glm.speech(SpeechRequest(input="hi"), max_bytes=1024 * 1024)
    assert (len(speech.audio), speech.content_type) == (512 * 1024, "audio/wav")


async def test_speech_reads_a_gzipped_error_envelope() -> None:
    envelope = gzip.compress(json.dumps({"error": {"code": "1305", "message": "busy"}}).encode())
    head = b"503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
    with chunked_answer([envelope[:10], envelope[10:]], head) as base:
        async with GLMClient(CANARY_KEY, base, max_retries=0, timeout=10) as glm:
            with pytest.raises(RateLimited, match="HTTP 503, code 1305"):
                await glm.speech(SpeechRequest(input="hi"))
    broken = b"200 OK\r\nContent-Type: audio/wav\r\nContent-Encoding: gzip"
    with chunked_answer([b"RIFF not gzip"], broken) as base:
        async with GLMClient(CANARY_KEY, base, max_retries=0, timeout=10) as glm:
            with pytest.raises(BadResponse, match="does not decode"):
                await glm.speech(SpeechRequest(input="hi"))


async def test_speech_errors_map_to_the_error_tree(probe: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    with pytest.raises(InvalidRequest, match=r"code 1210.*voice"):
        await probe.speech(SpeechRequest(input="hi", voice="nobody"))
    with pytest.raises(InvalidRequest, match=r"code 1210.*1024 characters"):
        await probe.speech(SpeechRequest(input="x" * 1025))
    envelope = json.dumps({"error": {"code": "1301", "message": "blocked"}})
    fake.script("audio/speech", Fault(body=envelope, content_type="application/json"))  # HTTP 200
    with pytest.raises(GLMError, match="code 1301"):
        await probe.speech(SpeechRequest(input="hi"))
    fake.script("audio/speech", Fault(body="{}", content_type="application/json"))
    with pytest.raises(BadResponse, match="JSON instead of audio"):
        await probe.speech(SpeechRequest(input="hi"))
    fake.script("audio/speech", Fault(status=500))
    with pytest.raises(ServerFailed):
        await probe.speech(SpeechRequest(input="hi"))
    assert len(fake.requests_to("audio/speech")) == 5  # paid: the 500 is not re-sent


async def test_speech_is_not_served_by_zai(probe: GLMClient, fake: FakeGLM) -> None:
    tts = catalog.find("glm-tts")
    assert tts is not None and tts.platforms == ("bigmodel",)
    with pytest.raises(InvalidRequest, match="HTTP 404"):
        await probe.speech(SpeechRequest(input="hi"))


# ---------------------------------------------------------------- embeddings, rerank (BigModel)


async def test_embed_sends_the_batch_and_reads_vectors_in_order(glm: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    answer = await glm.embed(EmbeddingRequest(input=["first text", "second text"], dimensions=256))
    [sent] = fake.requests_to("embeddings")
    assert sent.json == {"model": "embedding-3", "input": ["first text", "second text"], "dimensions": 256}
    vectors = answer.vectors
    assert [len(v) for v in vectors] == [256, 256] and vectors[0] != vectors[1]
    assert answer.usage.prompt_tokens == 4 and answer.model == "embedding-3"
    single = await glm.embed(EmbeddingRequest(model="embedding-2", input="one"))
    assert len(single.vectors) == 1 and len(single.vectors[0]) == 1024


async def test_embed_refusals_and_a_short_answer(probe: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    with pytest.raises(InvalidRequest, match="code 1214"):
        await probe.embed(EmbeddingRequest(input=["fine", "  "]))
    with pytest.raises(InvalidRequest, match=r"code 1210.*dimensions"):
        await probe.embed(EmbeddingRequest(model="embedding-2", input="x", dimensions=256))
    with pytest.raises(InvalidRequest):
        await probe.embed(EmbeddingRequest(input=["x"] * 65))
    fake.script("embeddings", Fault(body=json.dumps({"data": [{"index": 0, "embedding": [0.5]}]})))
    with pytest.raises(BadResponse, match="1 embeddings for 2 inputs"):
        await probe.embed(EmbeddingRequest(input=["a", "b"]))


async def test_rerank_sends_its_fields_and_reads_results(glm: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    documents = ["cats purr", "the query words here", "unrelated"]
    answer = await glm.rerank(
        RerankRequest(query="query words", documents=documents, top_n=2, return_documents=True)
    )
    [sent] = fake.requests_to("rerank")
    assert sent.json == {
        "model": "rerank",
        "query": "query words",
        "documents": documents,
        "top_n": 2,
        "return_documents": True,
    }
    assert answer.results[0].index == 1 and len(answer.results) == 2
    assert answer.results[0].document == documents[1]
    assert 0 < answer.results[1].relevance_score < answer.results[0].relevance_score < 1
    assert answer.usage.total_tokens > 0


async def test_rerank_refusals(probe: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    rerank = catalog.find("rerank")
    assert rerank is not None and (rerank.max_inputs, rerank.max_input_chars) == (128, 4096)
    with pytest.raises(InvalidRequest):
        await probe.rerank(RerankRequest(query="q", documents=["d"] * 129))
    with pytest.raises(InvalidRequest):
        await probe.rerank(RerankRequest(query="q" * 4097, documents=["d"]))
    fake.platform = "zai"
    with pytest.raises(InvalidRequest, match="HTTP 404"):
        await probe.rerank(RerankRequest(query="q", documents=["d"]))


# ---------------------------------------------------------------- tokenizer


async def test_count_tokens_of_text_and_images(glm: GLMClient, fake: FakeGLM) -> None:
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://i/a.png"}},
    ]
    count = await glm.count_tokens(
        TokenizerRequest(model="glm-4.6v", messages=[{"role": "user", "content": parts}])
    )
    [sent] = fake.requests_to("tokenizer")
    assert sent.json == {
        "model": "glm-4.6v",
        "messages": [{"role": "user", "content": parts}],
        "request_id": sent.json["request_id"],
    }
    assert (count.image_tokens, count.video_tokens) == (1024, 0)
    assert count.total_tokens == count.prompt_tokens + 1024 and count.prompt_tokens > 0


async def test_count_tokens_is_repeated_after_a_server_error(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("tokenizer", Fault(status=500))
    count = await glm.count_tokens(TokenizerRequest(model="glm-4.6", messages=USER))
    assert count.total_tokens > 0 and len(fake.requests_to("tokenizer")) == 2


async def test_count_tokens_refusals(probe: GLMClient, fake: FakeGLM) -> None:
    with pytest.raises(InvalidRequest, match="code 1214"):
        await probe.count_tokens(
            TokenizerRequest(model="glm-4.6", messages=[{"role": "system", "content": "x"}])
        )
    fake.platform = "bigmodel"  # glm-4.5 is a Z.AI model
    with pytest.raises(InvalidRequest, match="code 1211"):
        await probe.count_tokens(TokenizerRequest(model="glm-4.5", messages=USER))


# ---------------------------------------------------------------- translation agent


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_translate_goes_to_the_host_root(glm: GLMClient, fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    translation = await glm.translate(
        TranslationRequest.from_text("hello world", source_lang="en", target_lang="ja", strategy="two_step")
    )
    [sent] = fake.requests_to("v1/agents")
    assert sent.base == "root" and sent.path == "/api/v1/agents"
    assert sent.json == {
        "agent_id": "general_translation",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
        "custom_variables": {"source_lang": "en", "target_lang": "ja", "strategy": "two_step"},
    }
    assert translation.text == "[en->ja/two_step] hello world"
    assert (translation.status, translation.usage.total_calls) == ("success", 2)
    assert (
        translation.usage.total_tokens
        == translation.usage.prompt_tokens + translation.usage.completion_tokens
    )


async def test_translate_refusals_and_no_resend(probe: GLMClient, fake: FakeGLM) -> None:
    with pytest.raises(InvalidRequest, match="code 1214"):
        await probe.translate(TranslationRequest.from_text("   "))
    with pytest.raises(InvalidRequest, match=r"code 1210.*target_lang"):
        await probe.translate(
            TranslationRequest.from_text("hi", target_lang="klingon")
        )  # out of the enum: 1210
    fake.script("v1/agents", Fault(status=500))
    with pytest.raises(ServerFailed):
        await probe.translate(TranslationRequest.from_text("hi"))
    assert len(fake.requests_to("v1/agents")) == 3
    fake.script("v1/agents", Fault(body=json.dumps({"status": "failed", "choices": []})))
    with pytest.raises(BadResponse, match="status failed"):
        await probe.translate(TranslationRequest.from_text("hi"))
    fake.script("v1/agents", Fault(body=json.dumps({"status": "success", "choices": [{"index": 0}]})))
    with pytest.raises(BadResponse, match="without text"):
        await probe.translate(TranslationRequest.from_text("hi"))


def test_translation_text_is_read_from_each_documented_shape() -> None:
    shapes = [
        {"messages": {"role": "assistant", "content": {"type": "text", "text": "a"}}},
        {"message": [{"role": "assistant", "content": [{"type": "text", "text": "a"}]}]},
        {"messages": [{"role": "assistant", "content": "a"}]},
    ]
    for choice in shapes:
        assert Translation.model_validate({"choices": [choice]}).text == "a"


async def test_translate_on_a_plan_without_balance_names_the_general_endpoint(fake: FakeGLM) -> None:
    fake.coding_keys.add(PLAN_KEY)
    async with GLMClient(
        PLAN_KEY, fake.coding_base_url, general_url=fake.base_url, retry_backoff=0.01
    ) as plan:
        with pytest.raises(QuotaExhausted, match="covers chat only") as caught:
            await plan.translate(TranslationRequest.from_text("hi"))
    assert "\n" not in str(caught.value)
    [sent] = fake.requests_to("v1/agents")
    assert sent.path == "/api/v1/agents"


# ---------------------------------------------------------------- plan quota


async def test_plan_quota_of_a_plan_key(fake: FakeGLM) -> None:
    fake.coding_keys.add(PLAN_KEY)
    fake.quota.calls_used, fake.quota.token_percentage = 40, 73
    async with GLMClient(PLAN_KEY, fake.coding_base_url, general_url=fake.base_url) as plan:
        quota = await plan.plan_quota()
    [sent] = fake.requests_to("monitor/usage/quota/limit")
    assert (sent.method, sent.path, sent.headers["authorization"]) == (
        "GET",
        "/api/monitor/usage/quota/limit",
        f"Bearer {PLAN_KEY}",
    )
    assert quota is not None and quota.level == "lite"
    assert quota.tokens is not None and quota.tokens.percentage == 73
    assert quota.tokens.next_reset == datetime.fromtimestamp(fake.quota.token_reset_ms / 1000, UTC)
    assert quota.calls is not None
    assert (quota.calls.total, quota.calls.used, quota.calls.remaining) == (100, 40, 60)
    assert quota.calls.next_reset == datetime.fromtimestamp(fake.quota.calls_reset_ms / 1000, UTC)
    assert quota.calls.details == {"search-prime": 20, "web-reader": 8, "zread": 0}


@pytest.mark.parametrize(
    "fault",
    [
        None,
        Fault(body="<html>gateway</html>", content_type="text/html"),
        Fault(body='{"data": {"limits": 5}}'),
    ],
)
async def test_plan_quota_not_available_is_none(fake: FakeGLM, fault: Fault | None) -> None:
    fake.coding_keys.add(PLAN_KEY)
    if fault is not None:
        fake.script("monitor/usage/quota/limit", fault)
    else:
        fake.quota_available = False  # the query does not exist there: 404
    async with GLMClient(PLAN_KEY, fake.base_url) as plan:
        assert await plan.plan_quota() is None


async def test_plan_quota_of_a_key_without_a_plan_and_failures(glm: GLMClient, fake: FakeGLM) -> None:
    assert await glm.plan_quota() is None  # the answer lists no limits
    fake.script("monitor/usage/quota/limit", Fault(status=500))
    assert await glm.plan_quota() is None  # repeated after the 500 (read-only), then no limits
    assert len(fake.requests_to("monitor/usage/quota/limit")) == 3
    async with client(fake, "someone-elses-key-0000") as stranger:
        with pytest.raises(AuthenticationFailed, match="HTTP 401"):
            await stranger.plan_quota()


async def test_rate_limits_before_work_are_retried_on_paid_routes(glm: GLMClient, fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    fake.script("embeddings", Fault(status=429, code="1305"))
    answer = await glm.embed(EmbeddingRequest(input="x"))
    assert len(answer.vectors) == 1 and len(fake.requests_to("embeddings")) == 2
    fake.script("rerank", *[Fault(status=429, code="1302")] * 4)
    with pytest.raises(RateLimited, match="gave up after 4 attempts"):
        await glm.rerank(RerankRequest(query="q", documents=["d"]))


def test_catalogue_file_and_video_parts_per_platform() -> None:
    glm46v, glm45v, flash = catalog.find("glm-4.6v"), catalog.find("glm-4.5v"), catalog.find("glm-5.3-flash")
    assert glm46v is not None and glm45v is not None and flash is not None
    assert (glm46v.file_part("zai"), glm46v.file_part("bigmodel")) == ("file", "file_url")
    assert (flash.file_part("zai"), flash.file_part("bigmodel"), flash.file_ids) == ("file", None, True)
    assert (glm45v.file_part("zai"), glm45v.file_part("bigmodel")) == ("file", None)  # Z.AI only
    assert (glm46v.max_videos, glm45v.max_videos) == (2, 1)
    assert catalog.FILE_DATA_PLATFORMS == ("zai",)
