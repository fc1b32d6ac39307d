"""End to end over stdio with the installed server: what a text-only host and a structured-only host
each give the model for every job state (processing, done, failed, submitted but not recorded),
get_task without an id, the duplicate rule and `new`, the wait cap, and progress that keeps coming
between sparse polls and during a retry backoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import CallToolResult

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.support.stores import write_lock

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def structured_only(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    content: dict[str, Any] = result.structured_content
    return content


async def test_job_states_listing_duplicates_and_the_cap_over_stdio(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(seconds=60)
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    env = server_env(fake, GLM_MAX_WAIT="0.5")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        assert structured_only(await client.call_tool("get_task", {}))["jobs"] == []
        # Processing, the wait cut to the cap: both views say what to do now, and why the wait was cut.
        handle = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 30})
        job = structured_only(handle)
        task_id = job["task_id"]
        assert job["status"] == "PROCESSING"
        assert job["next_step"].startswith(f"Call get_task with task_id {task_id} now; it waits up to 0.5 s")
        assert "wait_seconds 30 was lowered to 0.5 (GLM_MAX_WAIT)" in job["note"]
        assert isinstance(job["elapsed_seconds"], float)
        for said in (job["next_step"], job["note"], "still processing"):
            assert said in text_of(handle)
        # The host cut the call, the model calls again: the same job, nothing paid twice.
        again = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        assert structured_only(again)["task_id"] == task_id
        assert len(fake.requests_to("videos/generations")) == 1
        assert "same video job" in structured_only(again)["note"]
        assert "same video job" in text_of(again)
        other = structured_only(
            await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0, "new": True})
        )
        assert other["task_id"] != task_id
        # A lost id is found again, newest first.
        listed = await client.call_tool("get_task", {})
        assert [row["task_id"] for row in structured_only(listed)["jobs"]] == [other["task_id"], task_id]
        assert text_of(listed).index(other["task_id"]) < text_of(listed).index(task_id)
        # Failed: one line that says what happened and what to do.
        fake.task_plan = TaskPlan(polls=0, outcome="FAIL", fail_message="Refused by review.")
        failed = await client.call_tool("generate_video", {"prompt": "bad"})
        assert failed.is_error and failed.structured_content is None
        assert "failed: Refused by review. (code 1301). Nothing to collect" in text_of(failed)
        # Done: the file, and where it can go next.
        fake.task_plan = TaskPlan(polls=0)
        image = await client.call_tool(
            "generate_image", {"prompt": "a fox", "model": "glm-image", "wait_seconds": 0.4}
        )
        shown = structured_only(image)
        assert shown["status"] == "SUCCESS"
        assert shown["path"] in shown["next_step"] and "generate_video(image=...)" in shown["next_step"]
        assert shown["next_step"] in text_of(image)
        # A retry backoff is told as progress.
        fake.script("images/generations", Fault(status=429, code="1302", retry_after="1"))
        sync = await client.call_tool("generate_image", {"prompt": "x"}, progress_callback=on_progress)
        assert not sync.is_error, text_of(sync)
    assert messages == ["rate limited, retrying in 1 s"]
    assert len(fake.requests_to("videos/generations")) == 3


async def test_progress_comes_between_polls_far_apart_over_stdio(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(seconds=6)
    messages: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append((progress, total, message))

    # Polls 5 s apart (at 5 and 10 s); progress every 4 s between them.
    env = server_env(fake, GLM_POLL_INTERVAL="5", GLM_POLL_MAX_INTERVAL="30")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        result = await client.call_tool(
            "generate_video", {"prompt": "slow", "wait_seconds": 30}, progress_callback=on_progress
        )
    task_id = structured_only(result)["task_id"]
    polls = len(fake.requests_to(f"async-result/{task_id}"))
    assert polls == 2
    assert len(messages) >= 2 * polls + 1  # a notice before each poll, one per poll, the end
    assert messages[0][2] == f"video task {task_id}: processing, 4 s old"
    values = [value for value, _, _ in messages]
    assert values == sorted(set(values))
    assert [total for _, total, _ in messages[:-1]] == [None] * (len(messages) - 1)
    assert messages[-1][1] == messages[-1][0]
    assert (messages[-1][2] or "").startswith(f"video task {task_id}: saved, 1")


async def test_a_job_the_store_could_not_record_is_told_in_both_views_over_stdio(
    fake: FakeGLM, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    fake.script("videos/generations", Fault(delay=1.0))
    async with over_stdio(server_env(fake, GLM_DATA_DIR=str(data)), tmp_path / "stderr.log") as client:
        called: list[CallToolResult] = []
        async with anyio.create_task_group() as group:

            async def call() -> None:
                called.append(
                    await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
                )

            group.start_soon(call)
            with anyio.fail_after(30):
                while not fake.requests_to("videos/generations"):  # noqa: ASYNC110 - the fake's own thread
                    await anyio.sleep(0.02)
            with write_lock(data):  # held past every retry of the server
                with anyio.fail_after(60):
                    while not called:  # noqa: ASYNC110 - the call is in this task group
                        await anyio.sleep(0.1)
        [result] = called
        [task_id] = fake.tasks
        job = structured_only(result)
        assert job["task_id"] == task_id
        assert job["status"] == "PROCESSING"
        assert f"keep the task id: get_task with task_id {task_id}" in job["note"]
        assert job["next_step"].startswith(f"Call get_task with task_id {task_id} now")
        assert job["note"] in text_of(result) and job["next_step"] in text_of(result)
        done = structured_only(await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10}))
        assert done["status"] == "SUCCESS"
    assert len(fake.requests_to("videos/generations")) == 1
