"""The opt-in platform tools end to end, over stdio with the installed server and GLM_TOOLS naming them:
success on each platform that has them, refusals, upstream failures, the translation's fallback (and none
on a refused key or an empty balance), the embed file read back, usage in glm://usage; unnamed, unlisted."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import BlobResourceContents, CallToolResult, TextResourceContents

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OPT_IN = "translate,embed,rerank,count_tokens"


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


def failed(result: CallToolResult, *words: str) -> None:
    assert result.is_error
    line = text_of(result)
    assert "\n" not in line and all(word in line for word in words), line


async def usage(client: Client) -> dict[tuple[str, str], dict[str, Any]]:
    [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    return {(row["tool"], row["model"]): row for row in json.loads(contents.text)}


async def test_zai_serves_translate_and_count_tokens(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "zai"
    async with over_stdio(
        server_env(fake, GLM_TOOLS=f"glm_chat,{OPT_IN}"), tmp_path / "stderr.log"
    ) as client:
        listed = sorted(tool.name for tool in (await client.list_tools()).tools)
        agent = ok(
            await client.call_tool("translate", {"text": "hello", "target": "de", "strategy": "reflection"})
        )
        counted = ok(await client.call_tool("count_tokens", {"prompt": "x", "model": "glm-4.5"}))
        failed(await client.call_tool("translate", {"text": "hello", "target": "xx"}), "'xx'", "zh-CN")
        failed(await client.call_tool("count_tokens", {"prompt": "x", "model": "glm-4.7"}), "glm-4.6")
        failed(await client.call_tool("rerank", {"query": "q", "documents": ["d"]}), "BigModel only")
        fake.script("v1/agents", Fault(status=404, code="1222"))
        fallback = ok(await client.call_tool("translate", {"text": "hello", "target": "de"}))
        fake.script("v1/agents", Fault(status=401, code="1000"))
        failed(
            await client.call_tool("translate", {"text": "hello", "target": "de"}), "HTTP 401", "GLM_PLATFORM"
        )
        fake.script("v1/agents", Fault(status=429, code="1113"))
        failed(await client.call_tool("translate", {"text": "hello", "target": "de"}), "code 1113")
        fake.script("tokenizer", Fault(status=500), Fault(status=500), Fault(status=500), Fault(status=500))
        failed(await client.call_tool("count_tokens", {"prompt": "x"}), "HTTP 500")
        rows = await usage(client)
    assert listed == ["count_tokens", "glm_chat", "translate"]
    assert agent["via"] == "agent" and agent["text"] == "[auto->de/reflection] hello"
    assert counted["model"] == "glm-4.5" and counted["total_tokens"] > 0
    assert fallback["via"] == "chat" and "code 1222" in fallback["note"]
    assert len(fake.requests_to("chat/completions")) == 1  # the one fallback: none on 401 or 1113
    assert all(sent.path == "/api/v1/agents" for sent in fake.requests_to("v1/agents"))  # the host root
    assert rows["translate", "general_translation"]["calls"] == 1
    assert rows["translate", "glm-5.3"]["calls"] == 1
    assert rows["count_tokens", "glm-4.5"]["calls"] == 1


async def test_bigmodel_serves_all_four_and_the_embed_file_reads_back(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    async with over_stdio(server_env(fake, GLM_TOOLS=OPT_IN), tmp_path / "stderr.log") as client:
        listed = sorted(tool.name for tool in (await client.list_tools()).tools)
        translated = ok(
            await client.call_tool("translate", {"text": "你好", "target": "en", "source": "zh-CN"})
        )
        embedded = ok(
            await client.call_tool("embed", {"texts": ["alpha", "beta", "gamma"], "dimensions": 512})
        )
        [contents] = (await client.read_resource(embedded["uri"])).contents
        ranked = ok(await client.call_tool("rerank", {"query": "alpha", "documents": ["beta", "alpha one"]}))
        counted = ok(
            await client.call_tool("count_tokens", {"prompt": "x", "images": ["https://i.example/a.png"]})
        )
        failed(await client.call_tool("embed", {"texts": ["x"] * 65}), "at most 64")
        failed(await client.call_tool("rerank", {"query": "q", "documents": ["d"] * 129}), "at most 128")
        failed(await client.call_tool("embed", {"texts": ["word " * 3100]}), "code 1210")
        fake.script("rerank", Fault(status=429, code="1113"))
        failed(await client.call_tool("rerank", {"query": "q", "documents": ["d"]}), "code 1113")
        fake.script("v1/agents", Fault(status=403, code="1220"))
        fallback = ok(await client.call_tool("translate", {"text": "hi", "target": "fr", "glossary": "g"}))
        rows = await usage(client)
    assert listed == ["count_tokens", "embed", "rerank", "translate"]
    assert translated["via"] == "agent"
    path = Path(embedded["path"])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == ["alpha", "beta", "gamma"]
    assert all(len(line["embedding"]) == 512 for line in lines) and embedded["dimensions"] == 512
    assert isinstance(contents, BlobResourceContents) and base64.b64decode(contents.blob) == path.read_bytes()
    assert [item["index"] for item in ranked["results"]] == [1, 0]
    assert counted["model"] == "glm-4.6v" and counted["image_tokens"] == 1024
    assert fallback["via"] == "chat" and "glossary" in fallback["note"]
    assert {key[0] for key in rows} == {"translate", "embed", "rerank", "count_tokens"}
    assert rows["embed", "embedding-3"]["units"] > 0


async def test_unnamed_opt_in_tools_are_not_listed(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        unknown = await client.call_tool("embed", {"texts": ["x"]})
    assert "glm_chat" in listed and not listed & set(OPT_IN.split(","))
    assert unknown.is_error
    assert fake.requests_to("embeddings") == []
