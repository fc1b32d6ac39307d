"""`generate_image` and `generate_video` against the references, per platform and model: what is sent,
what is refused locally (one line, naming the limit), and glm-image's async route resumed with get_task."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import ImageContent, ResourceLink

from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, TaskPlan
from tests.fake_glm.media import PNG
from tests.samples import WEBP

pytestmark = pytest.mark.anyio


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def refusal(fake: FakeGLM, tool: str, arguments: dict[str, Any], **settings: Any) -> str:
    """The one-line error of a call refused before anything reached the API."""
    async with in_process(fake, **settings) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = text_of(result)
    assert "\n" not in text
    assert fake.requests == [], text
    return text.removeprefix(f"Error executing tool {tool}: ")


# -- images ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["cogview-4-250304", "glm-image"])
async def test_image_request_sends_only_fields_the_route_defines(fake: FakeGLM, model: str) -> None:
    async with in_process(fake, timeout=60) as client:  # long enough for glm-image's sync route
        result = await client.call_tool(
            "generate_image", {"prompt": "a fox", "model": model, "quality": "hd"}
        )
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("images/generations")
    assert set(request.json) == {"model", "prompt", "quality"}  # no request_id: the route has none


async def test_glm_image_refuses_standard_quality_locally(fake: FakeGLM) -> None:
    text = await refusal(fake, "generate_image", {"prompt": "x", "model": "glm-image", "quality": "standard"})
    assert text == "glm-image takes quality hd only, not standard."


@pytest.mark.parametrize("model", ["cogview-4", "cogview-3-flash"])
async def test_bigmodel_image_models_are_refused_on_zai(fake: FakeGLM, model: str) -> None:
    text = await refusal(fake, "generate_image", {"prompt": "x", "model": model})
    assert f"{model} is not offered on the zai platform" in text
    assert "glm-image" in text


async def test_bigmodel_image_models_work_on_bigmodel(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "model": "cogview-4"})
    assert not result.is_error, text_of(result)
    assert fake.requests_to("images/generations")[0].json["model"] == "cogview-4"


async def test_glm_image_with_a_wait_runs_on_the_async_route(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=2)
    updates: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(message)

    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_image",
            {
                "prompt": "a fox",
                "model": "glm-image",
                "size": "1280x1280",
                "quality": "hd",
                "wait_seconds": 30,
            },
            progress_callback=on_progress,
        )
        assert not result.is_error, text_of(result)
        structured = result.structured_content
        assert structured is not None
        task_id = structured["task_id"]
        assert structured["status"] == "SUCCESS"
        path = Path(structured["path"])
        assert path.read_bytes() == PNG
        [image] = [block for block in result.content if isinstance(block, ImageContent)]
        assert base64.b64decode(image.data) == PNG
        [link] = [block for block in result.content if isinstance(block, ResourceLink)]
        assert link.uri == f"glm://media/{path.name}"
        [task] = json.loads((await client.read_resource("glm://tasks")).contents[0].text)  # type: ignore[union-attr]
        assert (task["id"], task["kind"], task["status"]) == (task_id, "image", "SUCCESS")
    assert fake.requests_to("images/generations") == []
    [submit] = fake.requests_to("async/images/generations")
    assert submit.json == {"model": "glm-image", "prompt": "a fox", "size": "1280x1280", "quality": "hd"}
    assert len(fake.requests_to(f"async-result/{task_id}")) == 3
    assert "processing" in (updates[0] or "")
    assert len([r for r in fake.requests if r.route.startswith("media/")]) == 1


async def test_glm_image_job_is_resumed_with_get_task(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        handle = await client.call_tool(
            "generate_image", {"prompt": "x", "model": "glm-image", "wait_seconds": 0}
        )
        assert not handle.is_error, text_of(handle)
        assert handle.structured_content is not None
        assert handle.structured_content["status"] == "PROCESSING"
        task_id = handle.structured_content["task_id"]
        assert f"get_task with task_id {task_id}" in text_of(handle)
        done = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
        assert done.structured_content is not None
        assert done.structured_content["status"] == "SUCCESS"
        assert Path(done.structured_content["path"]).read_bytes() == PNG
        again = await client.call_tool("get_task", {"task_id": task_id})
        assert again.structured_content is not None
        # The same job from the store; only its age (elapsed_seconds, rounded to 0.1 s) moves on.
        assert again.structured_content["elapsed_seconds"] >= done.structured_content["elapsed_seconds"]
        assert without_age(again.structured_content) == without_age(done.structured_content)
    assert len(fake.requests_to("async/images/generations")) == 1
    assert len(fake.requests_to(f"async-result/{task_id}")) == 3  # the second get_task read the store
    assert len([r for r in fake.requests if r.route.startswith("media/")]) == 1


async def test_glm_image_goes_async_when_the_read_timeout_is_short(fake: FakeGLM) -> None:
    async with in_process(fake, timeout=10) as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "model": "glm-image"})
    assert not result.is_error, text_of(result)
    assert len(fake.requests_to("async/images/generations")) == 1
    assert fake.requests_to("images/generations") == []


async def test_glm_image_without_a_wait_stays_synchronous(fake: FakeGLM) -> None:
    async with in_process(fake, timeout=60) as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "model": "glm-image"})
    assert not result.is_error, text_of(result)
    assert len(fake.requests_to("images/generations")) == 1


async def test_get_task_records_an_unknown_image_job_as_an_image(fake: FakeGLM, tmp_path: Path) -> None:
    async with in_process(fake) as client:
        handle = await client.call_tool(
            "generate_image", {"prompt": "x", "model": "glm-image", "wait_seconds": 0}
        )
    assert handle.structured_content is not None
    task_id = handle.structured_content["task_id"]
    fake.task_plan = TaskPlan(polls=5)
    async with in_process(fake, data_dir=tmp_path / "other") as other:
        result = await other.call_tool("get_task", {"task_id": task_id, "wait_seconds": 0})
        assert result.structured_content is not None
        assert result.structured_content["status"] == "PROCESSING"
        [task] = json.loads((await other.read_resource("glm://tasks")).contents[0].text)  # type: ignore[union-attr]
    assert task["kind"] == "image"


# -- videos ---------------------------------------------------------------------------------------------


async def test_video_prompt_over_the_model_limit_is_refused_locally(fake: FakeGLM) -> None:
    text = await refusal(fake, "generate_video", {"prompt": "x" * 513})
    assert text == "The prompt has 513 characters; cogvideox-3 takes at most 512: shorten it."


async def test_video_prompt_at_the_limit_is_sent(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {"prompt": "x" * 512, "wait_seconds": 0})
    assert not result.is_error, text_of(result)


async def test_video_prompt_schema_no_longer_promises_1500(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        [tool] = [tool for tool in (await client.list_tools()).tools if tool.name == "generate_video"]
    prompt = tool.input_schema["properties"]["prompt"]
    assert prompt.get("maxLength") != 1500
    assert "512" in prompt["description"]


async def test_one_image_goes_to_cogvideox_3_as_an_array_of_data_urls(
    fake: FakeGLM, isolated_dirs: Path
) -> None:
    picture = isolated_dirs / "start.png"
    picture.write_bytes(PNG)
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {"image": str(picture), "wait_seconds": 0})
    assert not result.is_error, text_of(result)
    [submit] = fake.requests_to("videos/generations")
    assert submit.json["image_url"] == [data_url(PNG)]  # the full data URL, MIME prefix kept


async def test_a_data_url_and_an_http_url_pass_as_they_are(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video", {"image": [data_url(PNG), "https://example.com/b.jpg"], "wait_seconds": 0}
        )
    assert not result.is_error, text_of(result)
    assert fake.requests_to("videos/generations")[0].json["image_url"] == [
        data_url(PNG),
        "https://example.com/b.jpg",
    ]


async def test_webp_is_refused_for_cogvideox_naming_the_accepted_formats(
    fake: FakeGLM, isolated_dirs: Path
) -> None:
    picture = isolated_dirs / "start.webp"
    picture.write_bytes(WEBP)
    text = await refusal(fake, "generate_video", {"image": str(picture), "prompt": "x"})
    assert text == (
        f'The image "{picture}" is WEBP, which cogvideox-3 does not take: it takes PNG or JPEG images only '
        "(convert it first)."
    )


async def test_webp_goes_to_vidu_as_one_data_url(fake: FakeGLM, isolated_dirs: Path) -> None:
    fake.platform = "bigmodel"
    picture = isolated_dirs / "start.webp"
    picture.write_bytes(WEBP)
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video", {"image": str(picture), "model": "vidu2-image", "wait_seconds": 0}
        )
    assert not result.is_error, text_of(result)
    assert fake.requests_to("videos/generations")[0].json["image_url"] == data_url(WEBP, "image/webp")


async def test_first_and_last_frames_need_speed_quality(fake: FakeGLM) -> None:
    arguments = {"image": [data_url(PNG), data_url(PNG)], "quality": "quality"}
    text = await refusal(fake, "generate_video", arguments)
    assert text == 'cogvideox-3 takes first and last frames only with quality "speed" (the default).'


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"size": "640x480"}, "cogvideox-3 takes size 1280x720, 720x1280, 1024x1024"),
        (
            {"model": "cogvideox-2"},
            "cogvideox-2 is offered on BigModel only, not on Z.AI (GLM_PLATFORM=zai); use cogvideox-3 here.",
        ),
        ({"model": "viduq1-text"}, "viduq1-text is offered on BigModel only, not on Z.AI"),
    ],
)
async def test_video_arguments_the_model_does_not_take_are_refused(
    fake: FakeGLM, arguments: dict[str, Any], expected: str
) -> None:
    text = await refusal(fake, "generate_video", {"prompt": "x", **arguments})
    assert text.startswith(expected)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {"model": "viduq1-text", "fps": 30},
            "viduq1-text does not take fps: leave it out (fps is for cogvideox-3, cogvideox-2, "
            "cogvideox-flash).",
        ),
        (
            {"model": "viduq1-text", "quality": "speed"},
            "viduq1-text does not take quality: leave it out (quality is for cogvideox-3, cogvideox-2, "
            "cogvideox-flash).",
        ),
        (
            {"model": "vidu2-image", "image": data_url(PNG), "duration": 5},
            "vidu2-image takes duration 4, not 5.",
        ),
    ],
)
async def test_bigmodel_vidu_fields_are_checked(
    fake: FakeGLM, arguments: dict[str, Any], expected: str
) -> None:
    fake.platform = "bigmodel"
    assert await refusal(fake, "generate_video", {"prompt": "x", **arguments}) == expected


async def test_cogvideox_2_works_on_bigmodel_with_one_image_as_a_string(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video", {"model": "cogvideox-2", "image": data_url(PNG), "fps": 60, "wait_seconds": 0}
        )
    assert not result.is_error, text_of(result)
    assert fake.requests_to("videos/generations")[0].json["image_url"] == data_url(PNG)


async def test_a_cancelled_image_wait_keeps_the_job_for_get_task(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=30)
    async with in_process(fake) as client:
        with anyio.move_on_after(0.6) as scope:
            await client.call_tool(
                "generate_image", {"prompt": "x", "model": "glm-image", "wait_seconds": 60}
            )
        assert scope.cancelled_caught
        [task] = json.loads((await client.read_resource("glm://tasks")).contents[0].text)  # type: ignore[union-attr]
        assert (task["kind"], task["status"]) == ("image", "PROCESSING")
    assert len(fake.requests_to("async/images/generations")) == 1


async def test_a_failed_image_job_is_one_line_with_the_reason(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=0, outcome="FAIL", fail_message="The image did not pass the review.")
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "x", "model": "glm-image", "wait_seconds": 5}
        )
    assert result.is_error
    assert "The image task" in text_of(result)
    assert "failed: The image did not pass the review. (code 1301)" in text_of(result)
    assert "\n" not in text_of(result)


async def test_the_models_listing_shows_the_media_rules(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        listed = json.loads((await client.read_resource("glm://models")).contents[0].text)  # type: ignore[union-attr]
    by_id = {model["id"]: model for model in listed}
    assert (by_id["glm-image"]["qualities"], by_id["glm-image"]["async_route"]) == (["hd"], True)
    video = by_id["cogvideox-3"]
    assert (video["max_prompt_characters"], video["durations"], video["frame_rates"]) == (
        512,
        [5, 10],
        [30, 60],
    )
    assert video["image_formats"] == ["image/png", "image/jpeg"]
    assert by_id["vidu2-image"]["image_formats"] == ["image/png", "image/jpeg", "image/webp"]
    assert by_id["cogvideox-2"]["platforms"] == ["bigmodel"]


async def test_vidu_reference_gets_one_image_as_an_array(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video",
            {"model": "vidu2-reference", "image": data_url(PNG), "prompt": "x", "wait_seconds": 0},
        )
    assert not result.is_error, text_of(result)
    assert fake.requests_to("videos/generations")[0].json["image_url"] == [data_url(PNG)]


def without_age(structured: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in structured.items() if key != "elapsed_seconds"}
