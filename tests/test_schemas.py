"""What `tools/list` costs a client's context (compact schemas, no generated titles, a size budget), and
what it costs at start-up (entries from listing.json: no tool imported, no schema built)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_server_glm import schemas
from mcp_server_glm.tools import listing
from tests.conftest import in_process, server_env, text_of
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

# Bytes of compact JSON in tools/list, output schemas included: the default tools on each platform stay
# within 14,336 bytes (BigModel lists speak beside them).
BUDGETS = {
    "zai": {("glm_chat", "web_search"): 4608, ("all",): 13056},
    "bigmodel": {("glm_chat", "web_search"): 4608, ("all",): 13824},
}
# Every tool, opt-in ones included (GLM_TOOLS naming them all), per platform; and one opt-in tool's entry.
FULL_BUDGET = {"zai": 15104, "bigmodel": 18176}
OPT_IN_ENTRY = 1100


def titles(schema: Any, path: str = "") -> list[str]:
    """Paths of every `title` annotation in a schema (a property named "title" is not one)."""
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                found.append(path or "/")
            elif key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    found += titles(sub, f"{path}/{name}")
            else:
                found += titles(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            found += titles(item, f"{path}/{index}")
    return found


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_tools_list_fits_the_budget_without_titles(fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    async with in_process(fake) as client:
        tools = (await client.list_tools()).tools
    entries = {tool.name: tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools}
    assert ("speak" in entries) == (platform == "bigmodel")
    for names, budget in BUDGETS[platform].items():
        chosen = list(entries.values()) if names == ("all",) else [entries[name] for name in names]
        size = len(json.dumps(chosen, separators=(",", ":")))
        print(f"tools/list on {platform} {'+'.join(names)}: {size} bytes of compact JSON (budget {budget})")
        assert size <= budget <= 14336
    for entry in entries.values():
        assert titles(entry["inputSchema"]) == []
        assert titles(entry["outputSchema"]) == []
        assert entry["title"]  # the tool's own title stays
        assert len(entry["description"]) < 360  # a few sentences written for a model, no more


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_the_full_set_with_opt_in_tools_and_the_default_set_without(
    fake: FakeGLM, platform: str
) -> None:
    fake.platform = platform
    registered = listing.load()
    opt_in = {name for name, listed in registered.items() if not listed.spec.default}
    assert opt_in
    async with in_process(fake) as client:
        default = (await client.list_tools()).tools
    async with in_process(fake, tools=list(registered)) as client:
        full = (await client.list_tools()).tools
    assert not {tool.name for tool in default} & opt_in  # opt-in tools cost the default set nothing
    assert {tool.name for tool in full} == {
        name for name, listed in registered.items() if platform in listed.spec.platforms
    }
    sizes = {}
    for tool in full:
        entry = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        sizes[tool.name] = len(json.dumps(entry, separators=(",", ":")))
        assert titles(entry["inputSchema"]) == [] and titles(entry["outputSchema"]) == []
        assert len(entry["description"]) < 360
        if tool.name in opt_in:
            assert sizes[tool.name] < OPT_IN_ENTRY, (tool.name, sizes[tool.name])
    total = len(
        json.dumps(
            [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in full], separators=(",", ":")
        )
    )
    print(
        f"tools/list of every tool on {platform}: {total} bytes; opt-in entries: "
        + ", ".join(f"{name} {size}" for name, size in sizes.items() if name in opt_in)
    )
    assert total < FULL_BUDGET[platform]


def test_compact_keeps_properties_named_title_and_defaults() -> None:
    schema = {
        "title": "Hit",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},
            "site": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Site"},
            "mode": {"default": {"title": "kept"}, "type": "object"},
        },
        "required": ["title"],
    }
    assert schemas.compact(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "site": {"type": "string"},
            "mode": {"default": {"title": "kept"}, "type": "object"},
        },
        "required": ["title"],
    }


def test_listing_json_is_what_the_tool_functions_make() -> None:
    assert listing.LISTING.read_text(encoding="utf-8") == listing.render(), (
        "listing.json is stale: run `python -m mcp_server_glm.tools.listing`"
    )


async def test_a_listed_tool_is_built_on_its_first_call_and_validates_like_one(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        bad = await client.call_tool("glm_chat", {"prompt": "hi", "temperature": 7})
        good = await client.call_tool("glm_chat", {"prompt": "hi"})
    assert listed["glm_chat"].input_schema == listing.load()["glm_chat"].entry.input_schema
    assert bad.is_error
    assert text_of(bad) == (
        "Error executing tool glm_chat: invalid arguments: "
        "temperature: Input should be less than or equal to 1"
    )
    assert not good.is_error
    assert good.structured_content is not None
    assert good.structured_content["finish_reason"] == "stop"


# What serving tools/list may import (the transports loaded, as a start loads them): no tool module,
# HTTP client, file guard, store, audio code, nor the sign-in's JOSE code.
DEFERRED = (
    "mcp_server_glm.tools.chat",
    "mcp_server_glm.tools.common",
    "mcp_server_glm.glm.client",
    "mcp_server_glm.glm.models",
    "mcp_server_glm.files",
    "mcp_server_glm.store",
    "mcp_server_glm.audio_chunks",
    "httpcore2",
    "sqlite3",
    "mcp_server_glm.auth",
    "jwt",
)
LIST_TOOLS = """
import json, sys, anyio
from mcp import Client
from mcp_server_glm import transports
from mcp_server_glm.cli import load_settings
from mcp_server_glm.server import build_server

