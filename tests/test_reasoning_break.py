"""A streamed chat that breaks after the model's reasoning but before any answer text: retried once,
then one line of error, never an empty success; in process and over stdio with the installed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import in_process, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio

PROMPT = "a long answer please"  # the fake thinks "Thinking about: a long answer please" first, 6 events
REASONING_ONLY = Fault(cut_after=3)
ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]


async def test_a_break_during_reasoning_is_retried_once_then_one_line(fake: FakeGLM) -> None:
    fake.script("chat/completions", REASONING_ONLY, REASONING_ONLY, REASONING_ONLY)
    async with in_process(fake, max_retries=3) as client:
        result = await client.call_tool("glm_chat", {"prompt": PROMPT})
        assert result.is_error
        text = text_of(result)
        assert "\n" not in text
        assert "still reasoning, before any answer text" in text
        assert "gave up after 2 attempts" in text
        assert len(fake.requests_to("chat/completions")) == 2  # once more, not max_retries times
        assert not (await client.call_tool("glm_chat", {"prompt": "still serving?"})).is_error


async def test_the_retry_after_a_reasoning_break_answers(fake: FakeGLM) -> None:
    fake.script("chat/completions", REASONING_ONLY)
    async with in_process(fake) as client:
        result = await client.call_tool("glm_chat", {"prompt": PROMPT})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["content"] == f"Fake GLM answer to: {PROMPT}"
    assert len(fake.requests_to("chat/completions")) == 2


async def test_a_network_error_finish_during_reasoning_is_an_error(fake: FakeGLM) -> None:
    fake.script("chat/completions", *[Fault(finish_reason="network_error", cut_after=3)] * 2)
    async with in_process(fake) as client:
        result = await client.call_tool("glm_chat", {"prompt": PROMPT})
    assert result.is_error
    assert "still reasoning" in text_of(result)
    assert "network_error" in text_of(result)


async def test_a_break_after_answer_text_stays_an_incomplete_answer(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(cut_after=8))
    async with in_process(fake) as client:
        result = await client.call_tool("glm_chat", {"prompt": PROMPT})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["finish_reason"] == "incomplete"
    assert result.structured_content["content"]
    assert len(fake.requests_to("chat/completions")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ERAS)
async def test_a_reasoning_break_over_stdio(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    fake.script("chat/completions", REASONING_ONLY, REASONING_ONLY)
    stderr = tmp_path / "stderr.log"
    async with over_stdio(server_env(fake), stderr, mode=mode) as client:
        result = await client.call_tool("glm_chat", {"prompt": PROMPT})
        assert result.is_error
        assert "still reasoning, before any answer text" in text_of(result)
        assert "\n" not in text_of(result)
        assert len(fake.requests_to("chat/completions")) == 2
        assert not (await client.call_tool("glm_chat", {"prompt": "still serving?"})).is_error
    assert "Traceback" not in stderr.read_text()
