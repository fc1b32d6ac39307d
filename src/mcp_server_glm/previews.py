"""Previews of saved images small enough for any host's tool result: downscaled and re-encoded until
they fit, never the whole file when it is large. Pillow is imported only when a preview is made.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio
from mcp.types import ContentBlock, ImageContent, TextContent

from .errors import PreviewRefused, Refusal

if TYPE_CHECKING:
    from PIL.Image import Image

    from .settings import Settings

log = logging.getLogger(__name__)

# Claude Desktop refuses a tool result over 1 MiB (1,048,576 bytes): a preview's base64 stays under
# 700,000 characters, which leaves room for the text, the structured content and the links.
MAX_PREVIEW_BYTES = 512 * 1024  # 699,052 characters of base64
MAX_SIDE = 1024  # a preview fits in this square; hosts show, and models see, images at about this size
MIN_SIDE = 64  # never shrunk below this (a JPEG of 64x64 is a few KB whatever it shows)
MAX_PIXELS = 50_000_000  # a larger canvas is refused from its header, before any pixel is decoded
QUALITIES = (85, 70, 55, 40)  # JPEG qualities tried in turn at each size
AS_IS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}  # sent unchanged when small


@dataclass(frozen=True, slots=True)
class Preview:
    data: bytes
    mime_type: str
    width: int
    height: int
    original: tuple[int, int]  # the saved image's width and height
    whole: bool = False  # the file itself, sent unchanged


async def preview_blocks(
    settings: Settings, path: Path, open_file: Callable[[Path], BinaryIO] | None = None
) -> list[ContentBlock]:
    """The content blocks that show the saved image at `path` inline: its preview, with a line saying
    it is one when it is smaller than the file; nothing when previews are off (GLM_INLINE_PREVIEWS);
    a line saying why when no preview can be made (the file is saved all the same). The server reads
    the file through `open_file` (`Files.open_saved`, confined to the output directory)."""
    if not settings.inline_previews:
        return []
    try:
        preview = await anyio.to_thread.run_sync(make_preview, path, open_file)
    except PreviewRefused as exc:
        log.warning("No preview of %s: %s", path, exc)
        return [TextContent(type="text", text=f"No preview: {exc}. The full image is saved at {path}.")]
    data = base64.b64encode(preview.data).decode("ascii")
    blocks: list[ContentBlock] = [ImageContent(type="image", data=data, mime_type=preview.mime_type)]
    if not preview.whole:
        width, height = preview.original
        blocks.append(
            TextContent(
                type="text",
                text=f"Above: a {preview.width}x{preview.height} JPEG preview; the full {width}x{height} "
                f"image is {path}.",
            )
        )
    return blocks


def make_preview(path: Path, open_file: Callable[[Path], BinaryIO] | None = None) -> Preview:
    """A preview of the image file at `path` of at most MAX_PREVIEW_BYTES: the file itself when it is a
    PNG, JPEG or WEBP that small and at most MAX_SIDE a side, else a JPEG downscaled to fit in
    MAX_SIDE (aspect ratio kept) at the best quality that fits, smaller still if it must. The file is
    opened by `open_file` (by its path when None)."""
    from PIL import Image

    try:
        opened = open_file(path) if open_file is not None else path.open("rb")
    except (Refusal, OSError) as exc:
        raise PreviewRefused(f"the image cannot be read ({exc})") from None

    try:
        with warnings.catch_warnings(), opened as file:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PreviewRefused(
                        f"the image is {width}x{height} pixels, over the {MAX_PIXELS:,} pixels previews "
                        "decode"
                    )
                fits = os.fstat(file.fileno()).st_size <= MAX_PREVIEW_BYTES
                small = fits and max(width, height) <= MAX_SIDE
                if image.format in AS_IS and small and getattr(image, "n_frames", 1) == 1:
                    image.load()  # whole: a host is never handed a file that does not decode
                    file.seek(0)
                    return Preview(file.read(), AS_IS[image.format], width, height, image.size, whole=True)
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # a JPEG is decoded at a reduced scale
                frame = _rgb(image)
    except PreviewRefused:
        raise
    except Exception as exc:  # Pillow raises many kinds on a malformed file; none may fail the call
        raise PreviewRefused(f"the image could not be decoded ({type(exc).__name__})") from None
    return _fit(frame, (width, height))


def _rgb(image: Image) -> Image:
    """`image` decoded as RGB, transparency flattened onto white (JPEG has no alpha)."""
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = PILImage.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _fit(frame: Image, original: tuple[int, int]) -> Preview:
    side = MAX_SIDE
    while side >= MIN_SIDE:
        frame.thumbnail((side, side), reducing_gap=2.0)  # in place; never enlarges
        for quality in QUALITIES:
            out = io.BytesIO()
            frame.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= MAX_PREVIEW_BYTES:
                return Preview(out.getvalue(), "image/jpeg", *frame.size, original)
        side = max(frame.size) * 3 // 4
    raise PreviewRefused(f"no JPEG of {MIN_SIDE} pixels a side or more fits in {MAX_PREVIEW_BYTES} bytes")
