"""Images made fit for the chat API, which takes PNG and JPEG only: other formats Pillow reads (WEBP, the
first frame of a GIF, BMP, ...) are converted to PNG, losslessly. Imported only when a conversion is due.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from .errors import ImageRefused

MB = 1024 * 1024
MAX_BYTES = 5 * MB  # the chat API's limit per image
MAX_SIDE = 6000  # pixels, per side (the API's 6000x6000)


def to_png(data: bytes, source: str, accepted: str = "PNG or JPEG") -> bytes:
    """`data` (an image in any format Pillow reads) as a PNG, or a refusal naming the source and the
    accepted formats."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise ImageRefused(
                        f"image {source} is {width}x{height} pixels, over the chat API's "
                        f"{MAX_SIDE}x{MAX_SIDE} limit: give a smaller {accepted}"
                    )
                kind = image.format or "image"
                image.seek(0)  # an animation's first frame
                frame = image.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Warning) as exc:
        raise ImageRefused(
            f"image {source} could not be read for conversion ({type(exc).__name__}): give a {accepted}"
        ) from None
    if frame.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        frame = frame.convert("RGBA")
    out = io.BytesIO()
    frame.save(out, format="PNG", optimize=False)
    png = out.getvalue()
    if len(png) > MAX_BYTES:
        raise ImageRefused(
            f"image {source} ({kind}) is {len(png) / MB:.1f} MiB as PNG, over the chat API's "
            f"{MAX_BYTES // MB} MiB limit: give a {accepted} of at most {MAX_BYTES // MB} MiB"
        )
    return png
