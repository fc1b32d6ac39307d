"""Every tool's `tools/list` entry, kept built in listing.json: start-up lists the tools without importing
one of them or building a schema; a tool's module is imported and its `Tool` built on its first call.

After changing a tool's signature, docstring, title or annotations, rewrite the file with
`python -m mcp_server_glm.tools.listing`; a test fails while it is stale.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp.types import Tool as ToolEntry

from .. import schemas

# Tool name -> the module of this package that defines a function of that name, TITLE and ANNOTATIONS.
MODULES = {
    "glm_chat": "chat",
    "web_search": "search",
    "generate_image": "images",
    "generate_video": "videos",
    "get_task": "tasks",
    "transcribe": "audio",
}
LISTING = Path(__file__).with_name("listing.json")


def build(name: str) -> Tool:
    """The tool, from its function: argument validation, output conversion, compact schemas."""
    module = importlib.import_module(f"{__package__}.{MODULES[name]}")
    tool = Tool.from_function(getattr(module, name), title=module.TITLE, annotations=module.ANNOTATIONS)
    tool.parameters = schemas.compact(tool.parameters)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = schemas.compact(tool.fn_metadata.output_schema)
    return tool


def entry(tool: Tool) -> ToolEntry:
    """What `tools/list` says of a tool."""
    return ToolEntry(
        name=tool.name,
        title=tool.title,
        description=" ".join((tool.description or "").split()) or None,  # a docstring's lines, as one
        input_schema=tool.parameters,
        output_schema=tool.fn_metadata.output_schema,
        annotations=tool.annotations,
    )


def load() -> dict[str, ToolEntry]:
    """The entries listing.json keeps, by tool name, in the order of MODULES."""
    saved = json.loads(LISTING.read_text(encoding="utf-8"))
    return {name: ToolEntry.model_validate(saved[name]) for name in MODULES}


def render() -> str:
    """listing.json as the tool functions make it now."""
    entries: dict[str, Any] = {
        name: entry(build(name)).model_dump(mode="json", by_alias=True, exclude_none=True) for name in MODULES
    }
    return json.dumps(entries, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    LISTING.write_text(render(), encoding="utf-8")
    sys.stderr.write(f"wrote {LISTING}\n")
