"""A JSON request body sent in pieces: long strings (inline images, files) are written straight from the
objects that hold them, so a large request never exists as one more whole copy in memory.

The body is compact JSON (no spaces), byte for byte what `json.dumps(..., separators=(",", ":"),
ensure_ascii=False)` encodes to UTF-8, with its length known before the first byte is sent.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

LONG = 64 * 1024  # characters: a string this long is sent by itself rather than copied into the skeleton
SLICE = 1024 * 1024  # characters of a long string encoded and sent at a time
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')  # a string JSON writes as it is, between quotes


class JSONBody:
    """One request body; iterate it (again, for a retry) with `async for`."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self._long: list[str] = []
        # A marker no caller's text can contain by chance stands in for each long string.
        self._marker = secrets.token_hex(8)
        skeleton = json.dumps(self._swap(payload), ensure_ascii=False, separators=(",", ":"))
        self._parts = re.split(rf'"\\u0000{self._marker}:(\d+)\\u0000"', skeleton)
        self.length = sum(len(part.encode("utf-8")) for part in self._parts[::2]) + sum(
            _encoded_length(text) for text in self._long
        )

    def _swap(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) >= LONG:
            self._long.append(value)
            return f"\0{self._marker}:{len(self._long) - 1}\0"
        if isinstance(value, dict):
            return {key: self._swap(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._swap(item) for item in value]
        return value

    def pieces(self) -> Iterator[bytes]:
        for index, part in enumerate(self._parts):
            if index % 2 == 0:
                if part:
                    yield part.encode("utf-8")
            else:
                yield from _encoded(self._long[int(part)])

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces():
            yield piece


def _plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


def _encoded_length(text: str) -> int:
    if _plain(text):
        return len(text.encode("utf-8")) + 2 if not text.isascii() else len(text) + 2
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _encoded(text: str) -> Iterator[bytes]:
    """The JSON string literal of `text`, a slice at a time."""
    if not _plain(text):
        yield json.dumps(text, ensure_ascii=False).encode("utf-8")
        return
    yield b'"'
    for start in range(0, len(text), SLICE):
        yield text[start : start + SLICE].encode("utf-8")
    yield b'"'
