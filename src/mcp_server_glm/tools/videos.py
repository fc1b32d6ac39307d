"""`generate_video`: submit a CogVideoX (or Vidu) job once, record it, then wait within a budget for it.

The whole story: arguments checked against the model's documented limits -> submit (never re-sent once
it may have reached the API) -> record the task -> poll with progress -> download and report, or hand
back the task id for `get_task` later.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ..calls import app_state, glm_client
from ..errors import BadArguments
from ..glm import catalog
from ..glm.models import VideoRequest
from ..jobs.budget import WaitSeconds, wait_budget
from ..jobs.outcome import JobResult
from ..jobs.submit import New, submit_once
from ..jobs.wait import await_job
from .confirm import Confirm, confirm_video, require_yes
from .references import video_image_for_api
from .spec import PLATFORM_NAMES, WAIT_TEXT, ToolSpec

SPEC = ToolSpec(
    name="generate_video",
    title="Generate a video",
    annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    ),
    purpose="generate_video creates a short video, a paid job that takes minutes",
    summary="Create a short video (CogVideoX-3) from text or images; it takes minutes, so the call waits "
    "within a budget with progress, and otherwise hands back a task id.",
    settings=("video_model", "video_wait", "max_wait", "confirm_videos", "output_dir", "max_videos_per_day"),
    job=True,
    task_support=True,
    argument_texts={"model": "Default {video_model}; Vidu on BigModel.", "wait_seconds": WAIT_TEXT},
)
# Models whose image_url is an array in the references even for one image; the others take one image as
# a string (and two frames as an array).
ARRAY_IMAGE_MODELS = frozenset({"cogvideox-3", "viduq1-start-end", "vidu2-start-end", "vidu2-reference"})


async def generate_video(
    ctx: Context[Any, Any],
    prompt: Annotated[
        str | None, Field(description="What happens in the video (cogvideox, Vidu: at most 512 characters).")
    ] = None,
    image: Annotated[
        str | list[str] | None,
        Field(
            description="Start image (path or URL; PNG or JPEG), [first, last] frames, or vidu2-reference's "
            "1-3."
        ),
    ] = None,
    model: Annotated[str | None, Field(description="Default cogvideox-3; Vidu on BigModel.")] = None,
    quality: Literal["speed", "quality"] | None = None,
    with_audio: bool | None = None,
    size: Annotated[
        str | None,
        Field(
            description="cogvideox-3: 1280x720, 720x1280, 1024x1024, 1920x1080, 1080x1920, 2048x1080, "
            "3840x2160."
        ),
    ] = None,
    fps: Literal[30, 60] | None = None,
    duration: Literal[4, 5, 10] | None = None,
    style: Literal["general", "anime"] | None = None,
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None,
    movement_amplitude: Literal["auto", "small", "medium", "large"] | None = None,
    wait_seconds: WaitSeconds = None,
    new: New = False,
    confirmed: Annotated[ElicitationResult[Confirm], Resolve(confirm_video)] = None,  # type: ignore[assignment]
) -> Annotated[CallToolResult, JobResult]:
    """Create a 5-10 s video from a prompt and/or a start image (or first and last frames), saved to a file.
    Billed per video and takes minutes: submit once; while it is processing follow it with get_task, never
    by submitting again."""
    require_yes(confirmed)
    settings = app_state(ctx).settings
    images = [image] if isinstance(image, str) else list(image or [])
    if not prompt and not images:
        raise BadArguments("Give a prompt, an image, or both.")
    chosen = model or settings.video_model
    listed = catalog.find(chosen)
    if (listed is None or not listed.image_counts) and len(images) > 3:  # a listed model's count: _check
        raise BadArguments(
            "image takes one start image or a [first, last] pair of frames (vidu2-reference: 1-3 images)."
        )
    given = {
        "quality": quality,
        "with_audio": with_audio,
        "size": size,
        "fps": fps,
        "duration": duration,
        "style": style,
        "aspect_ratio": aspect_ratio,
        "movement_amplitude": movement_amplitude,
    }
    if listed is not None:
        _check(listed, settings.platform, prompt, images, given)
    formats = listed.image_formats if listed is not None else None
    image_urls = [await video_image_for_api(ctx, ref, chosen, formats) for ref in images]
    as_array = chosen.lower() in ARRAY_IMAGE_MODELS or len(image_urls) > 1
    request = VideoRequest(
        model=chosen,
        prompt=prompt,
        image_url=(image_urls if as_array else image_urls[0]) if image_urls else None,
        quality=quality,
        with_audio=with_audio,
        size=size,
        fps=fps,
        duration=duration,
        style=style,
        aspect_ratio=aspect_ratio,
        movement_amplitude=movement_amplitude,
    )
    client = glm_client(ctx)
    submitted = await submit_once(
        ctx,
        lambda: client.submit_video(request),
        kind="video",
        model=chosen,
        summary=_summary(
            prompt, [_identity(ref, sent) for ref, sent in zip(images, image_urls, strict=True)], given
        ),
        usage=("generate_video", 1, "videos"),
        new=new,
    )
    budget, lowered = wait_budget(ctx, wait_seconds)
    return (await await_job(ctx, submitted, budget)).noted(lowered).as_result()


def _check(
    model: catalog.Model, platform: str, prompt: str | None, images: list[str], given: dict[str, Any]
) -> None:
    """Refuse, before anything is sent, what the reference says the model does not take."""
    name = model.name
    if not model.on(platform):
        others = [m.name for m in catalog.MODELS if m.kind == "video" and m.on(platform) and not m.legacy]
        where = " or ".join(PLATFORM_NAMES[place] for place in model.platforms) or "no platform"
        raise BadArguments(
            f"{name} is offered on {where} only, not on {PLATFORM_NAMES[platform]} "
            f"(GLM_PLATFORM={platform}); use {' or '.join(others)} here."
        )
    if prompt and model.max_prompt is not None and len(prompt) > model.max_prompt:
        raise BadArguments(
            f"The prompt has {len(prompt)} characters; {name} takes at most {model.max_prompt}: shorten it."
        )
    if model.fields is not None:
        unknown = [key for key, value in given.items() if value is not None and key not in model.fields]
        if unknown:
            raise BadArguments(
                f"{name} does not take {', '.join(unknown)}: leave it out{_takers(unknown[0], platform)}."
            )
    if model.image_counts and len(images) not in model.image_counts:
        counts = " or ".join(str(count) for count in model.image_counts)
        raise BadArguments(f"{name} takes {counts} image(s), not {len(images)}.")
    checks: tuple[tuple[str, tuple[Any, ...]], ...] = (
        ("quality", model.qualities),
        ("size", model.sizes),
        ("fps", model.frame_rates),
        ("duration", model.durations),
    )
    size = given["size"]
    if size is not None and not catalog.SIZE_FORM.fullmatch(size):
        documented = f"; {name} takes {', '.join(model.sizes)}" if model.sizes else ""
        raise BadArguments(f"size {size!r} is not WIDTHxHEIGHT in pixels, e.g. 1920x1080{documented}.")
    for key, allowed in checks:
        value = given[key]
        if value is not None and allowed and value not in allowed:
            shown = ", ".join(str(option) for option in allowed)
            raise BadArguments(f"{name} takes {key} {shown}, not {value}.")
    if len(images) == 2 and name.startswith("cogvideox") and given["quality"] not in (None, "speed"):
        raise BadArguments(f'{name} takes first and last frames only with quality "speed" (the default).')


def _takers(field: str, platform: str) -> str:
    """Which video models take `field`: those of this platform, else those of the others, named so."""
    takers = [m for m in catalog.MODELS if m.kind == "video" and m.fields is not None and field in m.fields]
    here = [m.name for m in takers if m.on(platform)]
    if here:
        return f" ({field} is for {', '.join(here)})"
    if not takers:
        return ""
    where = " or ".join(sorted({PLATFORM_NAMES[place] for m in takers for place in m.platforms}))
    return f" ({field} is for {', '.join(m.name for m in takers)}, on {where})"


def _summary(prompt: str | None, images: list[str], given: dict[str, Any]) -> dict[str, Any]:
    """What the store keeps of the request: enough to recognise it (the duplicate rule compares it),
    never an inlined image."""
    kept = {"prompt": prompt, "images": images} | given
    return {key: value for key, value in kept.items() if value is not None and value != []}


def _identity(ref: str, sent: str) -> str:
    """An image as the summary names it: a URL as given; a file or data URL (inlined) by what it was
    given as and a digest of the data sent, so that the same picture is recognised and a changed one
    is not."""
    if sent == ref:
        return ref
    digest = hashlib.sha256(sent.encode()).hexdigest()[:16]
    return f"{'data URL' if ref.startswith('data:') else ref} (sha256 {digest})"
