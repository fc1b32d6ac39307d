"""The fake's chat route refuses, per platform and per model, what the real chat API refuses (glm-api.md
§3, §18, §22; Z.AI's text and vision request schemas), and answers the way GLM-4V does."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2
import pytest

from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM, Fault

PNG_HEAD = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
JPEG_HEAD = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 16).decode()
GIF_HEAD = base64.b64encode(b"GIF89a" + b"\x00" * 16).decode()
WEBP_HEAD = base64.b64encode(b"RIFF\x00\x00\x00\x00WEBPVP8L" + b"\x00" * 8).decode()


VISION = {"glm-4.5v", "glm-4.6v", "glm-4v-flash", "glm-5v-turbo", "autoglm-phone-multilingual"}


def post(fake: FakeGLM, body: dict[str, Any]) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {CANARY_KEY}"}
    return httpx2.post(fake.base_url + "/chat/completions", json=body, headers=headers, timeout=5.0)


def text(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}


def vision(model: str, *urls: str, **extra: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {
        "model": model,
        "messages": [{"role": "user", "content": [*parts, {"type": "text", "text": "what?"}]}],
    } | extra


def refused(response: httpx2.Response) -> str:
    assert response.status_code == 400, response.text
    code: str = response.json()["error"]["code"]
    return code


@pytest.mark.parametrize(
    ("platform", "model", "known"),
    [
        ("zai", "glm-4.5", True),
        ("bigmodel", "glm-4.5", False),  # Z.AI only
        ("bigmodel", "glm-4-32b-0414-128k", False),
        ("zai", "glm-4.5v", True),
        ("bigmodel", "glm-4.5v", False),
        ("zai", "glm-4v-flash", False),  # CN legacy
        ("bigmodel", "glm-4v-flash", True),
        ("zai", "glm-4-plus", False),
        ("bigmodel", "glm-4-plus", True),
        ("zai", "glm-5-turbo", False),  # BigModel's: not in Z.AI's model enums
        ("bigmodel", "glm-5-turbo", True),
        ("zai", "glm-5v-turbo", False),
        ("bigmodel", "glm-5v-turbo", True),
        ("zai", "autoglm-phone-multilingual", True),
        ("bigmodel", "autoglm-phone-multilingual", False),
    ],
)
def test_models_per_platform(fake: FakeGLM, platform: str, model: str, known: bool) -> None:
    fake.platform = platform
    body = vision(model, "https://example.com/a.png") if model in VISION else text(model)
    response = post(fake, body)
    if known:
        assert response.status_code == 200, response.text
    else:
        assert refused(response) == "1211"


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://example.com/a.webp", True),  # the API fetches URLs itself
        (PNG_HEAD, True),
        (JPEG_HEAD, True),
        ("data:image/png;base64," + PNG_HEAD, False),  # no data: prefix
        (GIF_HEAD, False),
        (WEBP_HEAD, False),
        ("not base64 at all!", False),
    ],
)
def test_image_urls_are_urls_or_bare_png_or_jpeg_base64(fake: FakeGLM, url: str, accepted: bool) -> None:
    response = post(fake, vision("glm-4.6v", url))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert refused(response) == "1210"


def test_images_per_model(fake: FakeGLM) -> None:
    url = "https://example.com/a.png"
    assert post(fake, vision("glm-4.5v", *[url] * 50)).status_code == 200
    assert refused(post(fake, vision("glm-4.5v", *[url] * 51))) == "1210"
    assert post(fake, vision("glm-4.6v", *[url] * 150)).status_code == 200
    assert refused(post(fake, vision("glm-4.6v", *[url] * 151))) == "1210"
    fake.platform = "bigmodel"
    assert post(fake, vision("glm-4v-flash", url)).status_code == 200
    assert refused(post(fake, vision("glm-4v-flash", url, url))) == "1210"
    assert refused(post(fake, vision("glm-4v-flash", PNG_HEAD))) == "1210"  # URLs only


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("glm-4.6v", 32768),
        ("glm-4.5v", 16384),
        ("glm-4-32b-0414-128k", 16384),
        ("glm-4.5", 98304),
        ("glm-5.3", 131072),
    ],
)
def test_max_tokens_per_model(fake: FakeGLM, model: str, limit: int) -> None:
    def body(max_tokens: int) -> dict[str, Any]:
        if model in VISION:
            return vision(model, "https://example.com/a.png", max_tokens=max_tokens)
        return text(model, max_tokens=max_tokens)

    assert post(fake, body(limit)).status_code == 200
    assert refused(post(fake, body(limit + 1))) == "1210"


def test_vision_requests_take_no_response_format_and_no_builtin_tools(fake: FakeGLM) -> None:
    search = [{"type": "web_search", "web_search": {"enable": True, "search_engine": "search_pro_jina"}}]
    for model in ("glm-4.6v", "glm-5.3-flashx"):
        assert refused(post(fake, vision(model, PNG_HEAD, response_format={"type": "json_object"}))) == "1210"
        assert refused(post(fake, vision(model, PNG_HEAD, tools=search))) == "1210"
        parameters = {"type": "object", "properties": {}}  # an empty {} is refused as empty (1214)
        function = {
            "type": "function",
            "function": {"name": "f", "description": "d", "parameters": parameters},
        }
        assert post(fake, vision(model, PNG_HEAD, tools=[function])).status_code == 200
    assert (
        post(fake, text("glm-5.3", response_format={"type": "json_object"}, tools=search)).status_code == 200
    )


def test_a_file_part_goes_without_image_or_video_parts(fake: FakeGLM) -> None:
    """VisionMultimodalContentItem: "Not support passing both the file and image_url or video_url"."""
    file = {"type": "file", "file": {"file_url": "https://example.com/a.pdf"}}
    body = vision("glm-4.6v")
    body["messages"][0]["content"].insert(0, file)
    assert post(fake, body).status_code == 200
    with_image = vision("glm-4.6v", "https://example.com/a.png")
    with_image["messages"][0]["content"].insert(0, file)
    assert refused(post(fake, with_image)) == "1210"
    video = {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}}
    with_video = vision("glm-4.6v")
    with_video["messages"][0]["content"][:0] = [file, video]
    assert refused(post(fake, with_video)) == "1210"


def test_reasoning_effort_per_model(fake: FakeGLM) -> None:
    for model, effort in [("glm-5.3", "low"), ("glm-5.3", "max"), ("glm-5.2", "xhigh"), ("glm-5.2", "none")]:
        assert post(fake, text(model, reasoning_effort=effort)).status_code == 200, (model, effort)
    assert post(fake, vision("glm-5.3-flash", PNG_HEAD, reasoning_effort="high")).status_code == 200
    for model, effort in [
        ("glm-5.3", "medium"),
        ("glm-5.3", "xhigh"),
        ("glm-4.7", "high"),
        ("glm-5.1", "max"),
    ]:
        assert refused(post(fake, text(model, reasoning_effort=effort))) == "1210", (model, effort)
    assert refused(post(fake, vision("glm-4.6v", PNG_HEAD, reasoning_effort="high"))) == "1210"


def test_thinking_cannot_be_disabled_on_the_glm_5_3_family(fake: FakeGLM) -> None:
    off = {"type": "disabled"}
    assert refused(post(fake, text("glm-5.3", thinking=off))) == "1210"
    assert refused(post(fake, vision("glm-5.3-flashx", PNG_HEAD, thinking=off))) == "1210"
    assert post(fake, text("glm-5.3", thinking={"type": "enabled"})).status_code == 200
    assert post(fake, text("glm-5.1", thinking=off)).status_code == 200


def test_text_models_take_string_content_only(fake: FakeGLM) -> None:
    parts = [{"type": "text", "text": "hello"}]
    body = {"model": "glm-5.3", "messages": [{"role": "user", "content": parts}]}
    assert refused(post(fake, body)) == "1210"
    assert post(fake, {**body, "model": "glm-4.6v"}).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_cn_glm_4v_answers_in_text_parts(fake: FakeGLM, stream: bool) -> None:
    fake.platform = "bigmodel"
    response = post(fake, vision("glm-4v-plus-0111", "https://example.com/a.png", stream=stream))
    assert response.status_code == 200
    if not stream:
        content = response.json()["choices"][0]["message"]["content"]
        assert content == [{"type": "text", "text": "Fake GLM answer to: what? (1 image)"}]
        return
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    deltas = [json.loads(event)["choices"][0]["delta"] for event in events[:-1]]
    parts = [delta["content"] for delta in deltas if isinstance(delta.get("content"), list)]
    assert parts and all(part[0]["type"] == "text" for part in parts)
    assert "".join(part[0]["text"] for part in parts) == "Fake GLM answer to: what? (1 image)"


def test_a_fault_makes_any_model_answer_in_text_parts(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(content_parts=True))
    content = post(fake, text("glm-5.3")).json()["choices"][0]["message"]["content"]
    assert content == [{"type": "text", "text": "Fake GLM answer to: hello there"}]
    assert post(fake, text("glm-5.3")).json()["choices"][0]["message"]["content"] == (
        "Fake GLM answer to: hello there"
    )
