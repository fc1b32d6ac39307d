"""Tests of the fake GLM server itself (tests/fake_glm), driven over real HTTP with httpx2.
They pin the wire format the rest of the test suite relies on (glm-api.md §2, §3, §5, §7, §8, §9, §17)."""

import base64
import json
import re
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.conftest import wav_file
from tests.fake_glm import FakeGLM, Fault, TaskPlan, reference
from tests.fake_glm.media import PNG

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
        {"type": "image_url", "image_url": {"url": "iVBORw0KGgo="}},  # bare base64 of a PNG's head
        {"type": "image_url", "image_url": {"url": "/9j/4A=="}},  # and of a JPEG's
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
    search = {"enable": True, "search_engine": "search_pro_jina", "search_result": True, "count": 5}
    tool = {"type": "web_search", "web_search": search}
    body = client.post("chat/completions", json=chat_body(tools=[tool])).json()
    assert [r["refer"] for r in body["web_search"]] == ["ref_1", "ref_2"]
    assert body["web_search"][0]["link"].startswith("https://example.com/")
    assert "[ref_1]" in body["choices"][0]["message"]["content"]
    stream = client.post("chat/completions", json=chat_body(tools=[tool], stream=True)).content
    assert "web_search" in json.loads(sse_payloads(stream)[0])
    for wrong in ({"enable": True}, {"enable": True, "search_engine": "search-prime"}):
        refused = client.post(
            "chat/completions", json=chat_body(tools=[{"type": "web_search", "web_search": wrong}])
        )
        assert refused.status_code == 400
        # search_engine is required (1214); Z.AI's enum has search_pro_jina only (1210, the schema's enum)
        assert refused.json()["error"]["code"] == ("1214" if len(wrong) == 1 else "1210")


def test_web_search_endpoint(fake: FakeGLM, client: httpx2.Client) -> None:
    body: dict[str, Any] = {
        "search_query": "glm news",
        "search_engine": "search-prime",
        "count": 3,
        "search_domain_filter": "www.example.org",
    }
    response = client.post("web_search", json=body)
    assert response.status_code == 200
    result = response.json()
    assert ID_PATTERN.match(result["id"])
    assert result["request_id"] == result["id"]
    assert "search_intent" not in result  # Z.AI's answer has none
    items = result["search_result"]
    assert [i["refer"] for i in items] == ["ref_1", "ref_2", "ref_3"]
    assert all(i["link"].startswith("https://www.example.org/") for i in items)
    assert len(items[0]["content"]) < 1000
    assert set(items[0]) == {"title", "content", "link", "media", "icon", "refer", "publish_date"}
    fake.platform = "bigmodel"
    cn = {**body, "search_engine": "search_std", "search_intent": False, "content_size": "high"}  # CN only
    result = client.post("web_search", json=cn).json()
    assert result["search_intent"] == [{"query": "glm news", "intent": "SEARCH_ALL", "keywords": "glm news"}]
    assert len(result["search_result"][0]["content"]) > 2000
    fake.platform = "zai"
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


# ---------------------------------------------------------------- media: images, videos, tasks, ASR, CDN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASK_ID_PATTERN = re.compile(r"^\d{19}$")
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    return wav_file(b"\x00\x01" * int(seconds * rate), rate)


def create_video(client: httpx2.Client, **extra: Any) -> dict[str, Any]:
    response = client.post("videos/generations", json={"model": "cogvideox-3", "prompt": "a cat", **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(client: httpx2.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"async-result/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_image_generation_shape_and_validation(fake: FakeGLM, client: httpx2.Client) -> None:
    body = {
        "model": "glm-image",
        "prompt": "a red fox",
        "size": "1568x1056",
        "quality": "hd",
        "user_id": None,
    }
    response = client.post("images/generations", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    result = response.json()
    assert set(result) == {"created", "data", "content_filter"}
    assert isinstance(result["created"], int)
    assert result["content_filter"] == [{"role": "assistant", "level": 3}]
    [item] = result["data"]
    assert re.fullmatch(re.escape(fake.root_url) + r"/media/image-\d{14}[0-9a-f]{16}\.png", item["url"])
    with httpx2.Client(base_url=fake.coding_base_url + "/", headers=AUTH) as coding:
        ok = {"model": "cogview-4-250304", "prompt": "x", "size": "1440x720", "quality": "standard"}
        refused = coding.post("images/generations", json=ok)  # the Coding Plan's endpoint serves chat only
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "1113")
        assert client.post("images/generations", json=ok).status_code == 200
    assert client.post("images/generations", json={**body, "size": "2048x2048"}).status_code == 200
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"prompt": "x"}, "1214", "model"),
        ({"model": "dall-e-3", "prompt": "x"}, "1211", ""),
        ({"model": "glm-image"}, "1214", "prompt"),
        ({"model": "glm-image", "prompt": "x", "size": "1000x1000"}, "1214", "size"),  # not /32
        ({"model": "glm-image", "prompt": "x", "size": "512x512"}, "1214", "size"),  # < 1024
        ({"model": "cogview-4-250304", "prompt": "x", "size": "2048x2048"}, "1214", "size"),  # > 2^21 px
        ({"model": "cogview-4-250304", "prompt": "x", "size": "big"}, "1214", "size"),
        ({"model": "cogview-4-250304", "prompt": "x", "quality": "ultra"}, "1210", "quality"),  # enum
        ({"model": "cogview-4", "prompt": "x"}, "1211", ""),  # BigModel's only
    ]
    for case, code, field in cases:
        error = client.post("images/generations", json=case)
        assert error.status_code == 400, case
        assert error.json()["error"]["code"] == code, case
        assert error.json()["error"]["message"].startswith(field), case


