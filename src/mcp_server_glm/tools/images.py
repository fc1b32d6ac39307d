"""`generate_image`: create an image with CogView or GLM-Image, save it, and show it to the client.

The request is paid, so it is sent once; the image is downloaded into the output directory under a
generated name and returned as image content, a resource link and its path.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ImageContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..glm.models import ImageRequest
from .common import app_state, count_usage, glm_client, media_link, result, save_media, upstream_errors

TITLE = "Generate an image"
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
SIZE_PATTERN = r"^\d{3,4}x\d{3,4}$"


class ImageResult(BaseModel):
    url: str = Field(description="The API's URL of the image (expires after 30 days).")
    path: str = Field(description="Where the image was saved.")
    model: str
    size: str | None = None


async def generate_image(
    ctx: Context[Any, Any],
    prompt: Annotated[str, Field(min_length=1, max_length=4000, description="What the image shows.")],
    model: Annotated[str | None, Field(description="cogview-4-250304 (default, fast) or glm-image.")] = None,
    size: Annotated[
        str | None,
        Field(pattern=SIZE_PATTERN, description="WIDTHxHEIGHT, e.g. 1024x1024 (default), 1344x768."),
    ] = None,
    quality: Literal["hd", "standard"] | None = None,
) -> Annotated[CallToolResult, ImageResult]:
    """Generate an image from a text prompt; the image is shown and saved to a file."""
    chosen = model or app_state(ctx).settings.image_model
    client = glm_client(ctx)
    with upstream_errors():
        response = await client.generate_image(
            ImageRequest(model=chosen, prompt=prompt, size=size, quality=quality)
        )
    url = response.data[0].url
    saved = await save_media(ctx, url, kind="image", task_id=None)
    count_usage(ctx, "generate_image", chosen, 1, "images")
    data = await anyio.Path(saved.path).read_bytes()
    image = ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=saved.mime_type)
    text = f"Generated an image with {chosen}; saved to {saved.path} ({saved.size} bytes)."
    return result(
        text, ImageResult(url=url, path=str(saved.path), model=chosen, size=size), [image, media_link(saved)]
    )
