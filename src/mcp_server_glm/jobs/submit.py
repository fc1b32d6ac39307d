"""Submitting a paid async job once: a pending row first, the job and its usage recorded in one
transaction, the journal when the database refuses it, and an identical job still processing returned
instead of a second one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field

from .. import identity
from ..calls import app_state, store
from ..errors import APIError, ConnectionFailed, StoreError
from ..glm.models import TaskResult
from ..state import AppState
from ..store import SUBMITTING, Store, TaskRecord, UsageRow
from .outcome import age_text, one_at_a_time

log = logging.getLogger(__name__)

New = Annotated[bool, Field(description="Submit even if an identical job is still processing.")]


@dataclass(frozen=True, slots=True)
class Submitted:
    """A paid job the API accepted. When the store could not record it, `problem` says why, and the
    pending row and usage it must be recorded with are kept to try again when the job ends."""

    record: TaskRecord
    problem: str | None = None
    pending: str | None = None
    usage: UsageRow | None = None
    same: bool = False  # an identical job still processing, returned instead of a new one

    @property
    def note(self) -> str | None:
        task = self.record.id
        notes = []
        if self.same:
            notes.append(
                f"this is the same {self.record.kind} job as an identical call {age_text(self.record)} "
                f"(task {task}, still processing): nothing was submitted or billed again. For another "
                "one, call again with new: true."
            )
        if self.problem is not None:
            notes.append(
                f"the {self.record.kind} task {task} is submitted but the store could not record it "
                f"({self.problem}); keep the task id: get_task with task_id {task} follows it all the same."
            )
        return " ".join(notes) or None

    async def record_again(self, app: AppState, records: Store, task: TaskResult) -> Submitted:
        """Try once more to record a job the store could not take at submission, as it stands now."""
        if self.problem is None or self.pending is None:
            return self
        now = dataclasses.replace(self.record, status=task.task_status)
        try:
            await records.settle_submission(self.pending, now, self.usage)
        except StoreError as exc:
            log.warning("The %s task %s is still not recorded: %s", now.kind, now.id, exc)
            return dataclasses.replace(self, problem=str(exc))
        log.info("The %s task %s is recorded now", now.kind, now.id)
        app.unrecorded.pop(now.id, None)
        _recorded(app, now.id)
        return Submitted(now)


async def submit_once(
    ctx: Context[Any, Any],
    submit: Callable[[], Awaitable[TaskResult]],
    *,
    kind: str,
    model: str,
    summary: dict[str, Any],
    usage: tuple[str, int, str],
    new: bool = False,
) -> Submitted:
    """Submit a paid async job (never re-sent) and record it with its `usage` (tool, units, unit);
    unless `new`, a job of the same kind, model and request `summary` still processing is returned
    instead (`same`), so a call repeated after its host cut it short pays nothing more.

    A pending row is written first, so a server killed during the call leaves the job visible as
    submitted with its id unknown. Once sent, the job is recorded even if the client cancels meanwhile
    (all of it is shielded; a cancellation takes effect right after). A job the API accepted is never
    lost to the store: its id is logged, kept in the journal when the database refuses it, and told
    to the caller."""
    app = app_state(ctx)
    records = await store(ctx)
    # Two identical calls at once: the second waits for the first's job, then finds it.
    async with one_at_a_time(app, json.dumps([kind, model, summary], sort_keys=True)):
        if not new and (same := await _same_job(app, records, kind, model, summary)) is not None:
            log.info(
                "%s task %s is an identical job still processing: not submitted again", kind, same.record.id
            )
            return same
        return await _submit(app, records, submit, kind=kind, model=model, summary=summary, usage=usage)


async def _same_job(
    app: AppState, records: Store, kind: str, model: str, summary: dict[str, Any]
) -> Submitted | None:
    """The newest job of that kind, model and request still processing (recorded or not), if any."""
    request = json.loads(json.dumps(summary))  # as the store gives it back
    for record in await records.processing_tasks(kind, model):
        if record.request == request:
            return Submitted(record, same=True)
    for waiting in list(app.unrecorded.values()):
        job = waiting.record
        if (job.kind, job.model, job.request) == (kind, model, summary):
            return dataclasses.replace(waiting, same=True)
    return None


async def _submit(
    app: AppState,
    records: Store,
    submit: Callable[[], Awaitable[TaskResult]],
    *,
    kind: str,
    model: str,
    summary: dict[str, Any],
    usage: tuple[str, int, str],
) -> Submitted:
    with anyio.CancelScope(shield=True):
        user = identity.current_user()
        pending = await records.begin_submission(kind, model, summary, user)
        app.task_changed()
        try:
            task = await submit()
        except BaseException as exc:
            await _settle_failed_submission(records, pending, exc)
            app.task_changed()
            raise
        assert task.id is not None  # the adapter refuses a task without an id
        record = TaskRecord(
            id=task.id,
            kind=kind,
            model=model,
            request=summary,
            status="PROCESSING",
            created_at=time.time(),
            user_id=user,
        )
        tool, units, unit = usage
        row: UsageRow = (tool, model, units, unit, time.time(), user)
        try:
            await records.settle_submission(pending, record, row)
        except StoreError as exc:
            log.warning("%s task %s was accepted by the API but not recorded: %s", kind, task.id, exc)
            submitted = app.unrecorded[task.id] = Submitted(record, str(exc), pending, row)
            return submitted
    _recorded(app, record.id)
    log.info("%s task %s submitted (%s)", kind.capitalize(), record.id, model)
    return Submitted(record)


def _recorded(app: AppState, task_id: str) -> None:
    """A job and its usage are in the store: their subscribers are told."""
    from ..updates import USAGE_URI

    app.task_changed(task_id)
    app.changed(USAGE_URI)


async def _settle_failed_submission(records: Store, pending: str, error: BaseException) -> None:
    """A submission that raised: drop its pending row when the API certainly created nothing; otherwise
    keep it, marked, so that a job the API may have accepted stays visible."""
    certain = isinstance(error, APIError) or (isinstance(error, ConnectionFailed) and not error.reached)
    with contextlib.suppress(StoreError):
        if certain:
            await records.settle_submission(pending, None)
        else:
            reason = f"the API may have accepted it, its id is unknown: {error}"
            await records.update_task(pending, status=SUBMITTING, error=reason)