def test_video_task_processing_then_success_and_download(fake: FakeGLM, client: httpx2.Client) -> None:
    frames = ["https://example.com/first.png", PNG_DATA_URL]
    created = create_video(client, image_url=frames, quality="speed", with_audio=True, request_id="req-12345")
    assert set(created) == {"model", "id", "request_id", "task_status"}
    assert TASK_ID_PATTERN.match(created["id"])
    assert (created["model"], created["request_id"], created["task_status"]) == (
        "cogvideox-3",
        "req-12345",
        "PROCESSING",
    )
    task_id = created["id"]
    for _ in range(2):
        assert poll(client, task_id) == {**created, "task_status": "PROCESSING"}
    done = poll(client, task_id)
    assert done["task_status"] == "SUCCESS"
    [video] = done["video_result"]
    assert video == {
        "url": fake.media_url(f"video-{task_id}.mp4"),
        "cover_image_url": fake.media_url(f"cover-{task_id}.png"),
    }
    assert poll(client, task_id)["task_status"] == "SUCCESS"  # done stays done
    with httpx2.Client() as cdn:  # CDN URLs need no key
        mp4 = cdn.get(video["url"])
        cover = cdn.get(video["cover_image_url"])
    assert (mp4.status_code, mp4.headers["content-type"]) == (200, "video/mp4")
    assert mp4.content[4:8] == b"ftyp"
    assert len(mp4.content) == int(mp4.headers["content-length"]) == 64 * 1024
    assert cover.content.startswith(PNG_SIGNATURE)
    task = fake.tasks[task_id]
    assert (task.kind, task.model, task.polls, task.prompt) == ("video", "cogvideox-3", 4, "a cat")
    assert task.image_urls == tuple(frames)
    assert [r.route for r in fake.requests[1:4]] == [f"async-result/{task_id}"] * 3
    assert create_video(client)["id"] != task_id


def test_png_is_valid(fake: FakeGLM) -> None:
    data = httpx2.get(fake.media_url("image-abc_0.png")).content
    assert data.startswith(PNG_SIGNATURE)
    offset, chunks = 8, {}
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind, payload = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        assert struct.unpack_from(">I", data, offset + 8 + length)[0] == zlib.crc32(kind + payload)
        chunks[kind] = payload
        offset += 12 + length
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (2, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 2 * (1 + 2 * 3)
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]


def test_task_fail_plan(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_code="1301", fail_message="review failed")
    created = create_video(client)
    assert poll(client, created["id"])["task_status"] == "PROCESSING"
    assert poll(client, created["id"]) == {
        **created,
        "task_status": "FAIL",
        "error": {"code": "1301", "message": "review failed"},
    }
    fake.task_plan = TaskPlan(polls=0)
    assert poll(client, create_video(client)["id"])["task_status"] == "SUCCESS"
    assert fake.tasks[created["id"]].plan.outcome == "FAIL"  # plans stick to the tasks made under them


def test_task_seconds_plan_ignores_polls(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.task_plan = TaskPlan(polls=0, seconds=0.4)
    task_id = create_video(client)["id"]
    statuses = [poll(client, task_id)["task_status"] for _ in range(3)]
    assert statuses == ["PROCESSING"] * 3
    time.sleep(0.45)
    assert poll(client, task_id)["task_status"] == "SUCCESS"
    assert fake.tasks[task_id].polls == 4


def test_a_held_task_ends_when_finished(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.task_plan = TaskPlan(seconds=3600, outcome="FAIL")
    held, other = create_video(client)["id"], create_video(client)["id"]
    assert poll(client, held)["task_status"] == "PROCESSING"
    fake.finish_task(held)
    assert poll(client, held)["task_status"] == "FAIL"  # the plan's outcome, now
    assert poll(client, other)["task_status"] == "PROCESSING"


def test_unknown_task_status_is_configurable(fake: FakeGLM, client: httpx2.Client) -> None:
    missing = client.get("async-result/1234567890123456789")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "1214", "message": "task id not found"}}
    fake.unknown_task_status = 400
    assert client.get("async-result/1234567890123456789").status_code == 400
    assert client.post("async-result/1").status_code == 405
    with httpx2.Client(base_url=fake.base_url + "/") as anonymous:
        assert anonymous.get("async-result/1").json()["error"]["code"] == "1001"


