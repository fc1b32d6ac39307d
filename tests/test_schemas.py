"""What `tools/list` costs a client's context: compact schemas, no generated titles, a size budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_server_glm import schemas
from tests.conftest import in_process
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

# Bytes of compact JSON in tools/list, output schemas included.
BUDGETS = {("glm_chat", "web_search"): 4096, ("all",): 9 * 1024}


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


async def test_tools_list_fits_the_budget_without_titles(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        tools = (await client.list_tools()).tools
    entries = {tool.name: tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools}
    for names, budget in BUDGETS.items():
        chosen = list(entries.values()) if names == ("all",) else [entries[name] for name in names]
        size = len(json.dumps(chosen, separators=(",", ":")))
        print(f"tools/list {'+'.join(names)}: {size} bytes of compact JSON (budget {budget})")
        assert size < budget
    for entry in entries.values():
        assert titles(entry["inputSchema"]) == []
        assert titles(entry["outputSchema"]) == []
        assert entry["title"]  # the tool's own title stays
        assert len(entry["description"]) < 120


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
