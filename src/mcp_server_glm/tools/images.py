"""`generate_image`: create an image with CogView or GLM-Image, save it, and show it to the client.

The request is paid, so it is sent once; the image is downloaded into the output directory under a
generated name and returned as image content, a resource link and its path. A slow model with an async
route (glm-image) is submitted as a job instead when the wait would be long, recorded and resumable with
`get_task` like a video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ContentBlock, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import app_state, count_usage, glm_client, media_link, result, save_media, ticking
from ..errors import BadArguments
from ..glm import catalog
from ..glm.models import AsyncImageRequest, ImageRequest
from ..jobs.budget import WaitSeconds, wait_budget
from ..jobs.outcome import Outcome
from ..jobs.submit import New, submit_once
from ..jobs.wait import await_job
from ..settings import Settings
from ..store import TaskRecord
from .spec import WAIT_TEXT, ToolSpec

SPEC = ToolSpec(
    name="generate_image",
    title="Generate an image",
    annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    ),
    purpose="generate_image creates an image and saves it to a file (billed per image)",
    summary="Create an image (CogView-4, GLM-Image), shown in the client and saved to a file.",
    settings=("image_model", "timeout", "max_wait", "inline_previews", "output_dir", "max_images_per_day"),
    job=True,
    task_support=True,
    argument_texts={
        "model": "Default {image_model}; glm-image is the best (~20 s), cogview-4-250304 the fastest.",
        "wait_seconds": WAIT_TEXT,
    },
)
# The sync route holds one request open for the whole generation: it is used only while the read
# timeout and the longest wait a call may take are both at least this many times the model's usual
# generation time.
SYNC_HEADROOM = 2.0


class ImageResult(BaseModel):
    url: str | None = Field(default=None, description="The API's URL of the image (expires after 30 days).")
    path: str | None = Field(default=None, description="Where the image was saved.")
    model: str
    size: str | None = None
    task_id: str | None = Field(default=None, description="The async job, for get_task (glm-image).")
    status: Literal["PROCESSING", "SUCCESS"] = "SUCCESS"
    elapsed_seconds: float | None = None  # the job's age
    next_step: str | None = None  # what to do now
    note: str | None = None


async def generate_image(
    ctx: Context[Any, Any],
    prompt: Annotated[str, Field(min_length=1, max_length=4000, description="What the image shows.")],
    model: Annotated[str | None, Field(description="cogview-4-250304 (default, fast) or glm-image.")] = None,
    size: Annotated[
        str | None,
        Field(description="WIDTHxHEIGHT, e.g. 1024x1024 (default), 1344x768."),
    ] = None,
    quality: Annotated[Literal["hd", "standard"] | None, Field(description="glm-image: hd only.")] = None,
    wait_seconds: WaitSeconds = None,
    new: New = False,
) -> Annotated[CallToolResult, ImageResult]:
    """Create an image from a prompt, saved to a file and shown as a preview. Billed per image. Its path
    can go to generate_video(image=...) or glm_chat(images=...); glm-image may answer with a task id for
    get_task."""
    settings = app_state(ctx).settings
    chosen = model or settings.image_model
    listed = catalog.find(chosen)
    if listed is not None:
        _check(listed, settings.platform, quality)
    size = _checked_size(size, listed, chosen)
    if listed is not None and _as_job(listed, settings, wait_seconds):
        return await _generate_as_job(ctx, chosen, prompt, size, "hd" if quality else None, wait_seconds, new)
    client = glm_client(ctx)

    def waiting(seconds: float) -> str:
        return f"generating the image with {chosen}: {seconds:.0f} s"

    async with ticking(ctx, waiting):
        response = await client.generate_image(
            ImageRequest(model=chosen, prompt=prompt, size=size, quality=quality)
        )
        url = response.data[0].url
        saved = await save_media(ctx, url, kind="image", task_id=None)
    count_usage(ctx, "generate_image", chosen, 1, "images")
    shown = await _image_content(ctx, saved.path)
    text = f"Generated an image with {chosen}; saved to {saved.path} ({saved.size} bytes)."
    return result(
        text, ImageResult(url=url, path=str(saved.path), model=chosen, size=size), [*shown, media_link(saved)]
    )


def _check(model: catalog.Model, platform: str, quality: str | None) -> None:
    """Refuse, before anything is sent, what the reference says the model does not take."""
    if not model.on(platform):
        others = [m.name for m in catalog.MODELS if m.kind == "image" and m.on(platform) and not m.legacy]
        raise BadArguments(
            f"{model.name} is not offered on the {platform} platform; use {' or '.join(others)}."
        )
    if quality is not None and model.qualities and quality not in model.qualities:
        raise BadArguments(f"{model.name} takes quality {' or '.join(model.qualities)} only, not {quality}.")


def _checked_size(size: str | None, model: catalog.Model | None, name: str) -> str | None:
    """The size as WIDTHxHEIGHT, or a refusal naming the form and the model's documented sizes."""
    if size is None:
        return None
    documented = f"; documented sizes: {', '.join(model.sizes)}" if model is not None and model.sizes else ""
    match = catalog.SIZE_FORM.fullmatch(size)
    if match is None:
        raise BadArguments(f"size {size!r} is not WIDTHxHEIGHT in pixels, e.g. 1024x1024{documented}.")
    width, height = int(match[1]), int(match[2])
    rule = model.size_rule if model is not None else None
    documented_size = model is not None and f"{width}x{height}" in model.sizes  # may lie outside the rule
    if rule is not None and not documented_size and not rule.allows(width, height):
        raise BadArguments(f"{name} takes sizes with {rule}, not {size}{documented}.")
    return f"{width}x{height}"