def test_async_image_generation(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.task_plan = TaskPlan(polls=1)
    response = client.post(
        "async/images/generations", json={"model": "glm-image", "prompt": "a fox", "size": "1280x1280"}
    )
    created = response.json()
    assert (response.status_code, created["task_status"], created["model"]) == (
        200,
        "PROCESSING",
        "glm-image",
    )
    assert created["request_id"] == created["id"]
    assert poll(client, created["id"])["task_status"] == "PROCESSING"
    done = poll(client, created["id"])
    assert done == {**created, "task_status": "SUCCESS", "image_result": [done["image_result"][0]]}
    assert done["image_result"][0]["url"] == fake.media_url(f"image-{created['id']}.png")
    assert httpx2.get(done["image_result"][0]["url"]).content.startswith(PNG_SIGNATURE)
    assert fake.tasks[created["id"]].kind == "image"
    for model, code in (("cogview-4-250304", "1211"), ("midjourney", "1211"), (None, "1214")):
        error = client.post("async/images/generations", json={"model": model, "prompt": "x"})
        assert (error.status_code, error.json()["error"]["code"]) == (400, code), model


def test_video_validation(fake: FakeGLM, client: httpx2.Client) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"prompt": "x"}, "1214", "model"),
        ({"model": "sora", "prompt": "x"}, "1211", ""),
        ({"model": "viduq1-text", "prompt": "x"}, "1211", ""),  # Vidu is BigModel's
        ({"model": "cogvideox-3"}, "1214", "prompt"),
        ({"model": "cogvideox-3", "prompt": None, "image_url": None}, "1214", "prompt"),
        ({"model": "cogvideox-3", "image_url": ["a", "b"], "quality": "quality"}, "1214", "image_url"),
        ({"model": "cogvideox-3", "image_url": ["a", "b", "c"]}, "1214", "image_url"),
        ({"model": "cogvideox-3", "image_url": [1]}, "1210", "image_url"),
        ({"model": "cogvideox-3", "image_url": "a"}, "1210", "image_url"),  # Z.AI: an array only
        ({"model": "cogvideox-3", "prompt": "x", "quality": "best"}, "1210", "quality"),
        ({"model": "cogvideox-3", "prompt": "x", "with_audio": "loud"}, "1210", "with_audio"),
        ({"model": "cogvideox-3", "prompt": "x", "size": "640x480"}, "1210", "size"),
        ({"model": "cogvideox-3", "prompt": "x", "fps": 24}, "1210", "fps"),
        ({"model": "cogvideox-3", "prompt": "x", "duration": 4}, "1210", "duration"),
        ({"model": "cogvideox-3", "prompt": "x", "duration": "10"}, "1210", "duration"),
    ]
    for case, code, field in cases:
        error = client.post("videos/generations", json=case)
        assert error.status_code == 400, case
        assert error.json()["error"]["code"] == code, case
        assert error.json()["error"]["message"].startswith(field), case
    fake.platform = "bigmodel"
    assert create_video(client, model="viduq1-start-end", prompt=None, image_url=[PNG_DATA_URL] * 2)
    assert create_video(client, model="vidu2-image", image_url="https://e.com/a.png", duration=4)
    assert create_video(client, model="cogvideox-flash", size="1920x1080", fps=60)
    assert create_video(client, image_url="https://e.com/a.png")  # BigModel: a string too
    cases = [
        ({"model": "viduq1-start-end", "image_url": "a"}, "1210", "image_url"),
        # Vidu wants the MIME prefix (glm-api.md §8, §22 row 1): bare base64 is refused by the route
        ({"model": "viduq1-start-end", "image_url": ["aGVsbG8=", "aGk="]}, "1214", "image_url"),
        ({"model": "viduq1-text", "image_url": "a"}, "1214", "prompt"),
        ({"model": "vidu2-reference", "image_url": ["a", "b", "c", "d"]}, "1210", "image_url"),
        ({"model": "viduq1-image", "image_url": "a", "duration": 4}, "1210", "duration"),
        ({"model": "cogvideox-2", "prompt": "x", "duration": 5}, "1210", "duration"),
    ]
    for case, code, field in cases:
        error = client.post("videos/generations", json=case)
        assert (error.status_code, error.json()["error"]["code"]) == (400, code), case
        assert error.json()["error"]["message"].startswith(field), case


