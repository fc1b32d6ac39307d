"""The fake's image and video routes are as strict as the references, per platform and model: model lists,
fields the route defines, glm-image's quality, video prompt length, input image shapes and formats."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM
from tests.fake_glm.media import PNG

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(16)
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + bytes(14)
GIF = b"GIF89a" + bytes(16)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def fake() -> Iterator[FakeGLM]:
    with FakeGLM() as server:
        yield server


@pytest.fixture
def client(fake: FakeGLM) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"Bearer {CANARY_KEY}"}
    with httpx2.Client(base_url=fake.base_url + "/", headers=headers, timeout=5.0) as http:
        yield http


def refused(client: httpx2.Client, route: str, body: dict[str, Any]) -> tuple[int, str, str]:
    response = client.post(route, json=body)
    error = response.json().get("error", {})
    return response.status_code, error.get("code", ""), error.get("message", "")


def accepted(client: httpx2.Client, route: str, body: dict[str, Any]) -> bool:
    response = client.post(route, json=body)
    assert response.status_code == 200, (body, response.text)
    return True


# -- models per platform -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "model", "ok"),
    [
        ("zai", "glm-image", True),
        ("zai", "cogview-4-250304", True),
        ("zai", "cogview-4", False),
        ("zai", "cogview-3-flash", False),
        ("bigmodel", "cogview-4", True),
        ("bigmodel", "cogview-3-flash", True),
        ("bigmodel", "cogview-3-plus", False),
    ],
)
def test_image_models_per_platform(
    fake: FakeGLM, client: httpx2.Client, platform: str, model: str, ok: bool
) -> None:
    fake.platform = platform
    body = {"model": model, "prompt": "a fox"}
    if ok:
        assert accepted(client, "images/generations", body)
    else:
        assert refused(client, "images/generations", body)[:2] == (400, "1211")


@pytest.mark.parametrize(
    ("platform", "model", "ok"),
    [
        ("zai", "cogvideox-3", True),
        ("zai", "cogvideox-2", False),
        ("zai", "cogvideox-flash", False),
        ("zai", "viduq1-text", False),
        ("bigmodel", "cogvideox-2", True),
        ("bigmodel", "cogvideox-flash", True),
        ("bigmodel", "viduq1-text", True),
        ("bigmodel", "cogvideox", False),
    ],
)
def test_video_models_per_platform(
    fake: FakeGLM, client: httpx2.Client, platform: str, model: str, ok: bool
) -> None:
    fake.platform = platform
    body = {"model": model, "prompt": "a cat"}
    if ok:
        assert accepted(client, "videos/generations", body)
    else:
        assert refused(client, "videos/generations", body)[:2] == (400, "1211")


# -- images ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("images/generations", "1214"),  # the route's rule for glm-image (the schema takes hd, standard)
        ("async/images/generations", "1210"),  # AsyncCreateImageRequest's quality enum is hd alone
    ],
)
def test_glm_image_takes_hd_only(client: httpx2.Client, route: str, expected: str) -> None:
    assert accepted(client, route, {"model": "glm-image", "prompt": "x", "quality": "hd"})
    status, code, message = refused(
        client, route, {"model": "glm-image", "prompt": "x", "quality": "standard"}
    )
    assert (status, code) == (400, expected)
    assert message.startswith("quality")
    assert accepted(
        client, "images/generations", {"model": "cogview-4-250304", "prompt": "x", "quality": "standard"}
    )


@pytest.mark.parametrize("route", ["images/generations", "async/images/generations"])
@pytest.mark.parametrize("field", ["request_id", "n", "style", "response_format", "watermark_enabled"])
def test_image_routes_refuse_fields_they_do_not_define(client: httpx2.Client, route: str, field: str) -> None:
    body = {"model": "glm-image", "prompt": "x", field: "value"}
    status, code, message = refused(client, route, body)
    assert (status, code) == (400, "1210")
    assert message.startswith(field)
    assert accepted(client, route, {"model": "glm-image", "prompt": "x", field: None})  # as zai-sdk sends


def test_bigmodel_image_routes_take_watermark_enabled(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    body = {"model": "glm-image", "prompt": "x", "watermark_enabled": False}
    assert accepted(client, "images/generations", body)
    assert accepted(client, "async/images/generations", body)


def test_async_image_route_is_glm_image_only_and_checks_user_id(client: httpx2.Client) -> None:
    # an unknown model of the route (1211); a user_id under 6 characters is out of range (1210)
    assert refused(client, "async/images/generations", {"model": "cogview-4-250304", "prompt": "x"})[:2] == (
        400,
        "1211",
    )
    assert refused(
        client, "async/images/generations", {"model": "glm-image", "prompt": "x", "user_id": "abc"}
    )[:2] == (400, "1210")
    assert accepted(
        client, "async/images/generations", {"model": "glm-image", "prompt": "x", "user_id": "user-1"}
    )


# -- videos ---------------------------------------------------------------------------------------------


def test_video_prompt_is_at_most_512_characters(client: httpx2.Client) -> None:
    assert accepted(client, "videos/generations", {"model": "cogvideox-3", "prompt": "x" * 512})
    status, code, message = refused(
        client, "videos/generations", {"model": "cogvideox-3", "prompt": "x" * 513}
    )
    assert (status, code) == (400, "1214")
    assert "512" in message


def test_video_prompt_limit_holds_for_vidu_too(fake: FakeGLM, client: httpx2.Client) -> None:
    fake.platform = "bigmodel"
    body = {"model": "viduq1-text", "prompt": "x" * 513}
    assert refused(client, "videos/generations", body)[:2] == (400, "1214")


@pytest.mark.parametrize(
    ("platform", "value", "ok"),
    [
        ("zai", [data_url(PNG)], True),
        ("zai", data_url(PNG), False),  # Z.AI's CogVideoX3Request: image_url is an array (a type: 1210)
        ("bigmodel", data_url(PNG), True),
        ("bigmodel", [data_url(PNG)], True),
    ],
)
def test_cogvideox_image_url_shape_per_platform(
    fake: FakeGLM, client: httpx2.Client, platform: str, value: Any, ok: bool
) -> None:
    fake.platform = platform
    body = {"model": "cogvideox-3", "image_url": value}
    if ok:
        assert accepted(client, "videos/generations", body)
    else:
        assert refused(client, "videos/generations", body)[:2] == (400, "1210")


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        (data_url(PNG), True),
        (data_url(JPEG, "image/jpeg"), True),
        (base64.b64encode(PNG).decode(), True),  # bare base64: CogVideoX takes it
        ("https://example.com/a.webp", True),  # a URL is not fetched here
        (data_url(WEBP, "image/webp"), False),
        (data_url(GIF, "image/gif"), False),
        (data_url(WEBP, "image/png"), False),  # the bytes decide, not the declared type
        (data_url(b"hello"), False),
        ("data:image/png;base64,%%%", False),
    ],
)
def test_cogvideox_image_formats_by_their_bytes(client: httpx2.Client, image: str, ok: bool) -> None:
    body = {"model": "cogvideox-3", "image_url": [image]}
    if ok:
        assert accepted(client, "videos/generations", body)
    else:
        status, code, message = refused(client, "videos/generations", body)
        assert (status, code) == (400, "1214")
        assert message.startswith("image_url")


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        (data_url(WEBP, "image/webp"), True),
        (data_url(PNG), True),
        (data_url(GIF, "image/gif"), False),
        (base64.b64encode(PNG).decode(), False),  # Vidu wants the MIME prefix
    ],
)
def test_vidu_image_formats_and_data_urls(fake: FakeGLM, client: httpx2.Client, image: str, ok: bool) -> None:
    fake.platform = "bigmodel"
    body = {"model": "vidu2-image", "image_url": image}
    if ok:
        assert accepted(client, "videos/generations", body)
    else:
        assert refused(client, "videos/generations", body)[:2] == (400, "1214")


def test_cogvideox_input_image_is_at_most_5_mb(client: httpx2.Client) -> None:
    big = PNG + bytes(5 * 1024 * 1024)
    status, code, message = refused(
        client, "videos/generations", {"model": "cogvideox-3", "image_url": [data_url(big)]}
    )
    assert (status, code) == (400, "1214")
    assert "5 MB" in message


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("cogvideox-3", "style", "anime"),
        ("cogvideox-3", "movement_amplitude", "auto"),
        ("cogvideox-3", "watermark_enabled", True),  # BigModel only
        ("cogvideox-3", "off_peak", True),  # SDK only
        ("cogvideox-3", "n", 1),
    ],
)
def test_zai_video_route_refuses_fields_it_does_not_define(
    client: httpx2.Client, model: str, field: str, value: Any
) -> None:
    status, code, message = refused(
        client, "videos/generations", {"model": model, "prompt": "x", field: value}
    )
    assert (status, code) == (400, "1210")
    assert message.startswith(field)


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"model": "viduq1-text", "prompt": "x", "style": "anime", "aspect_ratio": "16:9"}, True),
        ({"model": "viduq1-text", "prompt": "x", "fps": 30}, False),
        ({"model": "viduq1-text", "prompt": "x", "quality": "speed"}, False),
        ({"model": "viduq1-image", "image_url": data_url(PNG), "aspect_ratio": "16:9"}, False),
        ({"model": "vidu2-reference", "image_url": [data_url(PNG)], "aspect_ratio": "16:9"}, True),
        ({"model": "cogvideox-3", "prompt": "x", "watermark_enabled": True}, True),  # BigModel's CogVideoX-3
        ({"model": "viduq1-text", "prompt": "x", "watermark_enabled": True}, False),  # SDK only for Vidu
    ],
)
def test_bigmodel_video_fields_per_model(
    fake: FakeGLM, client: httpx2.Client, body: dict[str, Any], ok: bool
) -> None:
    fake.platform = "bigmodel"
    if ok:
        assert accepted(client, "videos/generations", body)
    else:
        assert refused(client, "videos/generations", body)[:2] == (400, "1210")


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"model": "viduq1-text", "prompt": "x", "size": "1920x1080", "duration": 5}, True),
        ({"model": "viduq1-text", "prompt": "x", "size": "1280x720"}, False),
        ({"model": "viduq1-text", "prompt": "x", "duration": 4}, False),
        ({"model": "vidu2-image", "image_url": data_url(PNG), "size": "1280x720", "duration": 4}, True),
        ({"model": "vidu2-image", "image_url": data_url(PNG), "duration": 5}, False),
        ({"model": "vidu2-start-end", "image_url": [data_url(PNG)] * 2, "size": "480x360"}, True),
        ({"model": "vidu2-image", "image_url": [data_url(PNG)]}, False),  # one string, not an array
    ],
)
def test_vidu_sizes_durations_and_shapes(
    fake: FakeGLM, client: httpx2.Client, body: dict[str, Any], ok: bool
) -> None:
    """Each Vidu model's sizes and durations are enums of its schema, its image_url a type: 1210."""
    fake.platform = "bigmodel"
    if ok:
        assert accepted(client, "videos/generations", body)
    else:
        assert refused(client, "videos/generations", body)[:2] == (400, "1210")


def test_video_request_id_and_user_id_lengths(client: httpx2.Client) -> None:
    assert accepted(
        client, "videos/generations", {"model": "cogvideox-3", "prompt": "x", "request_id": "r" * 64}
    )
    for field, value in (("request_id", "r" * 65), ("request_id", "abc"), ("user_id", "abc")):
        body = {"model": "cogvideox-3", "prompt": "x", field: value}
        assert refused(client, "videos/generations", body)[:2] == (400, "1210"), field  # a length range
