"""The JSON request body sent in pieces is byte for byte the compact JSON of the payload, with the
length it announces, and never copies a long string into one piece with the rest."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_server_glm.glm.body import LONG, SLICE, JSONBody


def compact(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def image(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "glm-4.6v", "messages": []},
        {"a": image(LONG), "b": [image(3 * SLICE), {"c": image(LONG + 1)}], "d": "short"},
        {"text": "é" * LONG, "quote": '"\\' * LONG, "nul": "\0" * 3},
        {"trap": "\0" + "0" + "\0", "n": [1, 2.5, None, True]},
    ],
)
def test_pieces_are_the_compact_json(payload: dict[str, Any]) -> None:
    body = JSONBody(payload)
    sent = b"".join(body.pieces())
    assert sent == compact(payload)
    assert body.length == len(sent)


@given(
    st.recursive(
        st.text() | st.integers() | st.booleans() | st.none(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
def test_any_payload(value: Any) -> None:
    payload = {"v": value}
    body = JSONBody(payload)
    assert b"".join(body.pieces()) == compact(payload)
    assert body.length == len(compact(payload))


def test_a_long_string_is_sent_in_slices_of_its_own() -> None:
    data = image(4 * SLICE)
    body = JSONBody({"model": "m", "image": data})
    sizes = [len(piece) for piece in body.pieces()]
    assert max(sizes) <= SLICE
    assert sum(sizes) == body.length


@pytest.mark.anyio
async def test_iterates_again_for_a_retry() -> None:
    body = JSONBody({"image": image(LONG)})
    first = b"".join([piece async for piece in body])
    second = b"".join([piece async for piece in body])
    assert first == second == b"".join(body.pieces())
