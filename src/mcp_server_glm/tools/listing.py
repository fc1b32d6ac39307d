"""Every registered tool's `tools/list` entry and spec, kept built in listing.json: start-up lists the tools
without importing one of them or building a schema; a tool's module is imported on its first call.

listing.json is stamped with the mcp and pydantic versions that made it (they shape the schemas): when the
installed ones differ, start-up rebuilds it from the modules. After changing a tool's SPEC, signature or
docstring, rewrite it and the other generated files with `python -m mcp_server_glm.tools.listing`; a test
fails while any is stale.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp.types import Tool as ToolEntry
from mcp.types import ToolAnnotations

from .. import schemas
from . import registry
from .spec import ToolSpec

log = logging.getLogger(__name__)

LISTING = Path(__file__).with_name("listing.json")
STAMPED = ("mcp", "pydantic")  # the packages whose versions decide the listed schemas


@dataclass(frozen=True)
class Listed:
    """A registered tool as start-up knows it: its spec and what `tools/list` says of it."""

    spec: ToolSpec
    entry: ToolEntry


def versions() -> dict[str, str]:
    return {name: version(name) for name in STAMPED}


def specs(modules: Iterable[str] = registry.MODULES) -> list[ToolSpec]:
    """The SPEC of each module (of this package, or a dotted name): this imports them."""
    found = []
    for name in modules:
        path = name if "." in name else f"{__package__}.{name}"
        found.append(replace(importlib.import_module(path).SPEC, module=path))
    return found


def build(spec: ToolSpec) -> Tool:
    """The tool, from its function: argument validation, output conversion, compact schemas."""
    function = getattr(importlib.import_module(spec.module), spec.name)
    tool = Tool.from_function(function, name=spec.name, title=spec.title, annotations=spec.annotations)
    tool.parameters = schemas.compact(tool.parameters)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = schemas.compact_output(tool.fn_metadata.output_schema)
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


def render(modules: Iterable[str] = registry.MODULES) -> str:
    """listing.json as the tool modules make it now."""
    tools: dict[str, Any] = {
        spec.name: {
            "spec": spec.data(),
            "entry": entry(build(spec)).model_dump(mode="json", by_alias=True, exclude_none=True),
        }
        for spec in specs(modules)
    }
    return json.dumps({"made_with": versions(), "tools": tools}, indent=1, ensure_ascii=False) + "\n"


def parse(text: str) -> dict[str, Listed]:
    """The tools a listing holds, by name, in registry order."""
    listed = {}
    for name, saved in json.loads(text)["tools"].items():
        shown = ToolEntry.model_validate(saved["entry"])
        data = saved["spec"]
        spec = ToolSpec(
            name=name,
            title=shown.title or name,
            annotations=shown.annotations or ToolAnnotations(),
            purpose=data["purpose"],
            summary=data["summary"],
            platforms=tuple(data["platforms"]),
            settings=tuple(data["settings"]),
            default=data["default"],
            job=data["job"],
            task_support=data.get("task_support", False),
            argument_texts=data["argument_texts"],
            module=data["module"],
        )
        listed[name] = Listed(spec, shown)
    return listed


def defaults(tools: Mapping[str, Listed], platform: str | None = None) -> list[str]:
    """The tools served when GLM_TOOLS names none (those listed on `platform`, if given)."""
    return [
        name
        for name, listed in tools.items()
        if listed.spec.default and (platform is None or platform in listed.spec.platforms)
    ]


def load(path: Path = LISTING) -> dict[str, Listed]:
    """The saved listing; rebuilt from the tool modules when made with other mcp or pydantic versions
    (or missing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = "{}"
    made_with = json.loads(text).get("made_with")
    if made_with != versions():
        log.info("Tool listing made with %s, installed %s: rebuilding it", made_with, versions())
        text = render()
        _write_back(path, text)
    return parse(text)


def _write_back(path: Path, text: str) -> None:
    """Save a rebuilt listing for the next start, if the package directory can be written (an install
    may be read-only: then every start rebuilds it, which costs time, never the start)."""
    temporary: Path | None = None
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".listing-", suffix=".tmp")
        temporary = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        log.info("Could not save the rebuilt tool listing (%s); each start rebuilds it", exc)
        if temporary is not None:
            temporary.unlink(missing_ok=True)


if __name__ == "__main__":
    from . import artefacts

    LISTING.write_text(render(), encoding="utf-8")
    sys.stderr.write(f"wrote {LISTING}\n")
    for written in artefacts.write():
        sys.stderr.write(f"wrote {written}\n")
