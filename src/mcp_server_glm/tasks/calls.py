"""The server middleware of tasks: a `tools/call` that asks for a task (a 2025-11-25 `task` param, or
the 2026-07-28 extension declared in the request) runs the real tool, then answers with a handle; on
2025-11-25 it also adds `capabilities.tasks` to `initialize` and `execution.taskSupport` to `tools/list`.

A middleware, not the extension's tool-call interceptor: the 2025 handle is not a `CallToolResult`, which
the SDK would refuse from a handler, and the call's arguments (the short wait) can be set only here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import METHOD_NOT_FOUND

from .service import Tasks, WireResult
from .wire import EXTENSION, IMMEDIATE_RESPONSE, LEGACY, legacy_task, modern_task

CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
LEGACY_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
# How long a task's call first runs before its handle goes out: a job is polled once (GLM_POLL_INTERVAL
# after it was submitted), a run is given RUN_WINDOW seconds; one done by then is answered as it is.
RUN_WINDOW = 0.25


class TaskCalls:
    """`Server.middleware` entry for the tasks of `tasks`."""

    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "initialize":
            return _with_capability(await call_next(ctx))
        legacy = ctx.protocol_version == LEGACY
        if ctx.method == "tools/list" and legacy:
            return self._with_task_support(await call_next(ctx))
        if ctx.method != "tools/call" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        params = dict(ctx.params)
        asked = params.pop("task", None)
        if legacy and asked is not None:
            if not self.tasks.supports(params.get("name")):
                raise MCPError(METHOD_NOT_FOUND, f"{params.get('name')} does not run as a task.")
            ttl = self.tasks.ttl(asked.get("ttl") if isinstance(asked, Mapping) else None)
            return await self._call(ctx, call_next, params, ttl, legacy=True)
        name = params.get("name")
        if not legacy and self.tasks.supports(name):
            if _declares_extension(params):
                return await self._call(ctx, call_next, params, self.tasks.ttl(None), legacy=False)
            if name in self.tasks.required:
                require_client_extension(ctx, EXTENSION)  # -32021, naming the extension
        if legacy and name in self.tasks.required:
            raise MCPError(METHOD_NOT_FOUND, f"{name} runs only as a task: call it with a task.")
        return await call_next(ctx)

    async def _call(
        self,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
        params: dict[str, Any],
        ttl: int,
        *,
        legacy: bool,
    ) -> HandlerResult:
        tool: str = params["name"]
        if self.tasks.follows_jobs(tool):
            window = ctx.lifespan_context.settings.poll_interval
            # The real tool submits the job once and waits a moment; its answer names the job.
            arguments = dict(params.get("arguments") or {})
            given = arguments.get("wait_seconds")
            arguments["wait_seconds"] = min(given, window) if isinstance(given, int | float) else window
            wire = _wire(await call_next(dataclasses.replace(ctx, params={**params, "arguments": arguments})))
            structured = wire.get("structuredContent") or {}
            job = structured.get("task_id") if structured.get("status") == "PROCESSING" else None
            if isinstance(job, str) and not wire.get("isError"):
                task = await self.tasks.open_job(ctx, tool, job, ttl, f"GLM job {job} is processing.")
                return self._handle(ctx, task, wire, legacy=legacy)
            if not legacy:
                return wire  # the extension lets the server answer with the result itself
            return self._handle(ctx, await self.tasks.open_done(ctx, tool, wire, ttl), wire, legacy=True)
        # Any other tool runs in the background (its progress has no request to go to).
        quiet = {
            **params,
            "_meta": {k: v for k, v in (params.get("_meta") or {}).items() if k != "progressToken"},
        }

        async def run() -> WireResult:
            return _wire(await call_next(dataclasses.replace(ctx, params=quiet)))

        task = await self.tasks.open_run(ctx, tool, ttl, run)
        await self.tasks.wait_run(task.id, RUN_WINDOW)
        task = await self.tasks.find(ctx, task.id)
        if task.result is not None and task.result.get("resultType") == "input_required":
            await self.tasks.forget(ctx, task.id)  # an MRTR round of tools/call: no task yet
            return task.result
        if not legacy and task.result is not None and tool not in self.tasks.required:
            return task.result
        return self._handle(ctx, task, None, legacy=legacy)

    def _handle(
        self, ctx: ServerRequestContext[Any, Any], task: Any, wire: WireResult | None, *, legacy: bool
    ) -> dict[str, Any]:
        poll = self.tasks.poll_ms(ctx, task)
        if legacy:
            handle: dict[str, Any] = {"task": legacy_task(task, poll)}
            text = _text(wire)
            if text:
                handle["_meta"] = {IMMEDIATE_RESPONSE: text}
            return handle
        shown = modern_task(task, poll)
        shown.pop("result", None)
        meta = (wire or {}).get("_meta")
        return {"resultType": "task", **shown, **({"_meta": meta} if meta else {})}

    def _with_task_support(self, result: HandlerResult) -> HandlerResult:
        wire = _wire(result)
        tools = [
            {**entry, "execution": {"taskSupport": "optional"}}
            if self.tasks.supports(entry.get("name"))
            else entry
            for entry in wire.get("tools", [])
        ]
        return {**wire, "tools": tools}


def _with_capability(result: HandlerResult) -> HandlerResult:
    wire = _wire(result)
    if wire.get("protocolVersion") != LEGACY:
        return wire
    capabilities = {**wire.get("capabilities", {}), "tasks": LEGACY_CAPABILITY}
    return {**wire, "capabilities": capabilities}


def _declares_extension(params: Mapping[str, Any]) -> bool:
    meta = params.get("_meta")
    declared = meta.get(CLIENT_CAPABILITIES) if isinstance(meta, Mapping) else None
    extensions = declared.get("extensions") if isinstance(declared, Mapping) else None
    return isinstance(extensions, Mapping) and EXTENSION in extensions


def _wire(result: HandlerResult) -> WireResult:
    if result is None:
        return {}
    if isinstance(result, dict):
        return result
    dumped: WireResult = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


def _text(wire: WireResult | None) -> str | None:
    for block in (wire or {}).get("content", []):
        if block.get("type") == "text":
            return str(block.get("text"))
    return None