def test_transcription_multipart(fake: FakeGLM, client: httpx2.Client) -> None:
    audio = wav_bytes(1.0)
    form = {
        "model": "glm-asr-2512",
        "hotwords": ["GLM", "Zhipu"],
        "stream": "false",
        "request_id": "asr-0001",
    }
    response = client.post("audio/transcriptions", data=form, files={"file": ("a.wav", audio, "audio/wav")})
    assert response.status_code == 200, response.text
    result = response.json()
    assert list(result) == ["id", "created", "request_id", "model", "text"]
    assert ID_PATTERN.match(result["id"])
    assert (result["request_id"], result["model"]) == ("asr-0001", "glm-asr-2512")
    assert result["text"] == "Transcript of 1.00 s of audio."
    [recorded] = fake.requests_to("audio/transcriptions")
    assert recorded.form == {
        "model": ["glm-asr-2512"],
        "hotwords": ["GLM", "Zhipu"],
        "stream": ["false"],
        "request_id": ["asr-0001"],
    }
    assert recorded.files == {"file": audio}
    assert recorded.json is None
    as_json_array = {"model": "glm-asr-2512", "hotwords[]": json.dumps(["a", "b"])}
    mp3 = b"ID3\x04\x00" + bytes(200)
    result = client.post("audio/transcriptions", data=as_json_array, files={"file": ("a.mp3", mp3)}).json()
    assert result["text"] == f"Transcript of an MP3 of {len(mp3)} bytes."
    assert fake.requests[-1].form["hotwords[]"] == ['["a", "b"]']
    as_base64 = {"model": (None, "glm-asr-2512"), "file_base64": (None, base64.b64encode(audio).decode())}
    result = client.post("audio/transcriptions", files=as_base64).json()
    assert result["text"] == "Transcript of 1.00 s of audio."
    assert fake.requests[-1].headers["content-type"].startswith("multipart/form-data")
    urlencoded = {
        "model": "glm-asr-2512",
        "file_base64": "data:audio/wav;base64," + base64.b64encode(audio).decode(),
    }
    result = client.post("audio/transcriptions", data=urlencoded).json()
    assert result["text"] == "Transcript of 1.00 s of audio."
    assert fake.requests[-1].form["model"] == ["glm-asr-2512"]
    assert fake.requests_to("chat/completions") == []
    assert all(r.form == {} and r.files == {} for r in fake.requests if r.route != "audio/transcriptions")


def test_transcription_stream(client: httpx2.Client) -> None:
    form = {"model": "glm-asr-2512", "stream": "true"}
    response = client.post("audio/transcriptions", data=form, files={"file": ("a.wav", wav_bytes(2.5))})
    assert response.headers["content-type"] == "text/event-stream;charset=UTF-8"
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    *deltas, done = [json.loads(p) for p in payloads[:-1]]
    assert {d["type"] for d in deltas} == {"transcript.text.delta"}
    assert all(set(d) == {"id", "created", "model", "type", "delta"} for d in deltas)
    assert done["type"] == "transcript.text.done"
    assert "".join(d["delta"] for d in deltas) == done["text"] == "Transcript of 2.50 s of audio."


def test_transcription_refusals(client: httpx2.Client) -> None:
    def transcribe(data: bytes | None, model: str | None = "glm-asr-2512") -> httpx2.Response:
        files = {"file": ("upload", data)} if data is not None else None
        fields = {"model": model} if model is not None else {}
        return client.post("audio/transcriptions", data=fields, files=files)

    too_long = transcribe(wav_bytes(31.0))
    assert too_long.status_code == 400
    assert too_long.json()["error"] == {"code": "1214", "message": "audio duration exceeds 30 seconds"}
    text_file = transcribe(b"just some text, not audio\n")
    assert text_file.status_code == 400
    assert text_file.json()["error"] == {"code": "1214", "message": "transcriptions不支持当前文件格式"}
    assert transcribe(None).json()["error"]["code"] == "1214"
    assert transcribe(wav_bytes(1.0), model=None).json()["error"]["code"] == "1214"
    assert transcribe(wav_bytes(1.0), model="whisper-1").json()["error"]["code"] == "1211"
    assert transcribe(wav_bytes(1.0), model="glm-asr").json()["error"]["code"] == "1211"  # in no reference
    for name, value in (("request_id", "short"), ("request_id", "r" * 65), ("user_id", "u" * 129)):
        fields = {"model": "glm-asr-2512", name: value}
        refused = client.post("audio/transcriptions", data=fields, files={"file": ("a.wav", wav_bytes(1.0))})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "1210"), name  # the range
    assert transcribe(wav_bytes(30.0)).status_code == 200
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)  # IEEE float, which `wave` rejects
    float_wav = b"RIFF" + struct.pack("<I", 36 + 64000) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    float_wav += b"data" + struct.pack("<I", 64000) + bytes(64000)
    assert transcribe(float_wav).json()["text"] == "Transcript of 2.00 s of audio."
    too_big = transcribe(b"ID3" + bytes(25 * 1024 * 1024))
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (400, "1214")
    assert too_big.json()["error"]["message"].startswith("file")
    json_body = client.post("audio/transcriptions", json={"model": "glm-asr-2512"})
    assert json_body.status_code == 400


