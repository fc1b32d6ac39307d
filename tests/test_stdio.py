"""End to end: the installed `mcp-server-glm` as a subprocess, the mcp client, stdio, both protocol eras."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import BlobResourceContents, ResourceLink, TextContent

from mcp_server_glm.tools import listing
from tests.conftest import CANARY_KEY, over_stdio, server_env, wav_file
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.support.stdio import RawSession, installed_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

REGISTERED = listing.load()
ALL_TOOLS = listing.defaults(REGISTERED, "zai")  # the fake plays Z.AI
ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_over_stdio(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    fake.chunk_delay = 0.05
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with over_stdio(server_env(fake), tmp_path / "stderr.log", mode=mode) as client:
        expected_era = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected_era
        assert client.server_info is not None
        assert client.server_info.name == "mcp-server-glm"
        assert client.server_info.version == version("mcp-server-glm")

        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) == set(ALL_TOOLS)
        for name, tool in listed.items():
            spec = REGISTERED[name].spec
            assert tool.title == spec.title
            assert tool.output_schema is not None
            assert tool.annotations == spec.annotations
            assert tool.annotations.open_world_hint is True
            if spec.job:  # a paid job: neither read-only nor idempotent, and it deletes nothing
                assert tool.annotations.read_only_hint is False
                assert tool.annotations.destructive_hint is False
                assert tool.annotations.idempotent_hint is False

        chat = await client.call_tool(
            "glm_chat", {"prompt": "a fairly long question"}, progress_callback=on_progress
        )
        assert not chat.is_error
        assert chat.structured_content is not None
        assert chat.structured_content["content"] == "Fake GLM answer to: a fairly long question"
        assert len(seen) >= 2

        fake.chunk_delay = 0.3
        with anyio.move_on_after(0.8) as scope:
            await client.call_tool("glm_chat", {"prompt": "a very slow answer that will be abandoned"})
        assert scope.cancelled_caught  # the call was cancelled; the server must go on serving
        fake.chunk_delay = 0.0

        found = await client.call_tool("web_search", {"query": "model context protocol", "count": 2})
        assert not found.is_error
        assert found.structured_content is not None
        assert len(found.structured_content["results"]) == 2

    assert [r.route for r in fake.requests] == ["chat/completions", "chat/completions", "web_search"]


@pytest.mark.parametrize("mode", ERAS)
async def test_failures_are_tool_errors_and_the_server_keeps_serving(
    fake: FakeGLM, tmp_path: Path, mode: str
) -> None:
    fake.script("chat/completions", Fault(status=429, code="1302"), Fault(status=429, code="1113"))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log", mode=mode) as client:
        failed = await client.call_tool("glm_chat", {"prompt": "hi"})
        assert failed.is_error
        [block] = failed.content
        assert isinstance(block, TextContent)
        assert block.text.startswith("Error executing tool glm_chat: GLM API error (HTTP 429, code 1113)")
        assert "\n" not in block.text

        invalid = await client.call_tool("web_search", {"query": ""})
        assert invalid.is_error

        unknown = await client.call_tool("no_such_tool", {})
        assert unknown.is_error

        again = await client.call_tool("glm_chat", {"prompt": "still there?"})
        assert not again.is_error
    assert len(fake.requests_to("chat/completions")) == 3  # 1302 retried, 1113 not, then the last call


async def test_without_a_key_tools_list_works_and_calls_explain(tmp_path: Path) -> None:
    async with over_stdio(server_env(None), tmp_path / "stderr.log") as client:
        assert len((await client.list_tools()).tools) == len(ALL_TOOLS)
        result = await client.call_tool("web_search", {"query": "x"})
        assert result.is_error
        [block] = result.content
        assert isinstance(block, TextContent)
        assert "ZAI_API_KEY" in block.text
        assert len((await client.list_tools()).tools) == len(ALL_TOOLS)


def test_stdout_carries_only_json_rpc(fake: FakeGLM) -> None:
    """Drive the server with raw JSON-RPC lines and read every byte it writes to stdout."""
    session = RawSession(server_env(fake, GLM_LOG_LEVEL="DEBUG"), stderr=subprocess.PIPE)
    try:
        tools = session.request("tools/list", {})
        chat = session.call("glm_chat", {"prompt": "x"})
        search = session.call("web_search", {"query": "y"})
        rest, stderr = session.process.communicate(timeout=20)  # closes stdin: the server must exit cleanly
    finally:
        session.kill()
    assert rest == ""
    assert session.process.returncode == 0
    assert len(tools["tools"]) == len(ALL_TOOLS)
    assert chat["isError"] is False
    assert search["isError"] is False
    assert CANARY_KEY not in json.dumps([tools, chat, search])
    assert CANARY_KEY not in stderr
    assert "DEBUG" in stderr  # the log went to stderr, and it was verbose


def test_module_entry_point_matches_the_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_server_glm", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.strip() == f"mcp-server-glm {version('mcp-server-glm')}"
    done = subprocess.run(
        [installed_server(), "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stdout.strip() == f"mcp-server-glm {version('mcp-server-glm')}"


@pytest.mark.parametrize("mode", ERAS)
async def test_media_tools_over_stdio(fake: FakeGLM, tmp_path: Path, isolated_dirs: Path, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=2)
    audio = isolated_dirs / "hello.wav"
    audio.write_bytes(wav_file(b"\x00\x01" * 8000))
    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async with over_stdio(server_env(fake), tmp_path / "stderr.log", mode=mode) as client:
        image = await client.call_tool("generate_image", {"prompt": "a lighthouse"})
        assert not image.is_error
        kinds = [block.type for block in image.content]
        assert kinds == ["text", "image", "resource_link"]
        [link] = [block for block in image.content if isinstance(block, ResourceLink)]
        [blob] = (await client.read_resource(link.uri)).contents
        assert isinstance(blob, BlobResourceContents)
        assert blob.mime_type == "image/png"

        video = await client.call_tool("generate_video", {"prompt": "a wave"}, progress_callback=on_progress)
        assert not video.is_error
        assert video.structured_content is not None
        assert video.structured_content["status"] == "SUCCESS"
        assert any(message and "processing" in message for message in seen)

        heard = await client.call_tool("transcribe", {"file": str(audio)})
        assert not heard.is_error
        assert heard.structured_content is not None
        assert heard.structured_content["text"] == "Transcript of 1.00 s of audio."


async def test_unknown_prompt_is_invalid_params_without_a_traceback(fake: FakeGLM, tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    async with over_stdio(server_env(fake), stderr) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("no-such-prompt")
        assert caught.value.code == -32602
        assert "no-such-prompt" in caught.value.message
        assert not (await client.call_tool("glm_chat", {"prompt": "still serving?"})).is_error
    assert "Traceback" not in stderr.read_text()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_instructions_name_only_the_enabled_tools(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    env = server_env(fake, GLM_TOOLS="glm_chat,web_search")
    async with over_stdio(env, tmp_path / "stderr.log", mode=mode) as client:
        text = client.instructions
    assert text is not None
    assert "glm_chat" in text and "web_search" in text
    for hidden in ALL_TOOLS:
        if hidden not in ("glm_chat", "web_search"):
            assert hidden not in text


async def test_instructions_state_the_job_workflow_with_the_job_tools(fake: FakeGLM, tmp_path: Path) -> None:
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        text = client.instructions
    assert text is not None
    assert "never submit the same job again" in text
    assert all(name in text for name in ALL_TOOLS)


@pytest.mark.parametrize("mode", ERAS)
async def test_only_capabilities_with_something_behind_them(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    env = server_env(fake, GLM_TOOLS="web_search")  # no prompt uses web_search alone
    async with over_stdio(env, tmp_path / "stderr.log", mode=mode) as client:
        capabilities = client.server_capabilities.model_dump(exclude_none=True)
        assert "prompts" not in capabilities
        assert "tools" in capabilities
        assert "resources" in capabilities
        assert "completions" in capabilities  # the resource templates' parameters
        assert (await client.list_resources()).resources
    async with over_stdio(server_env(fake), tmp_path / "stderr.log", mode=mode) as client:
        assert "prompts" in client.server_capabilities.model_dump(exclude_none=True)
        assert (await client.list_prompts()).prompts


async def test_descriptions_name_the_configured_defaults(fake: FakeGLM, tmp_path: Path) -> None:
    env = server_env(fake, GLM_CHAT_MODEL="glm-4.7", GLM_VIDEO_MODEL="cogvideox-3", GLM_MAX_WAIT="40")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    chat_model = tools["glm_chat"].input_schema["properties"]["model"]["description"]
    assert chat_model.startswith("Default glm-4.7;")
    waiting = [name for name in ALL_TOOLS if "wait_seconds" in REGISTERED[name].spec.argument_texts]
    assert waiting
    for name in waiting:
        assert "GLM_MAX_WAIT (40 s)" in tools[name].input_schema["properties"]["wait_seconds"]["description"]
    assert (
        tools["generate_video"].input_schema["properties"]["model"]["description"]
        == "Default cogvideox-3; Vidu on BigModel."
    )
