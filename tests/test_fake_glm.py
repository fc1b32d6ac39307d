"""Tests of the fake GLM server itself (tests/fake_glm), driven over real HTTP with httpx2.
They pin the wire format the rest of the test suite relies on (glm-api.md §2, §3, §5, §17)."""

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.fake_glm import FakeGLM, Fault

AUTH = {"Authorization": "Bearer test-key"}
ID_PATTERN = re.compile(r"^\d{14}[0-9a-f]{16}$")


@pytest.fixture
def fake() -> Iterator[FakeGLM]:
    with FakeGLM() as server:
        yield server


@pytest.fixture
def client(fake: FakeGLM) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=fake.base_url + "/", headers=AUTH, timeout=5.0) as http:
        yield http


def chat_body(text: str = "hello brave new world", **extra: Any) -> dict[str, Any]:
    return {"model": "glm-4.5", "messages": [{"role": "user", "content": text}], **extra}


def sse_payloads(raw: bytes) -> list[str]:
    """Split a raw SSE body into event payloads, asserting the exact GLM framing."""
    assert raw.endswith(b"\n\n")
    events = raw.decode("utf-8").split("\n\n")[:-1]
    for event in events:
        assert event.startswith("data: ")
        assert "\n" not in event  # one `data:` line per event, no event:/id: lines
    return [event.removeprefix("data: ") for event in events]


def test_chat_non_stream_shape(client: httpx2.Client) -> None:
    response = client.post("chat/completions", json=chat_body(request_id=None, thinking=None))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert set(body) == {"choices", "created", "id", "model", "request_id", "usage"}
    assert ID_PATTERN.match(body["id"])
    assert body["request_id"] == body["id"]
    assert body["model"] == "glm-4.5"
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["index"] == 0
    assert choice["message"] == {
        "content": "Fake GLM answer to: hello brave new world",
        "reasoning_content": "Thinking about: hello brave new world",
        "role": "assistant",
    }
    assert body["usage"] == {
        "completion_tokens": 14,
        "prompt_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 0},
        "total_tokens": 18,
    }


def test_chat_stream_framing_matches_non_stream(client: httpx2.Client) -> None:
    plain = client.post("chat/completions", json=chat_body(request_id="my-request-1")).json()
    response = client.post("chat/completions", json=chat_body(stream=True))
    assert response.headers["content-type"] == "text/event-stream;charset=UTF-8"
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert len({c["created"] for c in chunks}) == 1
    for chunk in chunks:
        assert "object" not in chunk
        assert chunk["model"] == "glm-4.5"
        assert chunk["choices"][0]["delta"]["role"] == "assistant"
    *middle, last = chunks
    assert all("finish_reason" not in c["choices"][0] and "usage" not in c for c in middle)
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert last["usage"]["total_tokens"] == plain["usage"]["total_tokens"]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    message = plain["choices"][0]["message"]
    assert "".join(d.get("content", "") for d in deltas) == message["content"]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == message["reasoning_content"]
    assert plain["request_id"] == "my-request-1"


def test_thinking_disabled_has_no_reasoning(client: httpx2.Client) -> None:
    body = chat_body(thinking={"type": "disabled"})
    message = client.post("chat/completions", json=body).json()["choices"][0]["message"]
    assert "reasoning_content" not in message
    raw = client.post("chat/completions", json={**body, "stream": True}).content
    assert b"reasoning_content" not in raw


def test_chat_validation_errors(client: httpx2.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": [{"role": "user", "content": "x"}]}, "1214"),
        (chat_body(model="glm-nope"), "1211"),
        ({"model": "glm-4.5", "messages": []}, "1214"),
        ({"model": "glm-4.5", "messages": [{"role": "system", "content": "x"}]}, "1214"),
        (chat_body(temperature=1.5), "1210"),
        (chat_body(max_tokens=0), "1210"),
        (
            {
                "model": "glm-4.5",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
                    }
                ],
            },
            "1210",
        ),
    ]
    for body, code in cases:
        response = client.post("chat/completions", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == code, body
    assert client.post("chat/completions", content=b"{not json").json()["error"]["code"] == "1210"


def test_vision_json_mode_and_max_tokens(client: httpx2.Client) -> None:
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "aGVsbG8="}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}},
    ]
    vision = {"model": "GLM-4.6V", "messages": [{"role": "user", "content": parts}]}
    content = client.post("chat/completions", json=vision).json()["choices"][0]["message"]["content"]
    assert content == "Fake GLM answer to: what is this (2 images)"
    as_json = chat_body(response_format={"type": "json_object"})
    content = client.post("chat/completions", json=as_json).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"answer": "Fake GLM answer to: hello brave new world"}
    choice = client.post("chat/completions", json=chat_body(max_tokens=3)).json()["choices"][0]
    assert choice["message"]["content"] == "Fake GLM answer"
    assert choice["finish_reason"] == "length"


def test_chat_builtin_web_search(client: httpx2.Client) -> None:
    tool = {"type": "web_search", "web_search": {"enable": "True", "search_result": "true", "count": "5"}}
    body = client.post("chat/completions", json=chat_body(tools=[tool])).json()
    assert [r["refer"] for r in body["web_search"]] == ["ref_1", "ref_2"]
    assert body["web_search"][0]["link"].startswith("https://example.com/")
    assert "[ref_1]" in body["choices"][0]["message"]["content"]
    stream = client.post("chat/completions", json=chat_body(tools=[tool], stream=True)).content
    assert "web_search" in json.loads(sse_payloads(stream)[0])


