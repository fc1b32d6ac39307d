"""Prompts, completions, the server's icon and the cache hints over stdio, from the installed
`mcp-server-glm`, on both eras; and the raw initialize a legacy client reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextContent

from mcp_server_glm import icon, presentation
from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM
from tests.support.stdio import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]


@pytest.mark.parametrize("mode", ERAS)
async def test_prompts_and_completions_over_stdio(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    fake.platform = "bigmodel"
    env = server_env(fake, GLM_TOOLS="glm_chat,web_search,generate_video,get_task")
    async with over_stdio(env, tmp_path / "stderr.log", mode=mode) as client:
        info = client.server_info
        names = [prompt.name for prompt in (await client.list_prompts()).prompts]
        research = await client.get_prompt("research", {"question": "What is new in GLM-5.3?"})
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("make_video", {"size": "1920x1080"})
        models = await client.complete(
            PromptReference(type="ref/prompt", name="make_video"), {"name": "model", "value": "vidu2"}
        )
        sizes = await client.complete(
            PromptReference(type="ref/prompt", name="make_video"),
            {"name": "size", "value": ""},
            {"model": "viduq1-text"},
        )
        video = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        assert not video.is_error, text_of(video)
        task_id = str((video.structured_content or {})["task_id"])
        tasks = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="glm://tasks/{task_id}"),
            {"name": "task_id", "value": task_id[:4]},
        )
        tools = await client.list_tools()

    assert info is not None
    assert info.description == presentation.DESCRIPTION
    assert [shown.src for shown in info.icons or []] == [icon.PNG_DATA_URI]
    assert names == ["make_video", "second_opinion", "research"]  # transcribe is not enabled
    [message] = research.messages
    assert isinstance(message.content, TextContent)
    assert "web_search with a short query of at most 70 characters" in message.content.text
    assert missing.value.error.code == -32602
    assert models.completion.values == ["vidu2-image", "vidu2-start-end", "vidu2-reference"]
    assert sizes.completion.values == ["1920x1080"]
    assert tasks.completion.values == [task_id]
    hinted = (tools.ttl_ms, tools.cache_scope)
    assert hinted == ((3_600_000, "public") if mode == "auto" else (0, "private"))


def test_a_legacy_initialize_carries_the_icon_and_no_cache_hints(fake: FakeGLM, tmp_path: Path) -> None:
    session = RawSession(server_env(fake))
    try:
        initialized = session.initialized
        listed = session.request("tools/list", {})
        prompts = session.request("prompts/list", {})
    finally:
        session.kill()
    info = initialized["serverInfo"]
    assert info["icons"] == [{"src": icon.PNG_DATA_URI, "mimeType": "image/png", "sizes": ["48x48"]}]
    assert info["websiteUrl"] == presentation.WEBSITE_URL
    assert info["description"] == presentation.DESCRIPTION
    assert set(initialized["capabilities"]) >= {"prompts", "completions", "tools", "resources"}
    # The handshake era has no cache hints: nothing of SEP-2549 reaches its wire.
    assert "ttlMs" not in listed
    assert "cacheScope" not in prompts
    assert len(prompts["prompts"]) == 4
