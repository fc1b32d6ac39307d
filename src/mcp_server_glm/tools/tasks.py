"""`get_task`, and how any async job ends: wait within a budget, then download, record and report it.

Jobs are recorded in the store when submitted, so one started before a restart (or by another server
process sharing the data directory) is picked up by its id; an id the store does not know is still
asked of the API.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ToolAnnotations
from pydantic import BaseModel, Field

from ..glm.errors import GLMError, InvalidRequest
from ..glm.jobs import PollSchedule, wait_for
from ..glm.models import TaskResult
from ..store import TaskRecord
from .common import app_state, glm_client, link, media_link, result, save_media, store, upstream_errors

log = logging.getLogger(__name__)
_saving: dict[str, tuple[anyio.Lock, int]] = {}  # task id: (its lock, calls holding or awaiting it)

TITLE = "Get an async job"
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)


class JobResult(BaseModel):
    task_id: str
    status: Literal["PROCESSING", "SUCCESS", "FAIL"]
    model: str | None = None
    video_url: str | None = None
    cover_image_url: str | None = None
    image_url: str | None = None
    path: str | None = Field(default=None, description="The saved video or image.")
    cover_path: str | None = None


WaitSeconds = Annotated[
    float | None, Field(ge=0, le=3600, description="Seconds to wait for the result (0: report at once).")
]


async def get_task(
    ctx: Context[Any, Any],
    task_id: Annotated[str, Field(pattern=r"^[\w.:-]{1,128}$", description="The id a generation call gave.")],
    wait_seconds: WaitSeconds = None,
) -> Annotated[CallToolResult, JobResult]:
    """Check on a video or image generation job, waiting a while for it; downloads the result when done."""
    records = await store(ctx)
    with upstream_errors():
        record = await records.get_task(task_id)
    if record is not None and record.status != "PROCESSING":
        return _report_recorded(record)
    budget = app_state(ctx).settings.video_wait if wait_seconds is None else wait_seconds
    return await wait_and_finish(ctx, task_id, record, budget)


async def wait_and_finish(
    ctx: Context[Any, Any], task_id: str, record: TaskRecord | None, budget: float
) -> CallToolResult:
    """Poll the job within `budget` seconds, reporting progress, then report it (completing it on success)."""
    settings = app_state(ctx).settings
    schedule = PollSchedule(floor=settings.poll_interval, cap=settings.poll_max_interval)
    kind = record.kind if record else "generation"
    # A recorded job is polled by its age; one recorded just now (created_at not yet read back) is new.
    age = max(0.0, time.time() - record.created_at) if record and record.created_at else 0.0

    async def on_poll(state: TaskResult, polls: int, waited: float) -> None:
        message = f"{kind} task {task_id}: {state.task_status} after {waited:.0f} s (poll {polls})"
        await ctx.report_progress(min(waited, budget), total=budget or None, message=message)

    client = glm_client(ctx)
    try:
        state = await wait_for(client, task_id, budget=budget, schedule=schedule, age=age, on_poll=on_poll)
    except InvalidRequest as exc:
        if record is None:
            raise ToolError(
                f"No task {task_id}: this server never submitted it and the GLM API does not know it ({exc})"
            ) from exc
        raise ToolError(f"Task {task_id} could not be checked: {exc}") from exc
    except GLMError as exc:
        hint = f" The task is still recorded: call get_task with task_id {task_id} later." if record else ""
        raise ToolError(f"Task {task_id} could not be checked: {str(exc).rstrip('.')}.{hint}") from exc
    return await finish(ctx, task_id, record, state)


async def finish(
    ctx: Context[Any, Any], task_id: str, record: TaskRecord | None, state: TaskResult
) -> CallToolResult:
    records = await store(ctx)
    model = state.model or (record.model if record else None)
    if record is None:
        kind = "image" if state.image_result else "video"
        # Recorded as processing: SUCCESS is written only once the media is saved, below.
        record = TaskRecord(id=task_id, kind=kind, model=model or "", request={}, status="PROCESSING")
        with upstream_errors():
            await records.record_task(record)
    if state.task_status == "FAIL":
        reason = _failure(state)
        with upstream_errors():
            await records.update_task(task_id, status="FAIL", error=reason)
        raise ToolError(f"The {record.kind} task {task_id} failed: {reason}")
    if state.task_status == "PROCESSING":
        text = (
            f"The {record.kind} task {task_id} is still processing. Call get_task with task_id {task_id} "
            "in a minute or so to get the result (nothing is lost meanwhile)."
        )
        return result(text, JobResult(task_id=task_id, status="PROCESSING", model=model))
    async with _one_at_a_time(task_id):
        # A call that waited here finds the job saved by the one before it.
        with upstream_errors():
            saved = await records.get_task(task_id)
        if saved is not None and saved.status == "SUCCESS":
            return _report_recorded(saved)
        try:
            job, links = await _complete(ctx, task_id, record.kind, model, state)
        except ToolError as exc:
            retry = f"The job itself succeeded: call get_task with task_id {task_id} to try saving it again."
            raise ToolError(f"{str(exc).rstrip('.')}. {retry}") from exc
        with upstream_errors():
            await records.update_task(task_id, status="SUCCESS", result=job.model_dump(exclude_none=True))
    return result(_success_text(record.kind, job), job, links)


@asynccontextmanager
async def _one_at_a_time(task_id: str) -> AsyncIterator[None]:
    """Held while a finished job's media is saved, so that two calls for one job (get_task beside a
    generate_video still waiting, say) download it once. Within this process: two server processes
    sharing a data directory may still both save a job that they see finish at the same moment."""
    lock, users = _saving.get(task_id, (anyio.Lock(), 0))
    _saving[task_id] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _saving.pop(task_id)
        if users > 1:
            _saving[task_id] = (lock, users - 1)


async def _complete(
    ctx: Context[Any, Any], task_id: str, kind: str, model: str | None, state: TaskResult
) -> tuple[JobResult, list[ContentBlock]]:
    media = state.video_result or state.image_result
    if not media or not media[0].url:
        raise ToolError(f"The {kind} task {task_id} succeeded but the API gave no media URL.")
    first = media[0]
    if state.video_result:
        video = await save_media(ctx, first.url, kind="video", task_id=task_id)
        job = JobResult(
            task_id=task_id, status="SUCCESS", model=model, video_url=first.url, path=str(video.path)
        )
        links: list[ContentBlock] = [media_link(video)]
        if first.cover_image_url:
            cover = await save_media(ctx, first.cover_image_url, kind="image", task_id=task_id, label="cover")
            job.cover_image_url, job.cover_path = first.cover_image_url, str(cover.path)
            links.append(media_link(cover))
        return job, links
    image = await save_media(ctx, first.url, kind="image", task_id=task_id)
    job = JobResult(task_id=task_id, status="SUCCESS", model=model, image_url=first.url, path=str(image.path))
    return job, [media_link(image)]


def _report_recorded(record: TaskRecord) -> CallToolResult:
    """A job the store already knows to be finished: no API call, no second download."""
    if record.status == "FAIL":
        raise ToolError(f"The {record.kind} task {record.id} failed: {record.error or 'no reason given'}")
    job = JobResult.model_validate(
        {"task_id": record.id, "status": "SUCCESS", "model": record.model} | (record.result or {})
    )
    paths = [Path(path) for path in (job.path, job.cover_path) if path]
    if not all(path.exists() for path in paths):
        text = f"The {record.kind} task {record.id} finished, but its files are gone; the URL may still work."
        return result(text, job)
    links = [link(path.name, mimetypes.guess_type(path.name)[0], path.stat().st_size) for path in paths]
    return result(_success_text(record.kind, job), job, links)


def _failure(state: TaskResult) -> str:
    if state.error is None:
        return "the API gave no reason"
    code = f" (code {state.error.code})" if state.error.code else ""
    return f"{state.error.message or 'no message'}{code}"


def _success_text(kind: str, job: JobResult) -> str:
    lines = [
        f"The {kind} is ready (task {job.task_id}, {job.model or 'model unknown'}): saved to {job.path}."
    ]
    if job.cover_path:
        lines.append(f"Cover image: {job.cover_path}.")
    lines.append(f"URL: {job.video_url or job.image_url} (the API keeps it for a limited time).")
    return " ".join(lines)
