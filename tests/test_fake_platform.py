"""Tests of the fake's platform tool routes (tests/fake_glm/platform.py) over real HTTP: reader, GLM-OCR,
GLM-TTS, embeddings, rerank, tokenizer, the translation agent and the Coding Plan quota, per platform."""

import base64
import io
import json
import math
import wave
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM, Fault
from tests.fake_glm.platform import OCR_PAGES, TTS_RATE, Page, pdf_pages
from tests.samples import GIF, JPEG, PNG, pdf

AUTH = {"Authorization": f"Bearer {CANARY_KEY}"}
PLAN_KEY = "plan-key-without-balance"
USER = [{"role": "user", "content": "hello brave new world"}]


@pytest.fixture
def http(fake: FakeGLM) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=fake.base_url + "/", headers=AUTH, timeout=10.0) as client:
        yield client


def refused(answer: httpx2.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


PLATFORMS = pytest.mark.parametrize("platform", ["zai", "bigmodel"])

# ---------------------------------------------------------------- reader


@PLATFORMS
def test_reader_answers_the_default_page(fake: FakeGLM, http: httpx2.Client, platform: str) -> None:
    fake.platform = platform
    body = http.post("reader", json={"url": "https://example.org/a"}).json()
    assert set(body) == {"id", "created", "request_id", "model", "reader_result"}
    result = body["reader_result"]
    assert result["url"] == "https://example.org/a"
    assert result["title"] == "Page at example.org"
    assert result["content"].startswith("# Page at example.org")
    assert "![A diagram](https://example.org/diagram.png)" in result["content"]
    assert {"description", "external", "metadata"} <= set(result)
    assert "links" not in result and "images" not in result


def test_reader_serves_the_test_pages_in_each_format(fake: FakeGLM, http: httpx2.Client) -> None:
    markdown = "# Title\n\nSee [the docs](https://d.io/x) and ![logo](https://d.io/l.png).\n\n- **one**\n"
    fake.pages["https://d.io/"] = ("Docs", markdown)
    fake.pages["https://d.io/p"] = Page("P", "body", description="about p", published="2026-01-02")
    page = http.post(
        "reader", json={"url": "https://d.io/", "with_links_summary": True, "with_images_summary": True}
    )
    result = page.json()["reader_result"]
    assert (result["title"], result["content"]) == ("Docs", markdown)
    assert result["links"] == {"the docs": "https://d.io/x"}
    assert result["images"] == {"logo": "https://d.io/l.png"}
    text = http.post("reader", json={"url": "https://d.io/", "return_format": "text"}).json()["reader_result"]
    assert text["content"] == "Title\n\nSee the docs and .\n\none"
    bare = http.post("reader", json={"url": "https://d.io/", "retain_images": False}).json()["reader_result"]
    assert "![logo]" not in bare["content"] and "[the docs](https://d.io/x)" in bare["content"]
    other = http.post("reader", json={"url": "https://d.io/p"}).json()["reader_result"]
    assert (other["description"], other["publishedTime"]) == ("about p", "2026-01-02")


def test_reader_returns_a_long_page_whole(fake: FakeGLM, http: httpx2.Client) -> None:
    long = "word " * 40_000
    fake.pages["https://big.example/"] = ("Big", long)
    content = http.post("reader", json={"url": "https://big.example/"}).json()["reader_result"]["content"]
    assert len(content) == 200_000 and content == long


@pytest.mark.parametrize(
    ("platform", "body", "expected"),
    [
        ("zai", {"url": "https://gone.example/"}, (400, "1214")),  # fake.pages maps it to None
        ("bigmodel", {"url": "https://gone.example/"}, (400, "1214")),
        ("zai", {"url": "ftp://e.com/x"}, (400, "1214")),
        ("zai", {"url": "https://e.com", "return_format": "html"}, (400, "1210")),  # the route's rule
        ("bigmodel", {"url": "https://e.com", "return_format": "html"}, (400, "1210")),  # the schema's
        ("zai", {}, (400, "1214")),
        ("zai", {"url": "https://e.com", "request_id": "abcdef"}, (400, "1210")),  # not in ReaderRequest
    ],
)
def test_reader_refusals(fake: FakeGLM, http: httpx2.Client, platform: str, body: Any, expected: Any) -> None:
    fake.platform = platform
    fake.pages["https://gone.example/"] = None
    assert refused(http.post("reader", json=body)) == expected


def test_reader_is_not_served_at_the_host_root(fake: FakeGLM) -> None:
    answer = httpx2.post(f"{fake.root_url}/api/reader", json={"url": "https://e.com"}, headers=AUTH)
    assert refused(answer) == (404, "1222")


# ---------------------------------------------------------------- layout_parsing (GLM-OCR)


def ocr(http: httpx2.Client, file: str, **extra: Any) -> httpx2.Response:
    return http.post("layout_parsing", json={"model": "glm-ocr", "file": file, **extra})


def test_samples_pdf_is_a_pdf_of_its_pages() -> None:
    document = pdf(150)
    assert document.startswith(b"%PDF-1.4\n") and document.rstrip().endswith(b"%%EOF")
    assert pdf_pages(document) == 150 and len(document) < 16_000
    start = int(document.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert document[start:].startswith(b"xref\n0 153\n")


@PLATFORMS
def test_ocr_parses_a_pdf_range_and_records_it(fake: FakeGLM, http: httpx2.Client, platform: str) -> None:
    fake.platform = platform
    body = ocr(http, b64(pdf(150)), start_page_id=3, end_page_id=5, request_id="ocr-req-1").json()
    assert (body["model"], body["request_id"], body["data_info"]["num_pages"]) == (
        "GLM-OCR",
        "ocr-req-1",
        150,
    )
    assert len(body["layout_details"]) == 3 == len(body["data_info"]["pages"])
    labels = {block["label"] for page in body["layout_details"] for block in page}
    assert labels == {"text", "table", "formula", "image"}
    for page in body["layout_details"]:
        for block in page:
            assert len(block["bbox_2d"]) == 4 and all(0 <= x <= 1 for x in block["bbox_2d"])
            assert {"index", "content", "width", "height"} <= set(block)
    assert "## Page 3" in body["md_results"] and "## Page 6" not in body["md_results"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert "layout_visualization" not in body
    assert fake.parsed_pages == [(3, 5)]


@pytest.mark.parametrize(("platform", "limit"), [("zai", 30), ("bigmodel", 100)])
def test_ocr_page_limit_per_request(fake: FakeGLM, http: httpx2.Client, platform: str, limit: int) -> None:
    """A 150-page PDF: 30 pages a request on Z.AI, 100 on BigModel; the whole document in one is refused."""
    fake.platform = platform
    document = b64(pdf(150))
    assert OCR_PAGES[platform] == limit
    assert refused(ocr(http, document)) == (400, "1210")
    assert refused(ocr(http, document, start_page_id=1, end_page_id=limit + 1)) == (400, "1210")
    assert refused(ocr(http, document, start_page_id=9, end_page_id=8)) == (400, "1210")
    assert refused(ocr(http, document, start_page_id=151)) == (400, "1210")
    assert fake.parsed_pages == []
    start = 1
    while start <= 150:
        assert ocr(http, document, start_page_id=start, end_page_id=start + limit - 1).status_code == 200
        start += limit
    expected = [(s, min(s + limit - 1, 150)) for s in range(1, 151, limit)]
    assert fake.parsed_pages == expected  # the last range's end is clamped to the document's last page
    assert "message" in ocr(http, document).json()["error"]


def test_ocr_takes_images_as_data_urls_and_base64(fake: FakeGLM, http: httpx2.Client) -> None:
    png = ocr(http, "data:image/png;base64," + b64(PNG), need_layout_visualization=True).json()
    assert png["data_info"]["num_pages"] == 1 and len(png["layout_details"]) == 1
    assert len(png["layout_visualization"]) == 1
    assert ocr(http, b64(JPEG)).status_code == 200
    assert ocr(http, "data:application/pdf;base64," + b64(pdf(2))).json()["data_info"]["num_pages"] == 2
    assert fake.parsed_pages == [(1, 1), (1, 1), (1, 2)]


def test_ocr_reads_urls_from_the_documents_table(fake: FakeGLM, http: httpx2.Client) -> None:
    fake.documents["https://files.example/report"] = pdf(40)
    assert ocr(http, "https://files.example/report", start_page_id=31).json()["data_info"]["num_pages"] == 40
    assert ocr(http, "https://files.example/scan.png").status_code == 200  # not listed: by its extension
    assert fake.parsed_pages == [(31, 40), (1, 1)]


@pytest.mark.parametrize(
    ("file", "extra", "expected"),
    [
        (b64(GIF), {}, (400, "1210")),  # only PDF, JPG and PNG
        (b64(b"plain text, not a document"), {}, (400, "1210")),
        ("not base64 at all!", {}, (400, "1210")),
        ("https://files.example/a.docx", {}, (400, "1210")),
        ("https://files.example/huge.pdf", {}, (400, "1210")),  # over 50 MB
        ("https://files.example/huge.png", {}, (400, "1210")),  # over 10 MB
        (b64(pdf(1)), {"start_page_id": 0}, (400, "1210")),
        ("", {}, (400, "1214")),
        (b64(pdf(1)), {"model": "glm-4v"}, (400, "1211")),
        (b64(pdf(1)), {"pages": 3}, (400, "1210")),
    ],
)
def test_ocr_refusals(fake: FakeGLM, http: httpx2.Client, file: str, extra: Any, expected: Any) -> None:
    fake.documents["https://files.example/huge.pdf"] = pdf(1) + bytes(50 * 1024 * 1024)
    fake.documents["https://files.example/huge.png"] = PNG + bytes(10 * 1024 * 1024)
    assert refused(ocr(http, file, **extra)) == expected
    assert fake.parsed_pages == []


# ---------------------------------------------------------------- audio/speech (GLM-TTS)


def speak(http: httpx2.Client, text: str, **extra: Any) -> httpx2.Response:
    return http.post("audio/speech", json={"model": "glm-tts", "input": text, **extra})


def read_wav(data: bytes) -> tuple[int, int, int, bytes]:
    with wave.open(io.BytesIO(data)) as source:
        frames = source.readframes(source.getnframes())
        return source.getnchannels(), source.getsampwidth(), source.getframerate(), frames


def test_tts_answers_a_valid_wav_as_long_as_its_text(fake: FakeGLM, http: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    short = speak(http, "你好" * 10, response_format="wav", voice="xiaochen")
    long = speak(http, "你好" * 20, response_format="wav")
    assert short.headers["content-type"] == "audio/wav" and short.content.startswith(b"RIFF")
    channels, width, rate, frames = read_wav(short.content)
    assert (channels, width, rate) == (1, 2, TTS_RATE)
    assert len(frames) // 2 == round(20 * 0.05 * TTS_RATE)  # 20 characters: one second
    assert len(read_wav(long.content)[3]) == 2 * len(frames)
    fast = speak(http, "你好" * 10, response_format="wav", speed=2)
    assert len(read_wav(fast.content)[3]) == len(frames) // 2
    joined = io.BytesIO()
    with wave.open(joined, "wb") as sink:  # a client joins the pieces of a long text
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(TTS_RATE)
        for piece in (short, long):
            sink.writeframes(read_wav(piece.content)[3])
    assert len(read_wav(joined.getvalue())[3]) == 3 * len(frames)


def test_tts_pcm_by_default_and_streamed(fake: FakeGLM, http: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    fake.voices.add("voice-clone-123")
    pcm = speak(http, "hello", voice="voice-clone-123")
    assert pcm.headers["content-type"] == "application/octet-stream"
    assert len(pcm.content) == 2 * round(5 * 0.05 * TTS_RATE) and not pcm.content.startswith(b"RIFF")
    streamed = speak(http, "x" * 40, stream=True, encode_format="hex")
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    audio = b"".join(bytes.fromhex(c["choices"][0]["delta"]["content"]) for c in chunks)
    assert len(audio) == 2 * round(40 * 0.05 * TTS_RATE)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("platform", "extra", "expected"),
    [
        ("zai", {}, (404, "1222")),
        ("bigmodel", {"input": "x" * 1025}, (400, "1210")),
        ("bigmodel", {"input": ""}, (400, "1214")),
        ("bigmodel", {"voice": "nobody"}, (400, "1210")),
        ("bigmodel", {"speed": 2.5}, (400, "1210")),
        ("bigmodel", {"volume": 0}, (400, "1210")),
        ("bigmodel", {"volume": 10.5}, (400, "1210")),
        ("bigmodel", {"response_format": "mp3"}, (400, "1214")),
        ("bigmodel", {"stream": True, "response_format": "wav"}, (400, "1214")),
        ("bigmodel", {"encode_format": "base64"}, (400, "1210")),  # streaming only
        ("bigmodel", {"model": "cogtts"}, (400, "1211")),
    ],
)
def test_tts_refusals(fake: FakeGLM, http: httpx2.Client, platform: str, extra: Any, expected: Any) -> None:
    fake.platform = platform
    answer = http.post("audio/speech", json={"model": "glm-tts", "input": "hi", **extra})
    assert refused(answer) == expected


# ---------------------------------------------------------------- embeddings


def test_embeddings_vectors_per_model(fake: FakeGLM, http: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    body = http.post(
        "embeddings", json={"model": "embedding-3", "input": ["a cat", "a dog"], "dimensions": 256}
    )
    data = body.json()
    assert (data["model"], data["object"]) == ("embedding-3", "list")
    assert [(d["index"], d["object"], len(d["embedding"])) for d in data["data"]] == [
        (0, "embedding", 256),
        (1, "embedding", 256),
    ]
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
    norm = math.sqrt(sum(x * x for x in data["data"][0]["embedding"]))
    assert abs(norm - 1) < 1e-3
    again = http.post("embeddings", json={"model": "embedding-3", "input": "a cat", "dimensions": 256}).json()
    assert again["data"][0]["embedding"] == data["data"][0]["embedding"]
    assert data["data"][0]["embedding"] != data["data"][1]["embedding"]
    default = http.post("embeddings", json={"model": "embedding-3", "input": "x"}).json()
    assert len(default["data"][0]["embedding"]) == 2048
    old = http.post("embeddings", json={"model": "embedding-2", "input": "x"}).json()
    assert len(old["data"][0]["embedding"]) == 1024


@pytest.mark.parametrize(
    ("platform", "body", "expected"),
    [
        ("zai", {"model": "embedding-3", "input": "x"}, (404, "1222")),
        ("bigmodel", {"model": "embedding-3", "input": ["a"] * 65}, (400, "1210")),
        ("bigmodel", {"model": "embedding-3", "input": "word " * 3073}, (400, "1210")),
        ("bigmodel", {"model": "embedding-2", "input": "word " * 513}, (400, "1210")),
        ("bigmodel", {"model": "embedding-3", "input": ["fine", "  "]}, (400, "1214")),
        ("bigmodel", {"model": "embedding-3", "input": []}, (400, "1214")),
        ("bigmodel", {"model": "embedding-3", "input": "x", "dimensions": 300}, (400, "1210")),
        ("bigmodel", {"model": "embedding-2", "input": "x", "dimensions": 512}, (400, "1210")),
        ("bigmodel", {"model": "text-embedding-3-small", "input": "x"}, (400, "1211")),
    ],
)
def test_embeddings_refusals(
    fake: FakeGLM, http: httpx2.Client, platform: str, body: Any, expected: Any
) -> None:
    fake.platform = platform
    assert refused(http.post("embeddings", json=body)) == expected


# ---------------------------------------------------------------- rerank


def test_rerank_sorts_by_relevance(fake: FakeGLM, http: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    documents = ["dogs bark", "cat food is good for a cat", "the weather", "cat"]
    body = {"model": "rerank", "query": "cat food", "documents": documents, "request_id": "rr-000001"}
    answer = http.post("rerank", json=body)
    assert answer.status_code == 400  # rerank takes no request_id
    del body["request_id"]
    data = http.post("rerank", json={**body, "top_n": 2, "return_documents": True}).json()
    assert {"id", "created", "request_id", "results", "usage"} <= set(data)
    assert [r["index"] for r in data["results"]] == [1, 3]
    assert data["results"][0]["document"] == documents[1]
    assert all(0 < r["relevance_score"] < 1 for r in data["results"])
    full = http.post("rerank", json=body).json()["results"]
    assert len(full) == 4 and "document" not in full[0]
    scores = [r["relevance_score"] for r in full]
    assert scores == sorted(scores, reverse=True)
    raw = http.post("rerank", json={**body, "return_raw_scores": True}).json()["results"]
    assert [r["index"] for r in raw] == [r["index"] for r in full]
    assert any(not 0 < r["relevance_score"] < 1 for r in raw)
    assert http.post("rerank", json={**body, "top_n": 10}).json()["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("platform", "body", "expected"),
    [
        ("zai", {"query": "q", "documents": ["a"]}, (404, "1222")),
        ("bigmodel", {"query": "q", "documents": ["a"] * 129}, (400, "1210")),
        ("bigmodel", {"query": "q", "documents": ["a" * 4097]}, (400, "1210")),
        ("bigmodel", {"query": "q" * 4097, "documents": ["a"]}, (400, "1210")),
        ("bigmodel", {"query": "q", "documents": []}, (400, "1214")),
        ("bigmodel", {"query": "", "documents": ["a"]}, (400, "1214")),
        ("bigmodel", {"query": "q", "documents": ["a"], "top_n": 0}, (400, "1210")),
    ],
)
def test_rerank_refusals(fake: FakeGLM, http: httpx2.Client, platform: str, body: Any, expected: Any) -> None:
    fake.platform = platform
    assert refused(http.post("rerank", json={"model": "rerank", **body})) == expected


# ---------------------------------------------------------------- tokenizer


@PLATFORMS
def test_tokenizer_counts_text_images_and_videos(fake: FakeGLM, http: httpx2.Client, platform: str) -> None:
    fake.platform = platform
    text = http.post("tokenizer", json={"model": "glm-4.6", "messages": USER}).json()
    assert set(text) == {"id", "created", "request_id", "usage"}
    assert text["usage"] == {"prompt_tokens": 8, "image_tokens": 0, "video_tokens": 0, "total_tokens": 8}
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "https://e.com/b.png"}},
        {"type": "video_url", "video_url": {"url": "https://e.com/v.mp4"}},
    ]
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": parts}]
    usage = http.post("tokenizer", json={"model": "glm-4.6v", "messages": messages}).json()["usage"]
    assert (usage["image_tokens"], usage["video_tokens"]) == (2048, 4096)
    assert usage["total_tokens"] == usage["prompt_tokens"] + 2048 + 4096


@pytest.mark.parametrize(
    ("platform", "body", "expected"),
    [
        ("zai", {"model": "glm-4.6", "messages": [{"role": "system", "content": "only me"}]}, (400, "1214")),
        ("zai", {"model": "glm-4.6", "messages": []}, (400, "1214")),
        ("zai", {"model": "glm-4.7", "messages": USER}, (400, "1211")),
        ("bigmodel", {"model": "glm-4.5", "messages": USER}, (400, "1211")),
        ("zai", {"model": "glm-4.6", "messages": [{"role": "tool", "content": "x"}]}, (400, "1210")),
    ],
)
def test_tokenizer_refusals(
    fake: FakeGLM, http: httpx2.Client, platform: str, body: Any, expected: Any
) -> None:
    fake.platform = platform
    assert refused(http.post("tokenizer", json=body)) == expected


# ---------------------------------------------------------------- the translation agent


def translation(text: str = "Good morning", **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agent_id": "general_translation",
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
    }
    if variables:
        body["custom_variables"] = variables
    return body


@PLATFORMS
@pytest.mark.parametrize("where", ["/api/v1/agents", "/api/paas/v4/v1/agents"])
def test_translation_agent_answers(fake: FakeGLM, platform: str, where: str) -> None:
    fake.platform = platform
    body = translation(source_lang="en", target_lang="ja", strategy="three_step", glossary="g-1")
    data = httpx2.post(fake.root_url + where, json=body, headers=AUTH).json()
    assert (data["agent_id"], data["status"]) == ("general_translation", "success")
    [choice] = data["choices"]
    assert (choice["index"], choice["finish_reason"]) == (0, "stop")
    assert choice["messages"]["role"] == "assistant"
    assert choice["messages"]["content"] == {"type": "text", "text": "[en->ja/three_step] Good morning"}
    assert data["usage"]["total_calls"] == 3
    assert (
        data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )
    assert [r.route for r in fake.requests] == ["v1/agents"]


def test_translation_agent_streams(fake: FakeGLM) -> None:
    answer = httpx2.post(
        f"{fake.root_url}/api/v1/agents", json={**translation("a b c"), "stream": True}, headers=AUTH
    )
    events = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["messages"]["content"]["text"] for c in chunks)
    assert text == "[auto->zh-CN/general] a b c"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in chunks[-1]


@pytest.mark.parametrize(
    ("platform", "body", "expected"),
    [
        ("zai", {**translation(), "agent_id": "doc_translation_agent"}, (400, "1211")),
        ("zai", translation(target_lang="xx"), (400, "1210")),
        ("zai", translation(target_lang="auto"), (400, "1210")),  # auto is a source language only
        ("zai", translation(strategy="cot"), (400, "1210")),
        ("zai", translation("   "), (400, "1214")),
        ("zai", {"agent_id": "general_translation", "messages": []}, (400, "1214")),
        ("zai", {**translation(), "request_id": "req-123456"}, (400, "1210")),  # not in Z.AI's document
        ("bigmodel", {**translation(), "request_id": "req-123456", "user_id": "user-1234"}, (200, None)),
    ],
)
def test_translation_agent_refusals(fake: FakeGLM, platform: str, body: Any, expected: Any) -> None:
    fake.platform = platform
    answer = httpx2.post(f"{fake.root_url}/api/v1/agents", json=body, headers=AUTH)
    got = (answer.status_code, answer.json()["error"]["code"] if answer.status_code != 200 else None)
    assert got == expected


# ---------------------------------------------------------------- Coding Plan quota


def quota(fake: FakeGLM, key: str | None, path: str = "/api/monitor/usage/quota/limit") -> httpx2.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx2.get(fake.root_url + path, headers=headers)


@PLATFORMS
def test_quota_of_a_plan_key(fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    fake.coding_keys.add(PLAN_KEY)
    fake.quota.calls_used = 40
    fake.quota.token_percentage = 73
    body = quota(fake, PLAN_KEY).json()
    assert (body["code"], body["success"], body["data"]["level"]) == (200, True, "lite")
    calls, tokens = body["data"]["limits"]
    assert calls["type"] == "TIME_LIMIT"
    assert (calls["usage"], calls["currentValue"], calls["remaining"], calls["percentage"]) == (
        100,
        40,
        60,
        40,
    )
    assert {d["modelCode"] for d in calls["usageDetails"]} == {"search-prime", "web-reader", "zread"}
    assert (tokens["type"], tokens["unit"], tokens["number"], tokens["percentage"]) == (
        "TOKENS_LIMIT",
        3,
        5,
        73,
    )
    assert isinstance(tokens["nextResetTime"], int)
    plain = quota(fake, CANARY_KEY).json()  # a key with no plan: no limits
    assert plain["data"] == {"limits": []}


def test_quota_refusals(fake: FakeGLM) -> None:
    fake.coding_keys.add(PLAN_KEY)
    assert refused(quota(fake, None)) == (401, "1001")
    assert refused(quota(fake, "someone-else")) == (401, "1000")
    assert refused(quota(fake, PLAN_KEY, "/api/paas/v4/monitor/usage/quota/limit")) == (404, "1222")
    posted = httpx2.post(f"{fake.root_url}/api/monitor/usage/quota/limit", headers=AUTH, json={})
    assert refused(posted) == (405, "1222")
    fake.quota_available = False
    assert refused(quota(fake, PLAN_KEY)) == (404, "1222")


def test_plan_key_without_balance_is_refused_by_the_paid_tools(fake: FakeGLM) -> None:
    fake.coding_keys.add(PLAN_KEY)
    plan = {"Authorization": f"Bearer {PLAN_KEY}"}
    assert refused(httpx2.post(f"{fake.root_url}/api/v1/agents", json=translation(), headers=plan)) == (
        429,
        "1113",
    )
    assert refused(httpx2.post(f"{fake.base_url}/reader", json={"url": "https://e.com"}, headers=plan)) == (
        429,
        "1113",
    )
    coding = httpx2.post(f"{fake.coding_base_url}/reader", json={"url": "https://e.com"}, headers=plan)
    assert refused(coding) == (429, "1113")


# ---------------------------------------------------------------- scripted faults


@pytest.mark.parametrize(
    ("route", "method", "url", "body"),
    [
        ("reader", "POST", "/api/paas/v4/reader", {"url": "https://e.com"}),
        (
            "layout_parsing",
            "POST",
            "/api/paas/v4/layout_parsing",
            {"model": "glm-ocr", "file": "https://e/a.pdf"},
        ),
        ("tokenizer", "POST", "/api/paas/v4/tokenizer", {"model": "glm-4.6", "messages": USER}),
        ("v1/agents", "POST", "/api/v1/agents", translation()),
        ("monitor/usage/quota/limit", "GET", "/api/monitor/usage/quota/limit", None),
    ],
)
def test_scripted_faults_reach_the_platform_routes(
    fake: FakeGLM, route: str, method: str, url: str, body: Any
) -> None:
    fake.script(route, Fault(status=429, code="1302", retry_after=2), Fault(status=500))
    with httpx2.Client(base_url=fake.root_url, headers=AUTH, timeout=5.0) as client:
        first = client.request(method, url, json=body)
        assert refused(first) == (429, "1302") and first.headers["retry-after"] == "2"
        assert refused(client.request(method, url, json=body)) == (500, "500")
        assert client.request(method, url, json=body).status_code == 200


def test_scripted_faults_reach_the_bigmodel_routes(fake: FakeGLM, http: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    for route, body in [
        ("audio/speech", {"model": "glm-tts", "input": "hi"}),
        ("embeddings", {"model": "embedding-2", "input": "hi"}),
        ("rerank", {"model": "rerank", "query": "q", "documents": ["d"]}),
    ]:
        fake.script(route, Fault(status=429, code="1305"))
        assert refused(http.post(route, json=body)) == (429, "1305")
        assert http.post(route, json=body).status_code == 200
