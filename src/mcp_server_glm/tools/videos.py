"""`generate_video`: submit a CogVideoX job once, record it, then wait within a budget for the result.

The whole story: arguments -> submit (never re-sent once it may have reached the API) -> record the
task -> poll with progress -> download and report, or hand back the task id for `get_task` later.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ..glm.client import GLMClient
from ..glm.models import TaskResult, VideoRequest
from ..store import Store, TaskRecord
from .common import app_state, count_usage, glm_client, image_for_api, store, upstream_errors
from .tasks import JobResult, WaitSeconds, finish, wait_and_finish

log = logging.getLogger(__name__)

TITLE = "Generate a video"
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


async def generate_video(
    ctx: Context[Any, Any],
    prompt: Annotated[str | None, Field(max_length=1500, description="What happens in the video.")] = None,
    image: Annotated[
        str | list[str] | None,
        Field(description="Start image (path or URL), or [first, last] frames; for image-to-video."),
    ] = None,
    model: Annotated[str | None, Field(description="Default cogvideox-3.")] = None,
    quality: Literal["speed", "quality"] | None = None,
    with_audio: bool | None = None,
    size: Annotated[str | None, Field(description="e.g. 1920x1080, 1280x720, 1080x1920, 3840x2160.")] = None,
    fps: Literal[30, 60] | None = None,
    duration: Literal[5, 10] | None = None,
    wait_seconds: WaitSeconds = None,
) -> Annotated[CallToolResult, JobResult]:
    """Make a short video from text and/or images; it takes minutes, so may return a task id for get_task."""
    settings = app_state(ctx).settings
    images = [image] if isinstance(image, str) else list(image or [])
    if not prompt and not images:
        raise ToolError("Give a prompt, an image, or both.")
    if len(images) > 2:
        raise ToolError("image takes one start image or a [first, last] pair of frames.")
    chosen = model or settings.video_model
    image_urls = [await image_for_api(ctx, ref) for ref in images]
    request = VideoRequest(
        model=chosen,
        prompt=prompt,
        image_url=(image_urls[0] if len(image_urls) == 1 else image_urls) or None,
        quality=quality,
        with_audio=with_audio,
        size=size,
        fps=fps,
        duration=duration,
    )
    client = glm_client(ctx)
    records = await store(ctx)
    # Once sent, a paid job must end up recorded even if the client cancels meanwhile: the submission
    # and the record are shielded, and a cancellation takes effect right after them.
    with anyio.CancelScope(shield=True):
        record = await _submit_and_record(
            client, records, request, _summary(prompt, images, quality, size, fps, duration)
        )
    count_usage(ctx, "generate_video", chosen, 1, "videos")
    log.info("Video task %s submitted (%s)", record.id, chosen)

    budget = settings.video_wait if wait_seconds is None else wait_seconds
    if budget == 0:
        return await finish(
            ctx, record.id, record, TaskResult(id=record.id, model=chosen, task_status="PROCESSING")
        )
    try:
        return await wait_and_finish(ctx, record.id, record, budget)
    except anyio.get_cancelled_exc_class():
        log.info("Waiting for video task %s was cancelled; it stays recorded for get_task", record.id)
        raise


async def _submit_and_record(
    client: GLMClient, records: Store, request: VideoRequest, summary: dict[str, Any]
) -> TaskRecord:
    with upstream_errors():
        task = await client.submit_video(request)
        assert task.id is not None  # the adapter refuses a task without an id
        record = TaskRecord(
            id=task.id, kind="video", model=request.model, request=summary, status="PROCESSING"
        )
        await records.record_task(record)
    return record


def _summary(
    prompt: str | None,
    images: list[str],
    quality: str | None,
    size: str | None,
    fps: int | None,
    duration: int | None,
) -> dict[str, Any]:
    """What the store keeps of the request: enough to recognise it, never an inlined image."""
    shown = [f"data URL of {len(ref)} characters" if ref.startswith("data:") else ref for ref in images]
    given = {
        "prompt": prompt,
        "images": shown,
        "quality": quality,
        "size": size,
        "fps": fps,
        "duration": duration,
    }
    return {key: value for key, value in given.items() if value}