def test_web_search_endpoint(client: httpx2.Client) -> None:
    body = {
        "search_query": "glm news",
        "search_engine": "search-prime",
        "count": 3,
        "search_domain_filter": "www.example.org",
        "content_size": "high",
    }
    response = client.post("web_search", json=body)
    assert response.status_code == 200
    result = response.json()
    assert ID_PATTERN.match(result["id"])
    assert result["request_id"] == result["id"]
    assert result["search_intent"] == [{"query": "glm news", "intent": "SEARCH_ALL", "keywords": "glm news"}]
    items = result["search_result"]
    assert [i["refer"] for i in items] == ["ref_1", "ref_2", "ref_3"]
    assert all(i["link"].startswith("https://www.example.org/") for i in items)
    assert len(items[0]["content"]) > 2000
    assert set(items[0]) == {"title", "content", "link", "media", "icon", "refer", "publish_date"}
    missing = client.post("web_search", json={"search_query": "glm news"})
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {"code": "1214", "message": "search_engine:The search_engine cannot both be empty."}
    }
    unknown = client.post("web_search", json={"search_query": "q", "search_engine": "bing"})
    assert unknown.json()["error"]["code"] == "1211"


def test_auth_errors(fake: FakeGLM) -> None:
    with httpx2.Client(base_url=fake.base_url + "/") as http:
        missing = http.post("chat/completions", json=chat_body())
        assert (missing.status_code, missing.json()["error"]["code"]) == (401, "1001")
        fake.api_keys = {"k1"}
        wrong = http.post("chat/completions", json=chat_body(), headers={"Authorization": "Bearer k2"})
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "1000")
        good = http.post("chat/completions", json=chat_body(), headers={"Authorization": "Bearer k1"})
        assert good.status_code == 200


def test_scripted_faults_then_normal(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.script(
        "chat/completions",
        Fault(status=429, code="1302", retry_after=2),
        Fault(code="1301"),
        Fault(body='{"choices": [', content_type="application/json"),
    )
    first = client.post("chat/completions", json=chat_body())
    assert first.status_code == 429
    assert first.headers["retry-after"] == "2"
    assert first.json()["error"] == {
        "code": "1302",
        "message": "High concurrency usage of this API, please reduce concurrency or contact customer "
        "service to increase limits",
    }
    second = client.post("chat/completions", json=chat_body())
    assert second.status_code == 400
    assert second.json()["contentFilter"] == [{"level": 1, "role": "user"}]
    third = client.post("chat/completions", json=chat_body())
    assert (third.status_code, third.content) == (200, b'{"choices": [')
    assert client.post("chat/completions", json=chat_body()).status_code == 200


def test_drop_and_delay_are_transport_errors(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.script("chat/completions", Fault(drop=True), Fault(delay=1.0))
    with pytest.raises(httpx2.TransportError):
        client.post("chat/completions", json=chat_body())
    with pytest.raises(httpx2.ReadTimeout):
        client.post("chat/completions", json=chat_body(), timeout=0.2)


def test_cut_after_truncates_stream(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.script("chat/completions", Fault(cut_after=2))
    received = bytearray()

    def read_stream() -> None:
        with client.stream("POST", "chat/completions", json=chat_body(stream=True)) as response:
            for data in response.iter_raw():
                received.extend(data)

    with pytest.raises(httpx2.TransportError):
        read_stream()
    assert received.count(b"data: ") == 2
    assert b"[DONE]" not in received
    assert b"finish_reason" not in received


def test_stream_finish_reason_and_no_done(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.script("chat/completions", Fault(cut_after=3, finish_reason="sensitive"), Fault(no_done=True))
    payloads = sse_payloads(client.post("chat/completions", json=chat_body(stream=True)).content)
    assert len(payloads) == 5
    assert payloads[-1] == "[DONE]"
    final = json.loads(payloads[-2])
    assert final["choices"][0]["finish_reason"] == "sensitive"
    assert final["content_filter"] == [{"role": "assistant", "level": 1}]
    payloads = sse_payloads(client.post("chat/completions", json=chat_body(stream=True)).content)
    assert payloads[-1] != "[DONE]"
    assert json.loads(payloads[-1])["choices"][0]["finish_reason"] == "stop"


def test_chunk_delay_streams_events_one_by_one(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.chunk_delay = 0.05
    arrivals: list[float] = []
    with client.stream("POST", "chat/completions", json=chat_body("a b", stream=True)) as response:
        for _ in response.iter_raw():
            arrivals.append(time.monotonic())
    assert len(arrivals) >= 5
    assert arrivals[-1] - arrivals[0] >= 0.2


def test_requests_are_recorded(fake: FakeGLM) -> None:
    with httpx2.Client(headers=AUTH) as http:
        http.post(fake.base_url + "/chat/completions", json=chat_body())
        search_body = {"search_query": "q", "search_engine": "search_std"}
        http.post(fake.coding_base_url + "/web_search", json=search_body)
        assert http.get(fake.root_url + "/nowhere").status_code == 404
    chat, search, other = fake.requests
    assert (chat.method, chat.path, chat.route, chat.base) == (
        "POST",
        "/api/paas/v4/chat/completions",
        "chat/completions",
        "paas",
    )
    assert chat.json == chat_body()
    assert chat.headers["authorization"] == "Bearer test-key"
    assert (search.route, search.base, search.json["search_query"]) == ("web_search", "coding", "q")
    assert (other.route, other.base, other.json) == ("nowhere", "", None)
    assert fake.requests_to("web_search") == [search]
    assert chat.connection == search.connection
    assert chat.time <= search.time
    fake.reset()
    assert (fake.requests, fake.connections, fake.api_keys) == ([], 0, None)


def test_keep_alive_reuses_one_connection(fake: FakeGLM, client: httpx2.Client) -> None:
    for _ in range(3):
        assert client.post("chat/completions", json=chat_body()).status_code == 200
    assert fake.connections == 1
    assert len({r.connection for r in fake.requests}) == 1
