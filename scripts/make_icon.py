"""Draws icon.png, the bundle's 512x512 icon: a white "G" on a rounded indigo square; and the same
icon at 48x48 as the data URI the MCP server announces (src/mcp_server_glm/icon.py).

Every shape is a signed distance field, so edges are anti-aliased at any size. icon.png is pure Python
(zlib + struct); the small one is reduced to a 32-colour palette with Pillow (a runtime dependency), as
it travels in every 2026-07-28 result's serverInfo. Run `python scripts/make_icon.py` from the
repository root; the output is deterministic.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import sys
import zlib
from pathlib import Path

SIZE = 512
CORNER = 112  # radius of the square's rounded corners
TOP = (99, 102, 241)  # indigo, top-left of the gradient
BOTTOM = (49, 46, 129)  # deep indigo, bottom-right
GLYPH = (255, 255, 255)

CENTER = SIZE / 2
OUTER = 150.0  # outer radius of the G's ring
STROKE = 54.0  # thickness of the ring and of the bar
GAP_DEGREES = 42.0  # the opening on the right, from the horizontal upwards


def rounded_square(x: float, y: float) -> float:
    """Signed distance to the background (negative inside)."""
    half = SIZE / 2 - 0.5
    qx = abs(x - CENTER) - (half - CORNER)
    qy = abs(y - CENTER) - (half - CORNER)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - CORNER


def glyph(x: float, y: float) -> float:
    """Signed distance to the G: a ring with a gap on the upper right, plus a bar into the middle."""
    dx, up = x - CENTER, CENTER - y
    ring = abs(math.hypot(dx, up) - (OUTER - STROKE / 2)) - STROKE / 2
    # The gap: right of centre, above the horizontal and below the line at GAP_DEGREES.
    angle = math.radians(GAP_DEGREES)
    above_horizontal = -up
    below_slant = up * math.cos(angle) - dx * math.sin(angle)
    gap = max(above_horizontal, below_slant, -dx)
    arc = max(ring, -gap)
    # The bar: from a little right of the centre to the ring's outer edge, just below the centre line.
    left, right, top, bottom = CENTER + 8, CENTER + OUTER, CENTER - 6, CENTER - 6 + STROKE
    bx = max(left - x, x - right)
    by = max(top - y, y - bottom)
    bar = math.hypot(max(bx, 0.0), max(by, 0.0)) + min(max(bx, by), 0.0)
    bar = max(bar, math.hypot(dx, up) - OUTER)  # clipped to the ring's outline
    return min(arc, bar)


def coverage(distance: float) -> float:
    return min(max(0.5 - distance, 0.0), 1.0)


SMALL = 48  # the served icon's side in pixels
SMALL_COLOURS = 32
MODULE = Path(__file__).resolve().parent.parent / "src" / "mcp_server_glm" / "icon.py"


def pixel(column: int, row: int, scale: float = 1.0) -> bytes:
    """One RGBA pixel of the icon drawn `scale` times smaller than SIZE (distances in its own pixels)."""
    x, y = (column + 0.5) * scale, (row + 0.5) * scale
    alpha = coverage(rounded_square(x, y) / scale)
    if alpha == 0.0:
        return b"\0\0\0\0"
    t = (x + y) / (2 * SIZE)
    background = [a + (b - a) * t for a, b in zip(TOP, BOTTOM, strict=True)]
    ink = coverage(glyph(x, y) / scale)
    rgb = [round(bg + (fg - bg) * ink) for bg, fg in zip(background, GLYPH, strict=True)]
    return bytes([*rgb, round(255 * alpha)])


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    raw = b"".join(b"\0" + row for row in rows)  # filter type 0 on every row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def small_png() -> bytes:
    """The icon at SMALL pixels, as a palette PNG."""
    from PIL import Image

    scale = SIZE / SMALL
    rows = [b"".join(pixel(column, row, scale) for column in range(SMALL)) for row in range(SMALL)]
    image = Image.open(io.BytesIO(png(SMALL, SMALL, rows)))
    reduced = image.quantize(colors=SMALL_COLOURS, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    reduced.save(out, "PNG", optimize=True)
    return out.getvalue()


def module(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    lines = [encoded[start : start + 100] for start in range(0, len(encoded), 100)]
    body = "\n".join(f'    "{line}"' for line in lines)
    return (
        '"""The server\'s icon, a 48x48 PNG as a data URI (written by scripts/make_icon.py: do not edit).\n\n'
        "The same drawing as icon.png, small enough to travel in every result's serverInfo.\n"
        '"""\n\n'
        f'SIZES = "{SMALL}x{SMALL}"\n'
        f'PNG_DATA_URI = (\n    "data:image/png;base64,"\n{body}\n)\n'
    )


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "icon.png"
    rows = [b"".join(pixel(column, row) for column in range(SIZE)) for row in range(SIZE)]
    out.write_bytes(png(SIZE, SIZE, rows))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    small = small_png()
    MODULE.write_text(module(small), encoding="utf-8")
    print(f"wrote {MODULE} ({len(small)} bytes of PNG)")


if __name__ == "__main__":
    main()
