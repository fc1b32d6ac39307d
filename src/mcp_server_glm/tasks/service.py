"""The MCP tasks of this server, kept in the store: made from a job a tool call submitted (followed by
polling the API as the job's age sets, settled by the jobs code, so surviving a restart), or from a run
of a tool in this process (its result kept when it ends; a restart ends it as failed).

Replicas sharing a database serve each other's tasks: a job is polled by whoever holds its poll lease
(one server per polling age), and a run keeps a lease renewed while it lives, so another server fails
it only once that lease has expired (its server stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import importlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from .. import identity
from ..calls import beside
from ..errors import GLMError, JobError, JobFailed, JobUnchecked, JobUnsaved, Refusal, StoreError
from ..state import AppState
from ..tools.spec import ToolSpec

if TYPE_CHECKING:  # the store, the GLM client and the jobs code load on a task's first use, not at start
    from ..glm.jobs import PollSchedule
    from ..jobs.outcome import Outcome
    from ..store import McpTask, Store, TaskRecord

log = logging.getLogger(__name__)

WORKING, COMPLETED, FAILED, CANCELLED = "working", "completed", "failed", "cancelled"
ENDED = frozenset({COMPLETED, FAILED, CANCELLED})
DEFAULT_TTL_MS = 3_600_000  # a task is kept an hour unless the client asks for less
MAX_TTL_MS = 86_400_000  # and never more than a day, whatever it asks
HINT_FLOORS = 5  # the poll hint is at least this many GLM_POLL_INTERVAL (5 s by default): a video is slow
DROP_SECONDS = 5.0  # the most a run's end waits for the store to take back its lease
NO_CANCEL = (
    "Cancelled: this server stopped following GLM job {job}. GLM has no way to cancel a running job, so "
    "it may still finish and is billed; get_task with task_id {job} picks it up."
)

WireResult = dict[str, Any]
RUNNING: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcp_task", default=None)  # a run's task


class Tasks:
    """The task-capable tools (`specs`) and their tasks. `describe` writes a failure of the error tree
    as the server's boundary does; `server` is set once the server is built."""

    def __init__(
        self, specs: Mapping[str, ToolSpec], describe: Callable[[GLMError | Refusal | JobError], str]
    ) -> None:
        self.specs = dict(specs)
        self.describe = describe
        self.required: set[str] = set()  # tools that run only as tasks (none of ours: the fixtures')
        self.server: MCPServer[Any] | None = None
        self._runs: dict[str, asyncio.Task[None]] = {}  # runs of tools in this process, by task id
        self._polled: dict[str, float] = {}  # a job task's age at its last poll here, by task id
        self._locks: dict[str, anyio.Lock] = {}
        # Questions a run asked its client (2026-07-28 inputRequests), by task id, then key.
        self._asked: dict[str, dict[str, tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]] = {}

    def supports(self, tool: object) -> bool:
        return isinstance(tool, str) and tool in self.specs

    def follows_jobs(self, tool: str) -> bool:
        return self.specs[tool].job

    def add(self, spec: ToolSpec, *, required: bool = False) -> None:
        """Let a tool added outside the registry run as a task (a run in this process unless `job`)."""
        self.specs[spec.name] = spec
        if required:
            self.required.add(spec.name)

    @staticmethod
    def ttl(requested: object) -> int:
        """The task's lifetime in ms: the one asked for, at most MAX_TTL_MS; always an integer."""
        if isinstance(requested, int | float) and not isinstance(requested, bool) and requested > 0:
            return int(min(requested, MAX_TTL_MS))
        return DEFAULT_TTL_MS

    def poll_ms(self, rctx: ServerRequestContext[Any, Any], task: McpTask) -> int:
        """When to ask again: the job's next polling age (a few seconds at first, GLM_POLL_MAX_INTERVAL
        later on), never sooner than HINT_FLOORS x GLM_POLL_INTERVAL."""
        settings = _state(rctx).settings
        schedule = _schedule(rctx)
        age = max(0.0, time.time() - task.created_at)
        gap = schedule.next_after(age) - age
        return int(1000 * min(settings.poll_max_interval, max(gap, HINT_FLOORS * settings.poll_interval)))

    async def open_job(
        self, rctx: ServerRequestContext[Any, Any], tool: str, job_id: str, ttl_ms: int, message: str
    ) -> McpTask:
        return await self._open(rctx, _task(_new_id(), tool, job_id, WORKING, message, None, ttl_ms))

    async def open_done(
        self, rctx: ServerRequestContext[Any, Any], tool: str, result: WireResult, ttl_ms: int
    ) -> McpTask:
        """A task for a call that ended within its first moments: already completed (or failed)."""
        status, message = _ended(tool, result)
        return await self._open(rctx, _task(_new_id(), tool, None, status, message, result, ttl_ms))

    async def open_run(
        self,
        rctx: ServerRequestContext[Any, Any],
        tool: str,
        ttl_ms: int,
        run: Callable[[], Awaitable[WireResult]],
    ) -> McpTask:
        """A task for a run of the tool in this process, started now; its result is kept when it ends.
        Its lease (this server's, renewed while the run lives) is taken before the task is visible."""
        records, owner, task_id = await _records(rctx), _state(rctx).owner, _new_id()
        lease = _run_lease(rctx)
        await records.take_lease(run_key(task_id), owner, lease)
        task = await self._open(rctx, _task(task_id, tool, None, WORKING, f"{tool} is running", None, ttl_ms))

        async def follow() -> None:
            RUNNING.set(task_id)
            try:
                try:
                    async with beside(lambda: self._keep(records, task_id, owner, lease)):
                        result = await run()
                except MCPError as exc:  # a protocol error, not a tool's: the task fails with it
                    error = exc.error.model_dump(by_alias=True, mode="json", exclude_none=True)
                    result = {"error": error}
                except Exception:
                    log.exception("The task run of %s crashed", tool)
                    crashed = f"{tool} crashed; the server log has it."
                    result = {"error": {"code": INTERNAL_ERROR, "message": crashed}}
                status, message = _ended(tool, result)
                with anyio.CancelScope(shield=True):
                    await records.update_mcp_task(task_id, status=status, message=message, result=result)
            except StoreError as exc:
                log.warning("The end of the task run of %s is not recorded: %s", tool, exc)
            finally:  # after the result: a server reading the task meanwhile never finds it unowned
                with anyio.move_on_after(DROP_SECONDS, shield=True), contextlib.suppress(StoreError):
                    await records.drop_lease(run_key(task_id), owner)

        runner = asyncio.get_running_loop().create_task(follow())
        self._runs[task_id] = runner
        runner.add_done_callback(lambda _: self._runs.pop(task_id, None))
        return task

    async def _keep(self, records: Store, task_id: str, owner: str, lease: float) -> None:
        """While a run lives: renews its lease (every third of it), and stops it once the task ended
        elsewhere (cancelled through another replica)."""
        while True:
            await anyio.sleep(lease / 3)
            try:
                await records.take_lease(run_key(task_id), owner, lease)
                task = await records.get_mcp_task(task_id)
            except StoreError as exc:
                log.warning("The lease of task run %s is not renewed: %s", task_id, exc)
                continue
            if task is None or task.status != WORKING:
                runner = self._runs.get(task_id)
                if runner is not None:
                    runner.cancel()
                return

    async def ask(self, requests: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Inside a task's run: ask the client (`requests` by key, each a server-to-client request such
        as `elicitation/create`); the task is input_required until tasks/update has answered them all.
        Returns the answers by key."""
        task_id = RUNNING.get()
        if task_id is None:
            raise RuntimeError("ask() is for a tool running as a task")
        loop = asyncio.get_running_loop()
        pending = {key: (dict(request), loop.create_future()) for key, request in requests.items()}
        asked = self._asked.setdefault(task_id, {})
        asked.update(pending)
        try:
            return {key: await answer for key, (_, answer) in pending.items()}
        finally:
            for key in pending:
                asked.pop(key, None)
            if not asked:
                self._asked.pop(task_id, None)

    def questions(self, task_id: str) -> dict[str, dict[str, Any]]:
        """What the task's run is waiting for the client to answer, by key."""
        asked = self._asked.get(task_id, {})
        return {key: request for key, (request, answer) in asked.items() if not answer.done()}

    def answer(self, task_id: str, responses: Mapping[str, Any]) -> None:
        """Answers from tasks/update: keys not asked (or answered already) are ignored."""
        asked = self._asked.get(task_id, {})
        for key, response in responses.items():
            entry = asked.get(key)
            if entry is not None and not entry[1].done() and isinstance(response, dict):
                entry[1].set_result(response)

    async def forget(self, rctx: ServerRequestContext[Any, Any], task_id: str) -> None:
        """Drop a task that is not one after all (its call asked for input before it could start)."""
        await (await _records(rctx)).drop_mcp_task(task_id)

    async def _open(self, rctx: ServerRequestContext[Any, Any], task: McpTask) -> McpTask:
        records = await _records(rctx)
        await records.add_mcp_task(task)  # before the handle goes out: a tasks/get for it succeeds
        found = await records.get_mcp_task(task.id)
        assert found is not None
        return found

    async def find(self, rctx: ServerRequestContext[Any, Any], task_id: str) -> McpTask:
        """The task as it stands now (a job polled when its age says so), or -32602 for an id that
        is unknown or expired."""
        records = await _records(rctx)
        task = await records.get_mcp_task(task_id)
        if task is None or not identity.visible_to_caller(task.user_id):  # another user's: unknown
            raise MCPError(INVALID_PARAMS, f"Unknown task id {task_id}: ids come from a task-augmented call.")
        if time.time() > task.created_at + task.ttl_ms / 1000:
            raise MCPError(INVALID_PARAMS, f"Task {task_id} has expired (its ttl was {task.ttl_ms} ms).")
        if task.status != WORKING:
            return task
        lock = self._locks.setdefault(task_id, anyio.Lock())
        async with lock:
            return await self._refresh(rctx, records, task_id)

    async def wait(self, rctx: ServerRequestContext[Any, Any], task_id: str) -> McpTask:
        """The task once it has ended (2025-11-25 `tasks/result` blocks until then)."""
        while True:
            task = await self.find(rctx, task_id)
            if task.status != WORKING:
                return task
            await anyio.sleep(self.poll_ms(rctx, task) / 1000)

    async def wait_run(self, task_id: str, seconds: float) -> None:
        """Wait up to `seconds` for a run of a tool in this process to end (it goes on after)."""
        runner = self._runs.get(task_id)
        if runner is not None:
            await asyncio.wait({runner}, timeout=seconds)

    async def cancel(self, rctx: ServerRequestContext[Any, Any], task_id: str) -> McpTask | None:
        """Stop following the task and mark it cancelled; None when it had already ended."""
        task = await self.find(rctx, task_id)
        if task.status in ENDED:
            return None
        runner = self._runs.get(task_id)
        if runner is not None:
            runner.cancel()
        if task.job_id is None:  # a run on another replica stops at its next renewal
            message = f"Cancelled: the run of {task.tool} was stopped."
        else:
            message = NO_CANCEL.format(job=task.job_id)
        records = await _records(rctx)
        return await records.update_mcp_task(task_id, status=CANCELLED, message=message)

    async def page(
        self, rctx: ServerRequestContext[Any, Any], cursor: str | None, size: int = 50
    ) -> tuple[list[McpTask], str | None]:
        """A page of tasks, newest first, and the cursor of the next (-32602 for a cursor not ours)."""
        before = None
        if cursor is not None:
            try:
                before = float(cursor)
            except ValueError:
                raise MCPError(
                    INVALID_PARAMS, f"Invalid cursor {cursor!r}: pass nextCursor as given."
                ) from None
        records = await _records(rctx)
        found = await records.recent_mcp_tasks(size + 1, before, identity.owner_filter())
        now = time.time()
        live = [task for task in found[:size] if now <= task.created_at + task.ttl_ms / 1000]
        return live, repr(found[size - 1].created_at) if len(found) > size else None

    async def _refresh(self, rctx: ServerRequestContext[Any, Any], records: Store, task_id: str) -> McpTask:
        task = await records.get_mcp_task(task_id)
        assert task is not None
        if task.status != WORKING:
            return task
        owner = _state(rctx).owner
        if task.job_id is None:
            if task_id in self._runs:
                return task
            # A run lives in its server, which renews its lease: taken here, that server has stopped.
            if not await records.take_lease(run_key(task_id), owner, _run_lease(rctx)):
                return task
            message = (
                f"The server running this run of {task.tool} stopped (a restart, or its replica gone) "
                f"before it ended; call {task.tool} again."
            )
            ended = await records.update_mcp_task(
                task_id, status=FAILED, message=message, result=_error_result(message)
            )
            await records.drop_lease(run_key(task_id), owner)
            return ended or task
        from ..jobs.follow import poll_key

        record = await records.get_task(task.job_id)
        if record is None or record.status not in ("SUCCESS", "FAIL"):
            schedule = _schedule(rctx)
            age = time.time() - task.created_at
            last = self._polled.get(task_id)
            if last is not None and age < schedule.next_after(last):
                return task  # asked again before the job's next polling age: the API is not asked
            # Of the servers sharing the store, the one taking the job's lease until its next polling age
            # asks the API; the others answer from the store until the lease's holder settles it.
            if not await records.take_lease(poll_key(task.job_id), owner, schedule.next_after(age) - age):
                return task
            self._polled[task_id] = age
        status, message, result = await self._look(rctx, records, task, record)
        if status != WORKING:
            self._polled.pop(task_id, None)
        return await records.update_mcp_task(task_id, status=status, message=message, result=result) or task

    async def _look(
        self, rctx: ServerRequestContext[Any, Any], records: Store, task: McpTask, record: TaskRecord | None
    ) -> tuple[str, str, WireResult | None]:
        """Where the task's job stands: read from the store when it has ended, else polled once and
        settled by the jobs code as get_task settles it."""
        from ..jobs.outcome import seconds_text
        from ..jobs.settle import report_recorded
        from ..jobs.wait import wait_and_settle

        assert task.job_id is not None and self.server is not None
        job_id = task.job_id
        ctx: Context[Any, Any] = Context(request_context=rctx, mcp_server=self.server)
        unrecorded = _state(rctx).unrecorded.get(job_id) if record is None else None
        try:
            if record is not None and record.status in ("SUCCESS", "FAIL"):
                outcome = await report_recorded(ctx, record)
            else:
                known = record or (unrecorded.record if unrecorded is not None else None)
                outcome = await wait_and_settle(ctx, job_id, known, 0.0, unrecorded)
        except JobUnchecked as exc:  # the API could not be asked this time: the job goes on
            return WORKING, self.describe(exc), None
        except (GLMError, Refusal, JobError) as exc:
            line = self.describe(exc)
            if not isinstance(exc, JobFailed | JobUnsaved):
                log.warning("The task %s of %s failed: %s", task.id, task.tool, line)
            return FAILED, line, _error_result(f"Error executing tool {task.tool}: {line}")
        if outcome.job.status == "PROCESSING":
            age = outcome.job.elapsed_seconds
            old = f", {seconds_text(age)} old" if age is not None else ""
            return WORKING, f"GLM job {job_id} is processing{old}.", None
        record = record or await records.get_task(job_id)
        result = await self._result(ctx, task.tool, outcome, record)
        wire = _wire(result)
        return (*_ended(task.tool, wire), wire)

    async def _result(
        self, ctx: Context[Any, Any], tool: str, outcome: Outcome, record: TaskRecord | None
    ) -> CallToolResult:
        """What the tool's call would have answered: its module's `task_result` when it shapes job
        results its own way (generate_image), else the job's outcome as every job tool reports it."""
        module = importlib.import_module(self.specs[tool].module)
        shape = getattr(module, "task_result", None)
        if shape is None or record is None:
            return outcome.as_result()
        shaped: CallToolResult = await shape(ctx, outcome, record)
        return shaped


