"""What the server says of itself to clients: its identity and icon, its instructions (from the enabled
tools' specs), each tool's descriptions filled with the configured defaults, and cache hints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.caching import CacheHint
from mcp.types import Icon
from mcp.types import Tool as ToolEntry

from . import icon
from .settings import Settings
from .tools import listing
from .tools.spec import ToolSpec

JOB_WORKFLOW = (
    "A job is submitted once and billed once: when a result says it is still processing, call get_task "
    "with its task_id (nothing is lost meanwhile) and never submit the same job again."
)


TASKS_EXTENSION = "io.modelcontextprotocol/tasks"  # SEP-2663, 2026-07-28 only
TASKS_WORKFLOW = (
    "A client that runs tools as MCP tasks may call a job tool as a task and follow it with tasks/get; "
    "get_task follows the same job by its task_id."
)

DESCRIPTION = "GLM models on Z.AI or BigModel: chat, web search, image and video generation, speech to text."
WEBSITE_URL = "https://github.com/mcp-server-glm/mcp-server-glm"  # server.json's io.github name
ICONS = [Icon(src=icon.PNG_DATA_URI, mime_type="image/png", sizes=[icon.SIZES])]

# Cache hints (2026-07-28, SEP-2549): what is fixed for the life of the server may be kept an hour and
# shared; whatever else is read (jobs, media, usage) stays private and stale at once (the SDK's default).
HOUR_MS = 3_600_000
STATIC = CacheHint(ttl_ms=HOUR_MS, scope="public")
CACHE_HINTS = {"tools/list": STATIC, "prompts/list": STATIC, "resources/templates/list": STATIC}
STATIC_RESOURCES = frozenset({"glm://models"})  # read with the STATIC hint


def instructions(tools: Sequence[ToolSpec], *, tasks: bool = False) -> str:
    """The server's instructions for the enabled `tools`: what each is for, and how jobs are followed
    when a job tool and get_task are both there; with `tasks` (the client can run tools as MCP tasks),
    also how a job started as a task is followed."""
    text = "Tools of the GLM platform (Z.AI / BigModel): " + "; ".join(spec.purpose for spec in tools) + "."
    if "get_task" in {spec.name for spec in tools} and any(spec.job for spec in tools):
        text += " " + JOB_WORKFLOW
        if tasks:
            text += " " + TASKS_WORKFLOW
    return text


def configured(listed: listing.Listed, settings: Settings) -> ToolEntry:
    """The tool's entry with the defaults its descriptions name taken from `settings` (its spec's
    `argument_texts`): a model reads the model and the wait this server will really use."""
    entry = listed.entry
    properties: dict[str, Any] = entry.input_schema.get("properties", {})
    values = _Attributes(settings)
    texts = {
        argument: template.format_map(values)
        for argument, template in listed.spec.argument_texts.items()
        if argument in properties
    }
    if not texts:
        return entry
    changed = {
        **properties,
        **{name: {**properties[name], "description": text} for name, text in texts.items()},
    }
    return entry.model_copy(update={"input_schema": {**entry.input_schema, "properties": changed}})


class _Attributes(dict[str, Any]):
    """The settings' attributes (fields and properties) as a mapping, to fill description templates."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def __missing__(self, key: str) -> Any:
        return getattr(self.settings, key)
