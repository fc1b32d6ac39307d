"""`generate_video` with the Vidu models (BigModel): each model's own fields sent exactly, what a model
does not take refused locally naming the models that do, image counts per model, Vidu refused on Z.AI;
and glm-image's async route taken when the longest wait a call may take is too short for the sync one."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, TaskPlan
from tests.fake_glm.media import PNG

pytestmark = pytest.mark.anyio
IMAGE = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
URL = "https://example.com/frame.png"


async def submitted(fake: FakeGLM, arguments: dict[str, Any]) -> dict[str, Any]:
    """The body generate_video sent for `arguments` on BigModel (without its request_id)."""
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {**arguments, "wait_seconds": 0})
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("videos/generations")
    body = dict(request.json)
    assert body.pop("request_id")
    return body


async def refusal(fake: FakeGLM, arguments: dict[str, Any], platform: str = "bigmodel") -> str:
    fake.platform = platform
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", arguments)
    assert result.is_error
    text = text_of(result)
    assert "\n" not in text
    assert fake.requests == [], text
    return text.removeprefix("Error executing tool generate_video: ")


@pytest.mark.parametrize(
    ("arguments", "body"),
    [
        (
            {
                "model": "viduq1-text",
                "prompt": "a fox",
                "style": "anime",
                "aspect_ratio": "9:16",
                "movement_amplitude": "large",
                "size": "1920x1080",
                "duration": 5,
            },
            {
                "model": "viduq1-text",
                "prompt": "a fox",
                "style": "anime",
                "aspect_ratio": "9:16",
                "movement_amplitude": "large",
                "size": "1920x1080",
                "duration": 5,
            },
        ),
        (
            {"model": "viduq1-image", "image": URL, "with_audio": True, "movement_amplitude": "small"},
            {"model": "viduq1-image", "image_url": URL, "with_audio": True, "movement_amplitude": "small"},
        ),
        (
            {"model": "viduq1-start-end", "image": [URL, IMAGE], "prompt": "turns"},
            {"model": "viduq1-start-end", "image_url": [URL, IMAGE], "prompt": "turns"},
        ),
        (
            {"model": "vidu2-image", "image": IMAGE, "duration": 4, "size": "1280x720"},
            {"model": "vidu2-image", "image_url": IMAGE, "duration": 4, "size": "1280x720"},
        ),
        (
            {
                "model": "vidu2-start-end",
                "image": [IMAGE, IMAGE],
                "size": "480x360",
                "movement_amplitude": "auto",
            },
            {
                "model": "vidu2-start-end",
                "image_url": [IMAGE, IMAGE],
                "size": "480x360",
                "movement_amplitude": "auto",
            },
        ),
        (
            {"model": "vidu2-reference", "image": [URL, URL, IMAGE], "prompt": "x", "aspect_ratio": "1:1"},
            {
                "model": "vidu2-reference",
                "image_url": [URL, URL, IMAGE],
                "prompt": "x",
                "aspect_ratio": "1:1",
            },
        ),
    ],
)
async def test_each_vidu_model_gets_exactly_its_fields(
    fake: FakeGLM, arguments: dict[str, Any], body: dict[str, Any]
) -> None:
    assert await submitted(fake, arguments) == body


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {"model": "viduq1-image", "image": URL, "style": "anime"},
            "viduq1-image does not take style: leave it out (style is for viduq1-text).",
        ),
        (
            {"model": "vidu2-image", "image": URL, "aspect_ratio": "1:1"},
            "vidu2-image does not take aspect_ratio: leave it out (aspect_ratio is for viduq1-text, "
            "vidu2-reference).",
        ),
        (
            {"model": "viduq1-text", "prompt": "x", "with_audio": True},
            "viduq1-text does not take with_audio: leave it out (with_audio is for cogvideox-3, "
            "cogvideox-2, cogvideox-flash, viduq1-image, viduq1-start-end, vidu2-image, vidu2-start-end, "
            "vidu2-reference).",
        ),
        (
            {"prompt": "x", "movement_amplitude": "small"},
            "cogvideox-3 does not take movement_amplitude: leave it out (movement_amplitude is for "
            "viduq1-text, viduq1-image, viduq1-start-end, vidu2-image, vidu2-start-end, vidu2-reference).",
        ),
        ({"model": "viduq1-text", "prompt": "x", "image": URL}, "viduq1-text takes 0 image(s), not 1."),
        ({"model": "vidu2-image", "image": [URL, URL]}, "vidu2-image takes 1 image(s), not 2."),
        ({"model": "viduq1-start-end", "image": URL}, "viduq1-start-end takes 2 image(s), not 1."),
        (
            {"model": "vidu2-reference", "image": [URL] * 4},
            "vidu2-reference takes 1 or 2 or 3 image(s), not 4.",
        ),
        ({"prompt": "x", "image": [URL] * 3}, "cogvideox-3 takes 0 or 1 or 2 image(s), not 3."),
        ({"model": "cogvideox-2", "image": [URL, URL]}, "cogvideox-2 takes 0 or 1 image(s), not 2."),
        ({"model": "cogvideox-2", "prompt": "x", "duration": 5}, "cogvideox-2 does not take duration"),
        ({"model": "viduq1-image", "image": URL, "duration": 4}, "viduq1-image takes duration 5, not 4."),
        (
            {"model": "vidu2-start-end", "image": [URL, URL], "size": "1920x1080"},
            "vidu2-start-end takes size",
        ),
    ],
)
async def test_what_a_vidu_model_does_not_take_is_refused_naming_who_does(
    fake: FakeGLM, arguments: dict[str, Any], expected: str
) -> None:
    assert (await refusal(fake, arguments)).startswith(expected)


async def test_vidu_is_refused_on_zai_naming_bigmodel(fake: FakeGLM) -> None:
    text = await refusal(fake, {"model": "vidu2-reference", "image": URL}, platform="zai")
    assert (
        text
        == "vidu2-reference is offered on BigModel only, not on Z.AI (GLM_PLATFORM=zai); use cogvideox-3 "
        "here."
    )


async def test_a_vidu_field_on_zai_names_the_models_and_their_platform(fake: FakeGLM) -> None:
    text = await refusal(fake, {"prompt": "x", "style": "general"}, platform="zai")
    assert text == "cogvideox-3 does not take style: leave it out (style is for viduq1-text, on BigModel)."


async def test_the_models_listing_shows_image_counts(fake: FakeGLM) -> None:
    import json

    async with in_process(fake) as client:
        listed = json.loads((await client.read_resource("glm://models")).contents[0].text)  # type: ignore[union-attr]
    by_id = {model["id"]: model for model in listed}
    assert by_id["vidu2-reference"]["image_counts"] == [1, 2, 3]
    assert "aspect_ratio" in by_id["vidu2-reference"]["fields"]


# -- glm-image: the async route when a call may not wait long enough for the sync one ---------------------


async def test_glm_image_goes_async_when_the_longest_wait_is_short(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=1)
    async with in_process(fake, timeout=60, max_wait=30) as client:
        handle = await client.call_tool("generate_image", {"prompt": "x", "model": "glm-image"})
        assert not handle.is_error, text_of(handle)
        assert handle.structured_content is not None
        task_id = handle.structured_content["task_id"]
        if handle.structured_content["status"] != "SUCCESS":
            done = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
            assert done.structured_content is not None
            assert done.structured_content["status"] == "SUCCESS"
    assert fake.requests_to("images/generations") == []
    assert len(fake.requests_to("async/images/generations")) == 1


async def test_glm_image_stays_sync_when_timeout_and_wait_allow_it(fake: FakeGLM) -> None:
    async with in_process(fake, timeout=60, max_wait=55) as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "model": "glm-image"})
    assert not result.is_error, text_of(result)
    assert len(fake.requests_to("images/generations")) == 1
    assert fake.requests_to("async/images/generations") == []
