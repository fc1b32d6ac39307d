"""A tool waiting on the API says so at least every few seconds (hosts cut quiet calls, people think them
dead): generate_image while the image is made, transcribe while a piece is transcribed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcp_server_glm import calls
from tests.conftest import in_process, wav_file
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio


async def notes(client: Any, tool: str, arguments: dict[str, Any]) -> tuple[Any, list[tuple[float, str]]]:
    seen: list[tuple[float, str]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, message or ""))

    result = await client.call_tool(tool, arguments, progress_callback=on_progress)
    return result, seen


async def test_a_slow_image_is_told_while_it_is_made(fake: FakeGLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "TICK_SECONDS", 0.2)
    fake.script("images/generations", Fault(delay=1.5))
    async with in_process(fake) as client:
        result, seen = await notes(client, "generate_image", {"prompt": "a lighthouse"})
    assert not result.is_error
    messages = [message for _, message in seen]
    assert sum("generating the image with cogview-4-250304" in m for m in messages) >= 3
    values = [value for value, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)  # always increasing


async def test_a_slow_piece_is_told_while_it_is_transcribed(
    fake: FakeGLM, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls, "TICK_SECONDS", 0.2)
    audio = isolated_dirs / "a.wav"
    audio.write_bytes(wav_file(b"\x00\x01" * 8000))
    fake.script("audio/transcriptions", Fault(delay=1.5))
    async with in_process(fake) as client:
        result, seen = await notes(client, "transcribe", {"file": str(audio)})
    assert not result.is_error
    assert sum("transcribing piece 1 of 1" in message for _, message in seen) >= 3
