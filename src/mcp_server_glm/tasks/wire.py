"""A task as each dialect writes it: 2025-11-25 (`ttl`, `pollInterval`, nested in `task` when created,
`failed` for a tool error) and the 2026-07-28 extension (flat with `resultType`, `ttlMs`, `pollIntervalMs`,
the result inlined, a tool error `completed`).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from mcp.shared.exceptions import MCPError
from mcp.types import ErrorData

from .service import COMPLETED, FAILED, WORKING

if TYPE_CHECKING:
    from ..store import McpTask

LEGACY = "2025-11-25"
EXTENSION = "io.modelcontextprotocol/tasks"
RELATED_TASK = "io.modelcontextprotocol/related-task"
IMMEDIATE_RESPONSE = "io.modelcontextprotocol/model-immediate-response"


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


def legacy_task(task: McpTask, poll_ms: int) -> dict[str, Any]:
    """The 2025-11-25 `Task` (every required field present, `ttl` an integer)."""
    shown: dict[str, Any] = {
        "taskId": task.id,
        "status": task.status,
        "createdAt": _when(task.created_at),
        "lastUpdatedAt": _when(task.updated_at),
        "ttl": task.ttl_ms,
        "pollInterval": poll_ms,
    }
    if task.message:
        shown["statusMessage"] = task.message
    return shown


def legacy_result(task: McpTask) -> dict[str, Any]:
    """What `tasks/result` gives: the call's own result, tagged with its task (or its protocol error)."""
    if is_protocol_error(task):
        raise MCPError.from_error_data(ErrorData.model_validate((task.result or {})["error"]))
    result = {key: value for key, value in (task.result or _cancelled(task)).items() if key != "resultType"}
    result["_meta"] = {**result.get("_meta", {}), RELATED_TASK: {"taskId": task.id}}
    return result


def modern_task(task: McpTask, poll_ms: int, questions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 2026-07-28 task (the handle, and tasks/get's DetailedTask with the result inlined, or the
    `questions` its run waits for, as input_required)."""
    # The extension reserves `failed` for JSON-RPC errors: a tool's error result is `completed`.
    failed = is_protocol_error(task)
    ended = task.status in (COMPLETED, FAILED) and not failed
    shown: dict[str, Any] = {
        "taskId": task.id,
        "status": COMPLETED if ended else task.status,
        "createdAt": _when(task.created_at),
        "lastUpdatedAt": _when(task.updated_at),
        "ttlMs": task.ttl_ms,
        "pollIntervalMs": poll_ms,
    }
    if task.message:
        shown["statusMessage"] = task.message
    if ended:
        shown["result"] = task.result or _cancelled(task)
    if failed:
        shown["error"] = (task.result or {})["error"]
    if questions and task.status == WORKING:
        shown["status"], shown["inputRequests"] = "input_required", questions
    return shown


def is_protocol_error(task: McpTask) -> bool:
    return task.status == FAILED and task.result is not None and "error" in task.result


def _cancelled(task: McpTask) -> dict[str, Any]:
    text = task.message or f"Task {task.id} was cancelled."
    return {"content": [{"type": "text", "text": text}], "isError": True}
