"""`count_tokens`: the prompt tokens a chat request would use (text, images, videos), counted by the
platform's tokenizer for the models the catalogue marks as counted there.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import app_state, count_usage, glm_client, result
from ..errors import BadArguments
from ..glm import catalog
from ..glm.platform_models import TokenizerRequest
from .spec import ToolSpec

SPEC = ToolSpec(
    name="count_tokens",
    title="Count tokens",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    purpose="count_tokens counts a prompt's tokens",
    summary="Count the tokens a prompt (text, image and video URLs) would use, with GLM's tokenizer.",
    default=False,
)

TEXT_MODEL = "glm-4.6"
VISION_MODEL = "glm-4.6v"


class Counted(BaseModel):
    model: str
    prompt_tokens: int  # text
    image_tokens: int
    video_tokens: int
    total_tokens: int


async def count_tokens(
    ctx: Context[Any, Any],
    prompt: Annotated[str, Field(min_length=1, description="The user message.")],
    system: Annotated[str | None, Field(description="A system message before it.")] = None,
    images: Annotated[list[str] | None, Field(description="Image URLs (http/https).")] = None,
    videos: Annotated[list[str] | None, Field(description="Video URLs (http/https).")] = None,
    model: Annotated[
        str | None, Field(description="glm-4.6, glm-4.6v (default with images or videos), glm-4.5 (Z.AI).")
    ] = None,
) -> Annotated[CallToolResult, Counted]:
    """Count the tokens a chat prompt would use, with GLM's tokenizer: text, image and video tokens
    and their total. Free of charge; nothing is generated."""
    platform = app_state(ctx).settings.platform
    chosen = model or (VISION_MODEL if images or videos else TEXT_MODEL)
    check(platform, chosen, images or [], videos or [])
    parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in images or ()]
    parts += [{"type": "video_url", "video_url": {"url": url}} for url in videos or ()]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": parts if len(parts) > 1 else prompt})
    count = await glm_client(ctx).count_tokens(TokenizerRequest(model=chosen, messages=messages))
    count_usage(ctx, "count_tokens", chosen, 1, "counts")
    done = Counted(
        model=chosen,
        prompt_tokens=count.prompt_tokens,
        image_tokens=count.image_tokens,
        video_tokens=count.video_tokens,
        total_tokens=count.total_tokens,
    )
    text = (
        f"{done.total_tokens} tokens for {done.model}: {done.prompt_tokens} text, {done.image_tokens} "
        f"image, {done.video_tokens} video."
    )
    return result(text, done)


def check(platform: str, model: str, images: list[str], videos: list[str]) -> None:
    """Refuse, in one line naming the limit, what the tokenizer would refuse."""
    entry = catalog.find(model)
    counted = [m.name for m in catalog.MODELS if m.tokenizer and m.on(platform)]
    if entry is None or not entry.tokenizer or not entry.on(platform):
        raise BadArguments(f"The tokenizer does not count {model!r} here: use {', '.join(counted)}.")
    if (images or videos) and entry.kind != "vision":
        raise BadArguments(f"{entry.name} cannot see images or videos: count them with {VISION_MODEL}.")
    if entry.max_images is not None and len(images) > entry.max_images:
        raise BadArguments(
            f"{len(images)} images; {entry.name} takes at most {entry.max_images} per request."
        )
    if len(videos) > entry.max_videos:
        raise BadArguments(
            f"{len(videos)} videos; {entry.name} takes at most {entry.max_videos} per request."
        )
    given = next((url for url in (*images, *videos) if not url.startswith(("https://", "http://"))), None)
    if given is not None:
        raise BadArguments(
            f"{given[:80]!r} is not an http(s) URL: the tokenizer takes images and videos by URL."
        )
