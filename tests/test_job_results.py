"""What a job's result tells a model, whether its host shows only the text or only `structuredContent`;
get_task without an id; the duplicate rule (an identical job still processing is not paid again); the
wait cap; progress that keeps coming between sparse polls and during retry backoffs. In process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult

from mcp_server_glm.glm import client as glm_client_module
from mcp_server_glm.jobs import wait
from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.fake_glm.media import PNG
from tests.samples import png

pytestmark = pytest.mark.anyio


def structured_only(result: CallToolResult) -> dict[str, Any]:
    """What a host that hands the model only `structuredContent` gives it."""
    assert result.structured_content is not None
    content: dict[str, Any] = result.structured_content
    return content


class Progress:
    def __init__(self) -> None:
        self.updates: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.append((progress, total, message))

    @property
    def messages(self) -> list[str]:
        return [message or "" for _, _, message in self.updates]


async def test_each_job_state_is_told_by_the_text_alone_and_by_the_structured_content_alone(
    fake: FakeGLM,
) -> None:
    async with in_process(fake) as client:
        # Still processing: both views say so, and say to call get_task now (never to resubmit).
        handle = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        job = structured_only(handle)
        task_id = job["task_id"]
        assert job["status"] == "PROCESSING"
        assert job["elapsed_seconds"] >= 0
        step = f"Call get_task with task_id {task_id} now; it waits up to 50 s."
        assert job["next_step"].startswith(step)
        assert "Do not submit the job again" in job["next_step"]
        text = text_of(handle)
        assert f"The video task {task_id} is still processing" in text
        assert step in text and "Do not submit the job again" in text

        # Done: the path, and what it can go to next.
        done = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
        job = structured_only(done)
        assert job["status"] == "SUCCESS"
        assert job["elapsed_seconds"] >= 0
        assert job["path"] in job["next_step"]
        assert f"cover image {job['cover_path']} can go to glm_chat" in job["next_step"]
        assert job["path"] in text_of(done) and job["next_step"] in text_of(done)
        # Answered again from the store: the same, with the job's age (not the call's) grown or equal.
        again = structured_only(await client.call_tool("get_task", {"task_id": task_id}))
        assert again["next_step"] == job["next_step"]
        assert again["elapsed_seconds"] >= job["elapsed_seconds"]

        # Failed: an error, whose one line (all any host shows) says what happened and what to do.
        fake.task_plan = TaskPlan(polls=0, outcome="FAIL", fail_message="Refused by review.")
        failed = await client.call_tool("generate_video", {"prompt": "bad"})
        assert failed.is_error
        assert failed.structured_content is None
        line = text_of(failed)
        assert "\n" not in line
        assert "failed: Refused by review. (code 1301)" in line
        assert "change what the reason points at" in line


async def test_an_async_image_job_result_is_complete_in_both_views(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=1)
    async with in_process(fake) as client:
        handle = await client.call_tool(
            "generate_image", {"prompt": "a fox", "model": "glm-image", "wait_seconds": 0}
        )
        shown = structured_only(handle)
        assert shown["status"] == "PROCESSING"
        assert shown["next_step"].startswith(f"Call get_task with task_id {shown['task_id']} now")
        assert shown["next_step"] in text_of(handle)
        # An oversized wait is cut to the cap and said so, in the structured note too (before: dropped).
        done = await client.call_tool(
            "generate_image", {"prompt": "a cat", "model": "glm-image", "wait_seconds": 999}
        )
        shown = structured_only(done)
        assert shown["status"] == "SUCCESS"
        assert "generate_video(image=...)" in shown["next_step"]
        assert "glm_chat(images=[...])" in shown["next_step"]
        assert "wait_seconds 999 was lowered to 55" in shown["note"]
        assert "wait_seconds 999 was lowered to 55" in text_of(done)


async def test_get_task_without_an_id_lists_the_recent_jobs_newest_first(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        empty = await client.call_tool("get_task", {})
        assert not empty.is_error, text_of(empty)
        assert structured_only(empty)["jobs"] == []
        assert "No jobs yet" in text_of(empty)
        ids = []
        for prompt in ("first " + "long " * 30, "second"):
            handle = await client.call_tool("generate_video", {"prompt": prompt, "wait_seconds": 0})
            ids.append(structured_only(handle)["task_id"])
        listed = await client.call_tool("get_task", {})
        refused = await client.call_tool("get_task", {"task_id": ".."})
    jobs = structured_only(listed)["jobs"]
    assert [job["task_id"] for job in jobs] == ids[::-1]
    newest, oldest = jobs
    assert newest == {
        "task_id": ids[1],
        "kind": "video",
        "status": "PROCESSING",
        "model": "cogvideox-3",
        "prompt": "second",
        "elapsed_seconds": newest["elapsed_seconds"],
    }
    assert len(oldest["prompt"]) == 80 and oldest["prompt"].endswith("…")
    assert "get_task with the task_id" in structured_only(listed)["next_step"]
    text = text_of(listed)
    assert text.index(ids[1]) < text.index(ids[0])
    assert f'{ids[1]}: video, PROCESSING, cogvideox-3, 0 s old, "second"' in text
    assert refused.is_error
    assert len(fake.requests_to("async-result")) == 0  # the listing asks the API nothing


async def test_an_identical_call_returns_the_job_still_processing_unless_new(
    fake: FakeGLM, isolated_dirs: Path
) -> None:
    fake.task_plan = TaskPlan(seconds=60)
    picture = isolated_dirs / "start.png"
    picture.write_bytes(PNG)
    call = {"prompt": "waves", "image": str(picture), "fps": 30, "wait_seconds": 0}
    async with in_process(fake) as client:
        first = structured_only(await client.call_tool("generate_video", call))
        assert "note" not in first
        second = await client.call_tool("generate_video", call)
        assert len(fake.requests_to("videos/generations")) == 1  # nothing sent again
        again = structured_only(second)
        assert again["task_id"] == first["task_id"]
        assert "same video job as an identical call" in again["note"]
        assert "new: true" in again["note"] and "new: true" in text_of(second)
        # Any difference is another job: other options, or the same path holding another picture.
        await client.call_tool("generate_video", {**call, "fps": 60})
        picture.write_bytes(png(b"another picture"))
        changed = structured_only(await client.call_tool("generate_video", call))
        forced = structured_only(await client.call_tool("generate_video", {**call, "new": True}))
        [listed] = structured_only(await client.call_tool("get_task", {}))["jobs"][:1]
        [contents] = (await client.read_resource(f"glm://tasks/{first['task_id']}")).contents
    stored = json.loads(getattr(contents, "text", ""))["request"]
    [image] = stored["images"]
    assert image.startswith(f"{picture} (sha256 ")  # the picture's identity, never its data
    assert "base64" not in json.dumps(stored)
    assert len(fake.requests_to("videos/generations")) == 4
    assert len({first["task_id"], changed["task_id"], forced["task_id"]}) == 3
    assert "note" not in forced and "note" not in changed
    assert listed["task_id"] == forced["task_id"]


async def test_an_identical_async_image_call_is_the_same_job(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=60)
    call = {"prompt": "a fox", "model": "glm-image", "wait_seconds": 0}
    async with in_process(fake) as client:
        first = structured_only(await client.call_tool("generate_image", call))
        again = structured_only(await client.call_tool("generate_image", call))
        assert again["task_id"] == first["task_id"]
        assert "same image job" in again["note"]
        other = structured_only(await client.call_tool("generate_image", {**call, "new": True}))
    assert other["task_id"] != first["task_id"]
    assert len(fake.requests_to("async/images/generations")) == 2


async def test_waits_are_capped_and_the_default_wait_is_at_most_the_cap(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=60)
    async with in_process(fake, max_wait=0.3, video_wait=50) as client:
        handle = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 3600})
        job = structured_only(handle)
        assert job["status"] == "PROCESSING"
        assert "wait_seconds 3600 was lowered to 0.3 (GLM_MAX_WAIT)" in job["note"]
        assert "get_task picks it up" in job["note"]
        assert "it waits up to 0.3 s" in job["next_step"]  # the default wait, lowered to the cap
        later = structured_only(await client.call_tool("get_task", {"task_id": job["task_id"]}))
        assert "note" not in later  # the default wait needs no note


async def test_progress_keeps_coming_between_sparse_polls(
    fake: FakeGLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wait, "PROGRESS_EVERY", 0.05)
    fake.task_plan = TaskPlan(seconds=1.0)
    seen = Progress()
    async with in_process(fake, poll_interval=0.5, poll_max_interval=0.5) as client:
        result = await client.call_tool(
            "generate_video", {"prompt": "slow", "wait_seconds": 10}, progress_callback=seen
        )
    task_id = structured_only(result)["task_id"]
    polls = len(fake.requests_to(f"async-result/{task_id}"))
    assert polls == 2  # at 0.5 s and 1.0 s: polling stays as sparse as its schedule
    assert len(seen.updates) > 3 * polls
    values = [value for value, _, _ in seen.updates]
    assert values == sorted(set(values))
    assert all(value == round(value, 2) for value in values)
    assert all(total is None for _, total, _ in seen.updates[:-1])
    assert seen.messages[0] == f"video task {task_id}: processing, 0 s old"
    assert seen.messages[-1] == f"video task {task_id}: saved, 1 s old"


def test_notifications_are_at_most_five_seconds_apart_by_construction() -> None:
    assert wait.PROGRESS_EVERY <= 5
    assert glm_client_module.RETRY_NOTICE_EVERY <= 5


async def test_a_retry_backoff_is_told_as_progress(fake: FakeGLM) -> None:
    fake.script("images/generations", Fault(status=429, code="1302", retry_after="1"))
    seen = Progress()
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "x"}, progress_callback=seen)
    assert not result.is_error, text_of(result)
    assert seen.messages == ["rate limited, retrying in 1 s"]
    assert len(fake.requests_to("images/generations")) == 2
