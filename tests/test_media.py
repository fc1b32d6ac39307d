"""`generate_image`, `generate_video` and `get_task` in process: the wire, the files, the store, the waits."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import BlobResourceContents, CallToolResult, ImageContent, ResourceLink

from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, Fault, TaskPlan

pytestmark = pytest.mark.anyio

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def links(result: CallToolResult) -> list[ResourceLink]:
    return [block for block in result.content if isinstance(block, ResourceLink)]


async def read_blob(client: Client, uri: str) -> BlobResourceContents:
    [contents] = (await client.read_resource(uri)).contents
    assert isinstance(contents, BlobResourceContents)
    return contents


# -- images ---------------------------------------------------------------------------------------


async def test_generate_image_saves_shows_and_links(fake: FakeGLM, tmp_path: Path) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "a red fox in snow", "size": "1024x1024", "quality": "hd"}
        )
        assert not result.is_error, text_of(result)
        structured = result.structured_content
        assert structured is not None
        assert structured["model"] == "cogview-4-250304"
        assert structured["size"] == "1024x1024"
        assert structured["url"].startswith(fake.root_url + "/media/")
        path = Path(structured["path"])
        assert path.parent == tmp_path / "data" / "media"
        assert path.name.startswith("image-")
        assert path.suffix == ".png"
        assert "fox" not in path.name  # names never come from the prompt
        images = [block for block in result.content if isinstance(block, ImageContent)]
        assert len(images) == 1
        assert images[0].mime_type == "image/png"
        assert base64.b64decode(images[0].data) == path.read_bytes()
        [link] = links(result)
        assert link.uri == f"glm://media/{path.name}"
        blob = await read_blob(client, link.uri)
        assert blob.mime_type == "image/png"
        assert base64.b64decode(blob.blob) == path.read_bytes()
    [request] = fake.requests_to("images/generations")
    assert request.json["model"] == "cogview-4-250304"
    assert request.json["prompt"] == "a red fox in snow"
    assert request.json["size"] == "1024x1024"
    assert request.json["quality"] == "hd"


async def test_image_submission_is_not_resent_after_a_read_timeout(fake: FakeGLM) -> None:
    fake.script("images/generations", Fault(delay=1.0))
    async with in_process(fake, timeout=0.3) as client:
        result = await client.call_tool("generate_image", {"prompt": "x"})
    assert result.is_error
    assert "not re-sent" in text_of(result)
    assert len(fake.requests_to("images/generations")) == 1


async def test_image_submission_refused_as_busy_is_retried(fake: FakeGLM) -> None:
    fake.script("images/generations", Fault(status=429, code="1302"))
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "x"})
    assert not result.is_error
    assert len(fake.requests_to("images/generations")) == 2


async def test_image_server_error_is_not_resent(fake: FakeGLM) -> None:
    fake.script("images/generations", Fault(status=500))
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "x"})
    assert result.is_error
    assert len(fake.requests_to("images/generations")) == 1


async def test_image_size_is_checked_before_any_request(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "size": "big"})
    assert result.is_error
    assert "size 'big' is not WIDTHxHEIGHT in pixels" in text_of(result)
    assert fake.requests == []


# -- videos ---------------------------------------------------------------------------------------


async def test_video_waits_with_progress_then_downloads(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=3)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video",
            {"prompt": "waves at dusk", "quality": "quality", "fps": 30, "duration": 5, "with_audio": True},
            progress_callback=on_progress,
        )
        assert not result.is_error, text_of(result)
        job = result.structured_content
        assert job is not None
        assert job["status"] == "SUCCESS"
        assert job["model"] == "cogvideox-3"
        video, cover = Path(job["path"]), Path(job["cover_path"])
        assert video.suffix == ".mp4"
        assert video.read_bytes()[4:8] == b"ftyp"
        assert cover.suffix == ".png"
        assert video.name.startswith("video-")
        assert cover.name.startswith("cover-")
        assert job["video_url"].endswith(".mp4")
        assert [link.uri for link in links(result)] == [
            f"glm://media/{video.name}",
            f"glm://media/{cover.name}",
        ]
        recorded = json.loads(
            _text((await client.read_resource(f"glm://tasks/{job['task_id']}")).contents[0])
        )
        assert recorded["status"] == "SUCCESS"
        assert recorded["request"]["prompt"] == "waves at dusk"
    [submit] = fake.requests_to("videos/generations")
    assert submit.json["model"] == "cogvideox-3"
    assert submit.json["quality"] == "quality"
    assert submit.json["with_audio"] is True
    assert len(fake.requests_to(f"async-result/{job['task_id']}")) == 4  # 3 x PROCESSING, then SUCCESS
    assert len(updates) == 5  # one per poll, then the job saved
    assert [total for _, total, _ in updates[:-1]] == [None] * 4  # the end of a job is not known
    assert updates[-1][1] == updates[-1][0]  # until it is saved
    assert all(later > earlier for (earlier, _, _), (later, _, _) in itertools.pairwise(updates))
    assert all(value == round(value, 2) for value, _, _ in updates)
    assert f"video task {job['task_id']}: processing, 0 s old" == updates[0][2]
    assert "saving the video" in (updates[-2][2] or "")
    assert "saved" in (updates[-1][2] or "")


def _text(contents: Any) -> str:
    return str(contents.text)


async def test_wait_zero_returns_the_handle_and_get_task_completes(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        handle = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        assert not handle.is_error
        assert handle.structured_content is not None
        assert handle.structured_content["status"] == "PROCESSING"
        task_id = handle.structured_content["task_id"]
        assert "get_task" in text_of(handle)
        assert fake.requests_to(f"async-result/{task_id}") == []
        done = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
        assert done.structured_content is not None
        assert done.structured_content["status"] == "SUCCESS"
        again = await client.call_tool("get_task", {"task_id": task_id})
        assert again.structured_content is not None
        # The same job from the store; only its age (elapsed_seconds, rounded to 0.1 s) moves on.
        assert again.structured_content["elapsed_seconds"] >= done.structured_content["elapsed_seconds"]
        assert without_age(again.structured_content) == without_age(done.structured_content)
    polls = len(fake.requests_to(f"async-result/{task_id}"))
    assert polls == 3  # the second get_task answered from the store


async def test_concurrent_get_task_calls_download_a_job_once(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        handle = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        assert handle.structured_content is not None
        task_id = handle.structured_content["task_id"]
        fake.script("media", Fault(delay=0.5))  # the first download is slow: the calls overlap
        answers: list[CallToolResult] = []

        async def get_task() -> None:
            answers.append(await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10}))

        async with anyio.create_task_group() as group:
            group.start_soon(get_task)
            group.start_soon(get_task)
    first, second = (answer.structured_content for answer in answers)
    assert first is not None
    assert first["status"] == "SUCCESS"
    assert second == first
    downloads = sorted(r.route for r in fake.requests if r.route.startswith("media/"))
    assert len(downloads) == 2, downloads  # the video and its cover, once each
    assert sorted(path.name for path in Path(first["path"]).parent.iterdir()) == sorted(
        Path(first[key]).name for key in ("path", "cover_path")
    )


async def test_budget_used_up_then_get_task_later(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=1.0)
    async with in_process(fake) as client:
        first = await client.call_tool("generate_video", {"prompt": "slow", "wait_seconds": 0.3})
        assert first.structured_content is not None
        assert first.structured_content["status"] == "PROCESSING"
        task_id = first.structured_content["task_id"]
        assert f"call get_task with task_id {task_id}" in text_of(first).replace("Call", "call")
        later = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5})
    assert later.structured_content is not None
    assert later.structured_content["status"] == "SUCCESS"
    assert len(fake.requests_to("videos/generations")) == 1


async def test_failed_video_is_a_tool_error_with_the_reason(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_message="The prompt was refused by review.")
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {"prompt": "bad"})
        assert result.is_error
        assert "failed: The prompt was refused by review. (code 1301)" in text_of(result)
        [task] = json.loads(_text((await client.read_resource("glm://tasks")).contents[0]))
        assert task["status"] == "FAIL"
        polls = len(fake.requests)
        again = await client.call_tool("get_task", {"task_id": task["id"]})
        assert again.is_error
        assert len(fake.requests) == polls  # known to have failed: no API call


async def test_cancelled_wait_stops_polling_and_keeps_the_task(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=30)

    def polls() -> int:
        return len([r for r in fake.requests if r.route.startswith("async-result/")])

    async with in_process(fake) as client:
        with anyio.move_on_after(0.6) as scope:
            await client.call_tool("generate_video", {"prompt": "long"})
        assert scope.cancelled_caught
        seen = polls()
        assert seen >= 1
        await anyio.sleep(1.0)
        assert polls() == seen  # polling stopped with the call
        [task] = json.loads(_text((await client.read_resource("glm://tasks")).contents[0]))
        assert task["status"] == "PROCESSING"


async def test_video_submit_read_timeout_is_not_resent(fake: FakeGLM) -> None:
    fake.script("videos/generations", Fault(delay=1.0))
    async with in_process(fake, timeout=0.3) as client:
        result = await client.call_tool("generate_video", {"prompt": "x"})
    assert result.is_error
    assert "not re-sent" in text_of(result)
    assert len(fake.requests_to("videos/generations")) == 1


async def test_image_to_video_inlines_a_local_file_and_passes_urls(
    fake: FakeGLM, isolated_dirs: Path
) -> None:
    picture = isolated_dirs / "frame.png"
    picture.write_bytes(PNG)
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video",
            {"image": [str(picture), "https://example.com/last.png"], "quality": "speed", "wait_seconds": 0},
        )
    assert not result.is_error, text_of(result)
    [submit] = fake.requests_to("videos/generations")
    first, last = submit.json["image_url"]
    assert first == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert last == "https://example.com/last.png"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "notes.png", "is not an image"),
        (lambda d: d.parent / "elsewhere.png", "outside"),
        (lambda d: d / ".hidden" / "a.png", "hidden"),
    ],
)
async def test_bad_local_images_are_refused_before_any_request(
    fake: FakeGLM, isolated_dirs: Path, make: Any, words: str
) -> None:
    path: Path = make(isolated_dirs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SECRET=1\n" if path.name == "notes.png" else PNG)
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {"image": str(path), "prompt": "x"})
    assert result.is_error
    assert words in text_of(result)
    assert "\n" not in text_of(result)
    assert fake.requests == []


async def test_get_task_knows_ids_from_elsewhere(fake: FakeGLM, tmp_path: Path) -> None:
    async with in_process(fake) as client:
        handle = await client.call_tool("generate_video", {"prompt": "x", "wait_seconds": 0})
    assert handle.structured_content is not None
    task_id = handle.structured_content["task_id"]
    # another server with its own, empty store, as if the job was submitted elsewhere
    async with in_process(fake, data_dir=tmp_path / "other") as other:
        result = await other.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5})
        assert result.structured_content is not None
        assert result.structured_content["status"] == "SUCCESS"
        [task] = json.loads(_text((await other.read_resource("glm://tasks")).contents[0]))
        assert task["id"] == task_id
        assert task["kind"] == "video"


async def test_unknown_task_id_says_so(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("get_task", {"task_id": "123456789", "wait_seconds": 0})
    assert result.is_error
    assert "No task 123456789: this server never submitted it and the GLM API does not know it" in text_of(
        result
    )


async def test_failed_download_says_the_job_can_be_saved_later(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=0)
    fake.script("media", Fault(status=404))
    async with in_process(fake) as client:
        first = await client.call_tool("generate_video", {"prompt": "x"})
        assert first.is_error
        assert "failed: HTTP 404" in text_of(first)
        [task] = json.loads(_text((await client.read_resource("glm://tasks")).contents[0]))
        assert f"call get_task with task_id {task['id']} to try saving it again" in text_of(first)
        again = await client.call_tool("get_task", {"task_id": task["id"]})
    assert again.structured_content is not None
    assert again.structured_content["status"] == "SUCCESS"
    assert len(fake.requests_to("videos/generations")) == 1
    assert list((tmp_path / "data" / "media").iterdir())


def without_age(structured: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in structured.items() if key != "elapsed_seconds"}
