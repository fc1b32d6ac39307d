"""End to end over stdio with the installed server: glm-image's async job resumed with get_task, a video
from a local image (array of full data URLs), and local refusals that leave the server serving."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from mcp.types import ImageContent

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, TaskPlan
from tests.fake_glm.media import PNG
from tests.samples import WEBP

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_glm_image_job_over_stdio(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=1)
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        refused = await client.call_tool(
            "generate_image", {"prompt": "x", "model": "glm-image", "quality": "standard"}
        )
        assert refused.is_error
        assert "glm-image takes quality hd only, not standard." in text_of(refused)
        handle = await client.call_tool(
            "generate_image", {"prompt": "a fox", "model": "glm-image", "wait_seconds": 0}
        )
        assert not handle.is_error, text_of(handle)
        assert handle.structured_content is not None
        task_id = handle.structured_content["task_id"]
        assert handle.structured_content["status"] == "PROCESSING"
        done = await client.call_tool(
            "get_task", {"task_id": task_id, "wait_seconds": 10}, progress_callback=on_progress
        )
        assert done.structured_content is not None
        assert done.structured_content["status"] == "SUCCESS"
        assert Path(done.structured_content["path"]).read_bytes() == PNG
        again = await client.call_tool(
            "generate_image", {"prompt": "a cat", "model": "glm-image", "wait_seconds": 20}
        )
        assert again.structured_content is not None
        assert again.structured_content["status"] == "SUCCESS"
        [image] = [block for block in again.content if isinstance(block, ImageContent)]
        assert base64.b64decode(image.data) == PNG
    submits = fake.requests_to("async/images/generations")
    assert [request.json for request in submits] == [
        {"model": "glm-image", "prompt": "a fox"},
        {"model": "glm-image", "prompt": "a cat"},
    ]
    assert fake.requests_to("images/generations") == []
    assert any("processing" in (message or "") for message in messages)


async def test_video_from_a_local_image_over_stdio(
    fake: FakeGLM, tmp_path: Path, isolated_dirs: Path
) -> None:
    picture = isolated_dirs / "start.png"
    picture.write_bytes(PNG)
    webp = isolated_dirs / "start.webp"
    webp.write_bytes(WEBP)
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        too_long = await client.call_tool("generate_video", {"prompt": "x" * 600})
        assert too_long.is_error
        assert "takes at most 512" in text_of(too_long)
        wrong = await client.call_tool("generate_video", {"image": str(webp)})
        assert wrong.is_error
        assert "it takes PNG or JPEG images only" in text_of(wrong)
        assert "\n" not in text_of(wrong)
        made = await client.call_tool(
            "generate_video", {"image": str(picture), "prompt": "waves", "wait_seconds": 30}
        )
        assert not made.is_error, text_of(made)
        assert made.structured_content is not None
        assert made.structured_content["status"] == "SUCCESS"
    [submit] = fake.requests_to("videos/generations")
    assert submit.json["image_url"] == ["data:image/png;base64," + base64.b64encode(PNG).decode()]
    assert "request_id" in submit.json  # the video route defines one (VideoCommonRequest)