def test_media_not_found_and_not_under_api_base(fake: FakeGLM, client: httpx2.Client) -> None:
    with httpx2.Client() as cdn:
        for name in ("nothing.txt", "image-1.gif", "video-1.png", "image-1.mp4", ""):
            missing = cdn.get(fake.media_url(name))
            assert missing.status_code == 404, name
        assert cdn.head(fake.media_url("video-1.mp4")).headers["content-length"] == str(64 * 1024)
        assert cdn.post(fake.media_url("video-1.mp4")).status_code == 405
    under_base = client.get("media/video-1.mp4")
    assert (under_base.status_code, under_base.json()["error"]["code"]) == (404, "1222")


def test_big_media_is_streamed_with_content_length(fake: FakeGLM) -> None:
    fake.media_size = 20 * 1024 * 1024
    received = 0
    head = b""
    with httpx2.Client(timeout=10.0) as cdn, cdn.stream("GET", fake.media_url("video-42.mp4")) as response:
        assert response.headers["content-length"] == str(20 * 1024 * 1024)
        assert "transfer-encoding" not in response.headers
        for data in response.iter_raw():
            head = head or data[:32]
            received += len(data)
    assert received == 20 * 1024 * 1024
    assert head[4:8] == b"ftyp"
    assert head[28:32] == b"mdat"


def test_media_faults(fake: FakeGLM) -> None:
    task_name = "video-7.mp4"
    fake.script("media", Fault(cut_after=1000), Fault(delay=1.0))
    fake.script(f"media/{task_name}", Fault(status=503, code="500"))
    received = bytearray()

    def download(cdn: httpx2.Client) -> None:
        with cdn.stream("GET", fake.media_url("video-1.mp4")) as response:
            assert response.headers["content-length"] == str(64 * 1024)
            for data in response.iter_raw():
                received.extend(data)

    with httpx2.Client() as cdn:
        with pytest.raises(httpx2.TransportError):
            download(cdn)
        assert len(received) == 1000
        assert received[4:8] == b"ftyp"
        with pytest.raises(httpx2.ReadTimeout):
            cdn.get(fake.media_url("video-2.mp4"), timeout=0.2)
        assert cdn.get(fake.media_url(task_name)).status_code == 503  # exact route before "media"
        assert cdn.get(fake.media_url(task_name)).status_code == 200


def test_async_result_faults_by_collection(fake: FakeGLM, client: httpx2.Client) -> None:
    task_id = create_video(client)["id"]
    fake.script("async-result", Fault(status=500, code="500"))
    assert client.get(f"async-result/{task_id}").status_code == 500
    assert poll(client, task_id)["task_status"] == "PROCESSING"
    assert fake.tasks[task_id].polls == 1  # faulted polls are not counted
    fake.reset()
    assert fake.tasks == {}
    assert (fake.task_plan, fake.unknown_task_status, fake.media_size) == (TaskPlan(), 404, 64 * 1024)


# ---------------------------------------------------------------- the schema level (fake_glm/reference.py)

