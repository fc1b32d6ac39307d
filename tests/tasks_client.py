"""A small client of the 2026-07-28 tasks extension for the Python SDK (which ships none): it declares
`io.modelcontextprotocol/tasks`, claims `resultType: "task"` and polls `tasks/get` to the inlined result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import anyio
from mcp import types
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.types import CallToolResult
from mcp_types import Result
from pydantic import ConfigDict, Field

EXTENSION = "io.modelcontextprotocol/tasks"


class TaskHandle(Result):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    result_type: Literal["task"] = Field(default="task", alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    status_message: str | None = Field(default=None, alias="statusMessage")
    ttl_ms: int = Field(alias="ttlMs")
    poll_interval_ms: int = Field(alias="pollIntervalMs")


class DetailedTask(Result):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    task_id: str = Field(alias="taskId")
    status: str
    status_message: str | None = Field(default=None, alias="statusMessage")
    poll_interval_ms: int = Field(alias="pollIntervalMs")
    ttl_ms: int = Field(alias="ttlMs")
    result: dict[str, Any] | None = None


class TaskIdParams(types.RequestParams):
    task_id: str = Field(alias="taskId")


class GetTask(types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class CancelTask(types.Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class TasksClient(ClientExtension):
    """Resolves a task handle by polling `tasks/get` at the server's hint; `seen` keeps every status."""

    identifier = EXTENSION

    def __init__(self) -> None:
        self.seen: list[DetailedTask] = []
        self.handles: list[TaskHandle] = []

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=self._resolve)]

    async def _resolve(self, handle: TaskHandle, ctx: ClaimContext) -> CallToolResult:
        self.handles.append(handle)
        while True:
            task = await get_task(ctx.session, handle.task_id)
            self.seen.append(task)
            if task.status in ("completed", "failed", "cancelled"):
                assert task.result is not None, task
                return CallToolResult.model_validate(task.result)
            await anyio.sleep(task.poll_interval_ms / 1000)


async def get_task(session: Any, task_id: str) -> DetailedTask:
    task: DetailedTask = await session.send_request(
        GetTask(params=TaskIdParams(taskId=task_id)), DetailedTask
    )
    return task


async def cancel_task(session: Any, task_id: str) -> None:
    await session.send_request(CancelTask(params=TaskIdParams(taskId=task_id)), Result)