async def main():
    async with Client(build_server(load_settings([])[1])) as client:
        await client.list_tools()
        await client.read_resource("glm://models")
        print(json.dumps(sorted(sys.modules)))

anyio.run(main)
"""


@pytest.mark.slow
def test_listing_tools_imports_no_tool_and_no_client(tmp_path: Path) -> None:
    env = {**os.environ, "ZAI_API_KEY": "k", "GLM_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", LIST_TOOLS], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "mcp_server_glm.server" in loaded
    assert [name for name in DEFERRED if name in loaded] == []


# A chat or a search answers without the file guard, the store or the audio code: the store loads with
# the usage write after the call (put off here, to look before it happens).
ANSWERING_ALONE = (
    "mcp_server_glm.files",
    "mcp_server_glm.store",
    "mcp_server_glm.audio_chunks",
    "sqlite3",
)
CALL_TOOLS = """
import json, sys, anyio
from mcp import Client
from mcp_server_glm import state
from mcp_server_glm.cli import load_settings
from mcp_server_glm.server import build_server

state.USAGE_WRITE_DELAY = 60

async def main():
    async with Client(build_server(load_settings([])[1])) as client:
        chat = await client.call_tool("glm_chat", {"prompt": "hi"})
        search = await client.call_tool("web_search", {"query": "hi"})
        assert not chat.is_error and not search.is_error, (chat, search)
        print(json.dumps(sorted(sys.modules)))

anyio.run(main)
"""


@pytest.mark.slow
def test_a_chat_and_a_search_load_no_file_guard_store_or_audio_code(fake: FakeGLM, tmp_path: Path) -> None:
    env = {**server_env(fake), "GLM_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", CALL_TOOLS], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert {"mcp_server_glm.tools.chat", "mcp_server_glm.tools.search", "httpcore2"} <= loaded
    assert [name for name in ANSWERING_ALONE if name in loaded] == []


def test_compact_writes_refs_out_and_keeps_recursive_ones() -> None:
    schema = {
        "$defs": {
            "Usage": {"title": "Usage", "type": "object", "properties": {"n": {"type": "integer"}}},
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            },
        },
        "type": "object",
        "properties": {
            "usage": {"$ref": "#/$defs/Usage", "description": "Tokens."},
            "tree": {"$ref": "#/$defs/Node"},
        },
    }
    assert schemas.compact(schema) == {
        "type": "object",
        "properties": {
            "usage": {"type": "object", "properties": {"n": {"type": "integer"}}, "description": "Tokens."},
            "tree": {"$ref": "#/$defs/Node"},
        },
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