TEXT = [{"role": "user", "content": "hi"}]
CHAT_OK = {"model": "glm-4.7", "messages": TEXT}
SEARCH_CN = {"search_query": "q", "search_engine": "search_std", "search_intent": False}
# (platform, route, body, status, code, the message's start)
SCHEMA_REFUSALS: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    ("zai", "chat/completions", {"messages": TEXT}, 400, "1214", "model:"),
    ("zai", "chat/completions", {**CHAT_OK, "model": ""}, 400, "1214", "model:"),
    ("zai", "chat/completions", {**CHAT_OK, "model": 47}, 400, "1210", "model:"),
    ("zai", "chat/completions", {**CHAT_OK, "model": "glm-4-plus"}, 400, "1211", "Unknown Model"),
    ("bigmodel", "chat/completions", {**CHAT_OK, "model": "glm-4.5"}, 400, "1211", "Unknown Model"),
    ("zai", "chat/completions", {"model": "glm-4.7"}, 400, "1214", "messages:"),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "stream_options": {"include_usage": True}},
        400,
        "1210",
        "stream_options:",
    ),
    ("zai", "chat/completions", {**CHAT_OK, "stream": "true"}, 400, "1210", "stream:"),
    ("zai", "chat/completions", {**CHAT_OK, "temperature": 1.5}, 400, "1210", "temperature:"),
    ("zai", "chat/completions", {**CHAT_OK, "top_p": 0}, 400, "1210", "top_p:"),
    ("zai", "chat/completions", {**CHAT_OK, "max_tokens": 131073}, 400, "1210", "max_tokens:"),
    ("zai", "chat/completions", {**CHAT_OK, "thinking": {"type": "auto"}}, 400, "1210", "thinking.type:"),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "thinking": {"type": "enabled", "budget": 9}},
        400,
        "1210",
        "thinking.budget:",
    ),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "response_format": {"type": "xml"}},
        400,
        "1210",
        "response_format.type:",
    ),
    ("zai", "chat/completions", {**CHAT_OK, "request_id": "abc"}, 400, "1210", "request_id:"),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "messages": [{"role": "bot", "content": "x"}]},
        400,
        "1210",
        "messages[0].role:",
    ),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "messages": [{"role": "user", "content": "x", "name": "ada"}]},
        400,
        "1210",
        "messages[0].name:",
    ),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "tools": [{"type": "web_search", "web_search": {"enable": True}}]},
        400,
        "1214",
        "tools[0].web_search.search_engine:",
    ),
    (
        "zai",
        "chat/completions",
        {
            **CHAT_OK,
            "tools": [
                {"type": "web_search", "web_search": {"enable": "True", "search_engine": "search_pro_jina"}}
            ],
        },
        400,
        "1210",
        "tools[0].web_search.enable:",
    ),
    (
        "zai",
        "chat/completions",
        {**CHAT_OK, "tools": [{"type": "web_search", "web_search": {"search_engine": "search_std"}}]},
        400,
        "1210",
        "tools[0].web_search.search_engine:",
    ),
    (
        "bigmodel",
        "chat/completions",
        {**CHAT_OK, "tools": [{"type": "web_search", "web_search": {"search_engine": "search_pro_jina"}}]},
        400,
        "1210",
        "tools[0].web_search.search_engine:",
    ),
    (
        "zai",
        "chat/completions",
        {"model": "glm-4.6v", "messages": TEXT, "response_format": {"type": "json_object"}},
        400,
        "1210",
        "response_format:",
    ),
    (
        "zai",
        "chat/completions",
        {
            "model": "glm-4.6v",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}],
                }
            ],
        },
        400,
        "1210",
        "messages[0].content[0].image_url.url:",
    ),
    (
        "bigmodel",
        "chat/completions",
        {
            "model": "glm-4.6v",
            "messages": [
                {"role": "user", "content": [{"type": "file", "file": {"file_url": "https://e.com/a.pdf"}}]}
            ],
        },
        400,
        "1210",
        "messages[0].content[0].type:",
    ),
    (
        "zai",
        "web_search",
        {"search_query": "q", "search_engine": "search-prime", "content_size": "high"},
        400,
        "1210",
        "content_size:",
    ),
    (
        "zai",
        "web_search",
        {"search_query": "q", "search_engine": "search-prime", "count": 51},
        400,
        "1210",
        "count:",
    ),
    ("zai", "web_search", {"search_query": "q", "search_engine": "search_std"}, 400, "1211", "Unknown Model"),
    ("zai", "web_search", {"search_engine": "search-prime"}, 400, "1214", "search_query:"),
    (
        "bigmodel",
        "web_search",
        {"search_query": "q", "search_engine": "search-prime"},
        400,
        "1211",
        "Unknown Model",
    ),
    (
        "bigmodel",
        "web_search",
        {"search_query": "q", "search_engine": "search_std"},
        400,
        "1214",
        "search_intent:",
    ),
    ("bigmodel", "web_search", {**SEARCH_CN, "search_query": "q" * 71}, 400, "1210", "search_query:"),
    (
        "bigmodel",
        "web_search",
        {**SEARCH_CN, "search_engine": "search_pro_sogou", "count": 15},
        400,
        "1210",
        "count:",
    ),
    ("bigmodel", "web_search", {**SEARCH_CN, "include_image": True}, 400, "1210", "include_image:"),
    (
        "zai",
        "images/generations",
        {"model": "cogview-4-250304", "prompt": "x", "request_id": "req-123456"},
        400,
        "1210",
        "request_id:",
    ),
    (
        "zai",
        "images/generations",
        {"model": "cogview-4-250304", "prompt": "x", "watermark_enabled": False},
        400,
        "1210",
        "watermark_enabled:",
    ),
    ("zai", "images/generations", {"model": "cogview-4", "prompt": "x"}, 400, "1211", "Unknown Model"),
    ("bigmodel", "images/generations", {"model": "cogview-4", "prompt": ""}, 400, "1214", "prompt:"),
    ("bigmodel", "images/generations", {"model": "cogview-4", "prompt": "x", "n": 2}, 400, "1210", "n:"),
    (
        "zai",
        "async/images/generations",
        {"model": "glm-image", "prompt": "x", "quality": "standard"},
        400,
        "1210",
        "quality:",
    ),
    (
        "zai",
        "videos/generations",
        {"model": "cogvideox-3", "image_url": "https://e.com/a.png"},
        400,
        "1210",
        "image_url:",
    ),
    (
        "zai",
        "videos/generations",
        {"model": "cogvideox-3", "prompt": "x", "off_peak": True},
        400,
        "1210",
        "off_peak:",
    ),
    ("zai", "videos/generations", {"model": "vidu2-image", "image_url": "a"}, 400, "1211", "Unknown Model"),
    (
        "bigmodel",
        "videos/generations",
        {"model": "viduq1-text", "prompt": "x", "style": "noir"},
        400,
        "1210",
        "style:",
    ),
    (
        "bigmodel",
        "videos/generations",
        {"model": "vidu2-reference", "image_url": []},
        400,
        "1214",
        "image_url:",
    ),
    (
        "bigmodel",
        "videos/generations",
        {"model": "vidu2-start-end", "image_url": ["a", "b"], "size": "1920x1080"},
        400,
        "1210",
        "size:",
    ),
    ("bigmodel", "embeddings", {"model": "embedding-3"}, 400, "1214", "input:"),
    (
        "bigmodel",
        "rerank",
        {"model": "rerank", "query": "q", "documents": ["d"] * 129},
        400,
        "1210",
        "documents:",
    ),
    ("zai", "embeddings", {"model": "embedding-3", "input": "x"}, 404, "1222", "The API embeddings"),
    ("zai", "audio/speech", {"model": "glm-tts", "input": "x"}, 404, "1222", "The API audio/speech"),
]