def _as_job(model: catalog.Model, settings: Settings, wait_seconds: float | None) -> bool:
    """Whether to use the async route: the model has one, and a wait was asked for (`wait_seconds`) or
    the sync request could outlast the read timeout or the longest wait a call may take (GLM_MAX_WAIT,
    what hosts allow a call)."""
    if not model.async_route:
        return False
    needed = SYNC_HEADROOM * (model.seconds or 0)
    return wait_seconds is not None or min(settings.timeout, settings.max_wait) < needed


async def _generate_as_job(
    ctx: Context[Any, Any],
    model: str,
    prompt: str,
    size: str | None,
    quality: Literal["hd"] | None,
    wait_seconds: float | None,
    new: bool,
) -> CallToolResult:
    client = glm_client(ctx)
    request = AsyncImageRequest(model=model, prompt=prompt, size=size, quality=quality)
    given = {"prompt": prompt, "size": size, "quality": quality}
    submitted = await submit_once(
        ctx,
        lambda: client.submit_image(request),
        kind="image",
        model=model,
        summary={key: value for key, value in given.items() if value},
        usage=("generate_image", 1, "images"),
        new=new,
    )
    budget, lowered = wait_budget(ctx, wait_seconds)
    outcome = (await await_job(ctx, submitted, budget)).noted(lowered)
    return await _job_result(ctx, outcome, model, size)


async def task_result(ctx: Context[Any, Any], outcome: Outcome, record: TaskRecord) -> CallToolResult:
    """The result of an image job followed as an MCP task: what the call would have answered."""
    size = record.request.get("size")
    return await _job_result(ctx, outcome, record.model, size if isinstance(size, str) else None)


async def _job_result(
    ctx: Context[Any, Any], outcome: Outcome, model: str, size: str | None
) -> CallToolResult:
    job = outcome.job
    told = ImageResult(model=model, size=size, task_id=job.task_id, note=job.note, next_step=job.next_step)
    told.elapsed_seconds = job.elapsed_seconds
    if job.status != "SUCCESS" or job.path is None:
        told.status = "PROCESSING"
        return result(outcome.text, told, outcome.links)
    blocks: list[ContentBlock] = await _image_content(ctx, Path(job.path))
    told.url, told.path = job.image_url, job.path
    return result(outcome.text, told, [*blocks, *outcome.links])


async def _image_content(ctx: Context[Any, Any], path: Path) -> list[ContentBlock]:
    """The saved image shown inline as a preview that fits any host's result (none if previews are off)."""
    from ..previews import preview_blocks

    state = app_state(ctx)
    return await preview_blocks(state.settings, path, state.files.open_saved)
