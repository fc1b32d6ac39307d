"""Daily caps per paid tool: counted from the store's usage since midnight UTC, refused in one line that
says when the cap resets, before anything is sent; the installed server over stdio."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
RESETS = re.compile(r"it resets at 00:00 UTC, in \d+ h \d+ min\.$")


async def test_a_tool_past_its_daily_cap_is_refused_before_sending(fake: FakeGLM, tmp_path: Path) -> None:
    env = server_env(fake, GLM_MAX_VIDEOS_PER_DAY="1", GLM_MAX_SEARCHES_PER_DAY="0")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        first = await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
        assert not first.is_error, text_of(first)
        second = await client.call_tool("generate_video", {"prompt": "another fox", "wait_seconds": 0})
        search = await client.call_tool("web_search", {"query": "glm"})
        chat = await client.call_tool("glm_chat", {"prompt": "no cap on me"})
    assert second.is_error
    assert "generate_video has used its daily cap of 1 videos (GLM_MAX_VIDEOS_PER_DAY): 1 today" in text_of(
        second
    )
    assert RESETS.search(text_of(second))
    assert "\n" not in text_of(second)
    assert search.is_error
    assert "GLM_MAX_SEARCHES_PER_DAY" in text_of(search)
    assert not chat.is_error
    assert len(fake.requests_to("videos/generations")) == 1
    assert fake.requests_to("web_search") == []


async def test_usage_counted_in_the_same_process_counts_at_once(fake: FakeGLM, tmp_path: Path) -> None:
    # glm_chat's usage waits in memory for its background write: the cap must still see it.
    env = server_env(fake, GLM_MAX_TOKENS_PER_DAY="1")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        first = await client.call_tool("glm_chat", {"prompt": "count my tokens"})
        second = await client.call_tool("glm_chat", {"prompt": "and now?"})
    assert not first.is_error
    assert second.is_error
    assert "GLM_MAX_TOKENS_PER_DAY" in text_of(second)
    assert len(fake.requests_to("chat/completions")) == 1