@pytest.mark.parametrize(
    ("platform", "route", "body", "status", "code", "start"),
    SCHEMA_REFUSALS,
    ids=[f"{c[0]}-{c[1]}-{c[5].rstrip(':') or c[4]}" for c in SCHEMA_REFUSALS],
)
def test_schema_refusals(
    fake: FakeGLM,
    client: httpx2.Client,
    platform: str,
    route: str,
    body: dict[str, Any],
    status: int,
    code: str,
    start: str,
) -> None:
    fake.platform = platform
    response = client.post(route, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(start), error["message"]


def test_schema_accepts_what_each_platform_defines(fake: FakeGLM, client: httpx2.Client) -> None:
    """The same fields refused above go through where the platform's reference defines them, and null
    counts as absent."""
    accepted: list[tuple[str, str, dict[str, Any]]] = [
        ("zai", "chat/completions", {**CHAT_OK, "thinking": None, "user_id": None, "stop": ["END"]}),
        (
            "zai",
            "chat/completions",
            {**CHAT_OK, "model": "GLM-4.7", "tool_choice": "auto", "do_sample": False},
        ),
        (
            "zai",
            "chat/completions",
            {
                "model": "glm-4.6v",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": base64.b64encode(PNG).decode()}},
                            {"type": "text", "text": "what"},
                        ],
                    }
                ],
            },
        ),
        (
            "zai",
            "chat/completions",
            {
                "model": "glm-4.6v",
                "messages": [
                    {
                        "role": "user",
                        "content": [  # a file part goes without image or video parts
                            {"type": "file", "file": {"file_url": "https://e.com/a.pdf"}},
                            {"type": "text", "text": "what"},
                        ],
                    }
                ],
            },
        ),
        (
            "bigmodel",
            "chat/completions",
            {
                "model": "glm-4.6v",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "file_url", "file_url": {"url": "https://e.com/a.pdf"}},
                            {"type": "text", "text": "x"},
                        ],
                    }
                ],
            },
        ),
        (
            "bigmodel",
            "chat/completions",
            {
                **CHAT_OK,
                "tools": [
                    {
                        "type": "web_search",
                        "web_search": {"search_engine": "search_pro_quark", "content_size": "high"},
                    }
                ],
            },
        ),
        (
            "zai",
            "chat/completions",
            {
                **CHAT_OK,
                "tools": [
                    {
                        "type": "web_search",
                        "web_search": {"search_engine": "search_pro_jina", "search_result": True},
                    }
                ],
            },
        ),
        (
            "bigmodel",
            "web_search",
            {**SEARCH_CN, "content_size": "high", "search_engine": "search_pro_sogou", "count": 20},
        ),
        (
            "zai",
            "web_search",
            {"search_query": "q" * 200, "search_engine": "search-prime", "request_id": "req-123456"},
        ),
        (
            "bigmodel",
            "images/generations",
            {"model": "cogview-3-flash", "prompt": "x", "watermark_enabled": False},
        ),
        (
            "zai",
            "videos/generations",
            {"model": "cogvideox-3", "image_url": ["https://e.com/a.png"], "user_id": "user-1"},
        ),
        ("bigmodel", "videos/generations", {"model": "cogvideox-3", "image_url": "https://e.com/a.png"}),
        (
            "bigmodel",
            "videos/generations",
            {"model": "viduq1-text", "prompt": "x", "style": "anime", "aspect_ratio": "1:1"},
        ),
    ]
    for platform, route, body in accepted:
        fake.platform = platform
        response = client.post(route, json=body)
        assert response.status_code == 200, (platform, route, body, response.text)