def _schedule(rctx: ServerRequestContext[Any, Any]) -> PollSchedule:
    from ..glm.jobs import PollSchedule

    settings = _state(rctx).settings
    return PollSchedule(floor=settings.poll_interval, cap=settings.poll_max_interval)


def _run_lease(rctx: ServerRequestContext[Any, Any]) -> float:
    """How long a run's lease lasts unrenewed: as a job's poll lease, LEASE_POLLS x GLM_POLL_MAX_INTERVAL
    (90 s by default), so a slow store or a busy server does not pass for a stopped one."""
    from ..jobs.follow import LEASE_POLLS

    return LEASE_POLLS * _state(rctx).settings.poll_max_interval


def run_key(task_id: str) -> str:
    """The lease of a run of a tool, held by the server running it."""
    return f"run:{task_id}"


def _task(*fields: Any) -> McpTask:
    from ..store import McpTask

    return dataclasses.replace(McpTask(*fields), user_id=identity.current_user())


def _new_id() -> str:
    return secrets.token_urlsafe(24)  # a bearer handle: unguessable


def _state(rctx: ServerRequestContext[Any, Any]) -> AppState:
    state: AppState = rctx.lifespan_context
    return state


async def _records(rctx: ServerRequestContext[Any, Any]) -> Store:
    return await _state(rctx).store.get()


def _error_result(text: str) -> WireResult:
    return _wire(CallToolResult(content=[TextContent(type="text", text=text)], is_error=True))


def _wire(result: CallToolResult) -> WireResult:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def _ended(tool: str, result: WireResult) -> tuple[str, str]:
    """The status and message of a task whose call ended with `result` (a failure's one line); a
    protocol error is kept as `{"error": ...}`."""
    if isinstance(error := result.get("error"), dict):
        return FAILED, str(error.get("message"))
    text = next((block.get("text") for block in result.get("content", []) if block.get("type") == "text"), "")
    if result.get("isError"):
        return FAILED, str(text).removeprefix(f"Error executing tool {tool}: ")
    first = str(text).split(". ")[0].rstrip(".")
    return COMPLETED, f"Done: {first}."[:300]
