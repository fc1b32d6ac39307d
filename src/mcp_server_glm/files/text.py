"""How the files package names what it refuses: references quoted on one line, sizes, URL schemes.

Shared by every module of the package, so that each message reads the same.
"""

from __future__ import annotations

import json
import re

MB = 1024 * 1024
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def scheme(ref: str) -> str | None:
    """The URL scheme `ref` starts with, in lower case, or None."""
    found = SCHEME.match(ref)
    return found.group(1).lower() if found else None


def quote(text: str) -> str:
    """A reference quoted on one line (control characters escaped), shortened when long."""
    if len(text) > 200:
        text = f"{text[:120]}…{text[-60:]}"
    quoted = json.dumps(text, ensure_ascii=False)
    # Also escape what JSON leaves as is but a reader must not see raw: bidi overrides, line separators.
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in quoted)


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def amount(size: int) -> str:
    for unit, scale in (("GiB", 1024 * MB), ("MiB", MB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"
