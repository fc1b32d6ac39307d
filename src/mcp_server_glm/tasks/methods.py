"""The tasks extension (`io.modelcontextprotocol/tasks`, advertised in 2026-07-28 `server/discover`) and
the `tasks/*` methods of both dialects: get and cancel in both, result and list in 2025-11-25 only,
update in 2026-07-28 only (answers to what a run asked through `Tasks.ask`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp.types import RequestParams
from mcp_types import HEADER_MISMATCH, INVALID_PARAMS
from pydantic import Field

from .service import Tasks
from .wire import EXTENSION, LEGACY, legacy_result, legacy_task, modern_task

MODERN = "2026-07-28"
BOTH = frozenset({LEGACY, MODERN})


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId")


class ListParams(RequestParams):
    cursor: str | None = None


class UpdateParams(TaskParams):
    input_responses: dict[str, Any] | None = Field(default=None, alias="inputResponses")


class TasksExtension(Extension):
    identifier = EXTENSION

    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("tasks/get", TaskParams, self._get, protocol_versions=BOTH),
            MethodBinding("tasks/cancel", TaskParams, self._cancel, protocol_versions=BOTH),
            MethodBinding("tasks/result", TaskParams, self._result, protocol_versions=frozenset({LEGACY})),
            MethodBinding("tasks/list", ListParams, self._list, protocol_versions=frozenset({LEGACY})),
            MethodBinding("tasks/update", UpdateParams, self._update, protocol_versions=frozenset({MODERN})),
        )

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        _check_modern(ctx, params.task_id)
        task = await self.tasks.find(ctx, params.task_id)
        poll = self.tasks.poll_ms(ctx, task)
        if ctx.protocol_version == LEGACY:
            return legacy_task(task, poll)
        return modern_task(task, poll, self.tasks.questions(task.id))

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        _check_modern(ctx, params.task_id)
        task = await self.tasks.cancel(ctx, params.task_id)
        if ctx.protocol_version != LEGACY:
            return {}  # an acknowledgement: cancellation is cooperative in the extension
        if task is None:
            raise MCPError(
                INVALID_PARAMS, f"Task {params.task_id} has already ended: it cannot be cancelled."
            )
        return legacy_task(task, self.tasks.poll_ms(ctx, task))

    async def _result(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        return legacy_result(await self.tasks.wait(ctx, params.task_id))

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: ListParams) -> HandlerResult:
        found, cursor = await self.tasks.page(ctx, params.cursor)
        listed: dict[str, Any] = {
            "tasks": [legacy_task(task, self.tasks.poll_ms(ctx, task)) for task in found]
        }
        if cursor is not None:
            listed["nextCursor"] = cursor
        return listed

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateParams) -> HandlerResult:
        _check_modern(ctx, params.task_id)
        await self.tasks.find(ctx, params.task_id)
        self.tasks.answer(params.task_id, params.input_responses or {})
        return {}


def _check_modern(ctx: ServerRequestContext[Any, Any], task_id: str) -> None:
    """On 2026-07-28: the request declared the extension, and an Mcp-Name header names its task."""
    if ctx.protocol_version == LEGACY:
        return
    require_client_extension(ctx, EXTENSION)
    headers = getattr(ctx.request, "headers", None)
    if headers is None:
        return  # stdio: no headers to route by
    named = headers.get("mcp-name")
    if named != task_id:
        shown = "is missing" if named is None else f"{named!r} does not match taskId {task_id!r}"
        raise MCPError(HEADER_MISMATCH, f"The Mcp-Name header {shown}: it must name the task.")
