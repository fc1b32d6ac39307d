"""MCP tasks over the task store: a long tool call answered with a task handle that the client polls,
in both wire dialects (the 2025-11-25 core tasks and the 2026-07-28 `io.modelcontextprotocol/tasks`).

`service` keeps the tasks (store rows mapping an unguessable id to the GLM job it follows, or a run of a
tool in this process); `calls` is the server middleware that turns a task-augmented `tools/call` into a
handle (and patches the 2025 capabilities and tool entries); `methods` is the extension that serves
`tasks/*`; `wire` writes a task in each dialect. `install` is all the server needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mcp.server.extension import Extension
from mcp.server.mcpserver import MCPServer

from ..errors import GLMError, JobError, Refusal
from ..tools.spec import ToolSpec
from .calls import TaskCalls
from .methods import TasksExtension
from .service import Tasks


def extensions(
    specs: Sequence[ToolSpec], describe: Callable[[GLMError | Refusal | JobError], str]
) -> list[Extension]:
    """The tasks extension for the task-capable tools among `specs` (`describe` writes a failure's
    one line, as the server's boundary does); none when no tool can run as a task."""
    capable = {spec.name: spec for spec in specs if spec.task_support}
    return [TasksExtension(Tasks(capable, describe))] if capable else []


def install(server: MCPServer[Any], added: Sequence[Extension]) -> None:
    """Hand the tasks extension in `added` (if any) its server and put its middleware on it."""
    for extension in added:
        if isinstance(extension, TasksExtension):
            extension.tasks.server = server
            server.middleware.append(TaskCalls(extension.tasks))


def tasks_of(server: MCPServer[Any]) -> Tasks | None:
    """The tasks `install` put on `server`, if any (to let a tool added later run as a task)."""
    found = [entry.tasks for entry in server.middleware if isinstance(entry, TaskCalls)]
    return found[0] if found else None