def test_schema_refuses_asr_form_fields(fake: FakeGLM, client: httpx2.Client) -> None:
    def transcribe(platform: str, fields: dict[str, Any], with_file: bool = True) -> httpx2.Response:
        fake.platform = platform
        files = {"file": ("a.wav", wav_bytes(1.0), "audio/wav")} if with_file else None
        return client.post("audio/transcriptions", data={"model": "glm-asr-2512", **fields}, files=files)

    for platform in ("zai", "bigmodel"):
        assert transcribe(platform, {"hotwords[]": ["a", "b"], "stream": "False"}).status_code == 200
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"model": "glm-asr"}, "1211", "Unknown Model"),
            ({"language": "zh"}, "1210", "language:"),
            ({"stream": "maybe"}, "1210", "stream:"),
            ({"hotwords": [f"w{n}" for n in range(101)]}, "1210", "hotwords:"),
            ({"request_id": "r1"}, "1210", "request_id:"),
            ({"prompt": ["a", "b"]}, "1210", "prompt:"),
        ]
        for fields, code, start in cases:
            error = transcribe(platform, fields)
            assert (error.status_code, error.json()["error"]["code"]) == (400, code), (platform, fields)
            assert error.json()["error"]["message"].startswith(start), (platform, fields)
        missing = transcribe(platform, {}, with_file=False)
        assert missing.json()["error"] == {
            "code": "1214",
            "message": "file:The file and file_base64 cannot both be empty.",
        }


def test_schema_runs_after_auth_and_faults_before_routes(fake: FakeGLM) -> None:
    bad = {"model": "glm-4.7", "messages": TEXT, "frequency_penalty": 1}
    with httpx2.Client(base_url=fake.base_url + "/", timeout=5.0) as http:
        assert http.post("chat/completions", json=bad).json()["error"]["code"] == "1001"
        fake.script("chat/completions", Fault(status=429, code="1302"))
        assert http.post("chat/completions", json=bad, headers=AUTH).json()["error"]["code"] == "1302"
        refused = http.post("chat/completions", json=bad, headers=AUTH)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "1210")
        assert http.get("async-result/1", headers=AUTH).status_code == 404  # GETs carry no body to check
        assert http.post("chat/completions", content=b"[1]", headers=AUTH).json()["error"]["code"] == "1210"


def test_reference_of_the_routes_to_come() -> None:
    """The routes no tool calls yet (§22 "New endpoints") are encoded too, for the slices adding them."""
    ok: list[tuple[str, str, dict[str, Any]]] = [
        ("zai", "reader", {"url": "https://e.com", "timeout": 20, "return_format": "text", "no_cache": True}),
        ("bigmodel", "reader", {"url": "https://e.com", "with_links_summary": True}),
        ("zai", "layout_parsing", {"model": "glm-ocr", "file": "https://e.com/a.pdf", "start_page_id": 1}),
        ("zai", "tokenizer", {"model": "glm-4.6", "messages": TEXT}),
        ("bigmodel", "tokenizer", {"model": "glm-4.6v", "messages": TEXT, "tools": []}),
        ("bigmodel", "audio/speech", {"model": "glm-tts", "input": "你好", "voice": "tongtong", "speed": 2}),
        ("bigmodel", "embeddings", {"model": "embedding-3", "input": ["a", "b"], "dimensions": 512}),
        ("bigmodel", "embeddings", {"model": "embedding-2", "input": "a"}),
        ("bigmodel", "rerank", {"model": "rerank", "query": "q", "documents": ["a"], "top_n": 1}),
    ]
    for platform, route, body in ok:
        assert reference.violations(platform, route, body) == [], (platform, route)
    refused: list[tuple[str, str, dict[str, Any], str]] = [
        ("zai", "reader", {"url": "https://e.com", "timeout": "20"}, "1210"),
        ("bigmodel", "reader", {"url": "https://e.com", "return_format": "html"}, "1210"),
        ("zai", "reader", {}, "1214"),
        ("zai", "layout_parsing", {"model": "glm-ocr", "file": "x", "end_page_id": 0}, "1210"),
        ("zai", "layout_parsing", {"model": "glm-4v", "file": "x"}, "1211"),
        ("bigmodel", "tokenizer", {"model": "glm-4.5", "messages": TEXT}, "1211"),
        ("bigmodel", "audio/speech", {"model": "glm-tts", "input": "x" * 1025}, "1210"),
        ("bigmodel", "audio/speech", {"model": "glm-tts", "input": "x", "volume": 0}, "1210"),
        ("bigmodel", "audio/speech", {"model": "glm-tts", "input": "x", "response_format": "mp3"}, "1214"),
        ("bigmodel", "embeddings", {"model": "embedding-3", "input": ["a"] * 65}, "1210"),
        ("bigmodel", "embeddings", {"model": "embedding-2", "input": "a", "dimensions": 512}, "1210"),
        ("bigmodel", "rerank", {"model": "rerank", "query": "q" * 4097, "documents": ["a"]}, "1210"),
        ("zai", "rerank", {"model": "rerank", "query": "q", "documents": ["a"]}, "1222"),
    ]
    for platform, route, body, code in refused:
        [first, *_] = reference.violations(platform, route, body)
        assert first.code == code, (platform, route, body, first)
