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

# The owner (user_id, last) is set once, at insert: an update of a row never changes it.
TASK_COLUMNS = "id, kind, model, request, status, result, error, created_at, updated_at, user_id"
MEDIA_COLUMNS = "name, path, mime_type, size, source_url, task_id, created_at, user_id"
MCP_TASK_COLUMNS = "id, tool, job_id, status, message, result, ttl_ms, created_at, updated_at, user_id"


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
    user_id: str = ""  # who submitted it (the sign-in's sub); '' without sign-in


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
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class MediaRecord:
    name: str
    path: str
    mime_type: str
    size: int
    source_url: str
    task_id: str | None = None
    created_at: float = 0.0  # unix seconds; 0 means "now" when recorded
    user_id: str = ""  # whose it is: the job's submitter, or the caller that saved it; '' without sign-in


@dataclass(frozen=True, slots=True)
class UsageTotal:
    tool: str
    model: str
    calls: int
    units: int
    unit: str
    user: str = ""  # set when the totals are per user (usage_totals(by_user=True))


# tool, model, units, unit, when (unix seconds) and, optionally, the user ('' when left out); a plain
# tuple, so counting needs no import of this module
UsageRow = tuple[str, str, int, str, float] | tuple[str, str, int, str, float, str]
StoredUsage = tuple[str, str, int, str, float, str]  # a usage row as the tables take it


def usage_row(row: object) -> StoredUsage | None:
    """A usage row as the tables take it (its user '' when left out), or None when it is not one."""
    if not isinstance(row, tuple) or len(row) not in (5, 6):
        return None
    tool, model, units, unit, at, *rest = row
    user = rest[0] if rest else ""
    if not (isinstance(tool, str) and isinstance(model, str) and isinstance(unit, str)):
        return None
    if not isinstance(user, str):
        return None
    if isinstance(units, bool) or not isinstance(units, int) or isinstance(at, bool):
        return None
    if not isinstance(at, int | float) or not math.isfinite(at):
        return None
    units = min(max(units, 0), MAX_UNITS)
    return valid_text(tool), valid_text(model), units, valid_text(unit), float(at), valid_text(user)


def valid_text(text: str) -> str:
    """`text` as a database can store it: a lone surrogate (which UTF-8 cannot encode) becomes `?`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
