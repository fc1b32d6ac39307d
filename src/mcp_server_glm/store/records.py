"""What the store holds, as plain records, and the limits every engine applies to what it writes.

Shared by both engines (SQLite and PostgreSQL), so a record read from either is the same object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SUBMITTING = "SUBMITTING"  # status of a job being submitted: the API may have it, its id is not known yet
# The most units one usage row counts (glm.models.MAX_COUNT clamps upstream counts the same way):
# millions of such rows still sum inside 64-bit integers.
MAX_UNITS = 10**12

TASK_COLUMNS = "id, kind, model, request, status, result, error, created_at, updated_at"
MEDIA_COLUMNS = "name, path, mime_type, size, source_url, task_id, created_at"
MCP_TASK_COLUMNS = "id, tool, job_id, status, message, result, ttl_ms, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    kind: str
    model: str
    request: dict[str, Any]
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0  # unix seconds; 0 means "now" when recorded
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class McpTask:
    """An MCP task handle: `status` is working, completed, failed or cancelled; `result` the final
    CallToolResult as it went on the wire; `job_id` the GLM job it follows (None: a run in this process)."""

    id: str
    tool: str
    job_id: str | None
    status: str
    message: str | None = None
    result: dict[str, Any] | None = None
    ttl_ms: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class MediaRecord:
    name: str
    path: str
    mime_type: str
    size: int
    source_url: str
    task_id: str | None = None
    created_at: float = 0.0  # unix seconds; 0 means "now" when recorded


@dataclass(frozen=True, slots=True)
class UsageTotal:
    tool: str
    model: str
    calls: int
    units: int
    unit: str


# tool, model, units, unit, and when (unix seconds); a plain tuple, so counting needs no import of this module
UsageRow = tuple[str, str, int, str, float]


def usage_row(row: object) -> UsageRow | None:
    """A usage row as the tables take it, or None when it is not one."""
    if not isinstance(row, tuple) or len(row) != 5:
        return None
    tool, model, units, unit, at = row
    if not (isinstance(tool, str) and isinstance(model, str) and isinstance(unit, str)):
        return None
    if isinstance(units, bool) or not isinstance(units, int) or isinstance(at, bool):
        return None
    if not isinstance(at, int | float) or not math.isfinite(at):
        return None
    return valid_text(tool), valid_text(model), min(max(units, 0), MAX_UNITS), valid_text(unit), float(at)


def valid_text(text: str) -> str:
    """`text` as a database can store it: a lone surrogate (which UTF-8 cannot encode) becomes `?`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
