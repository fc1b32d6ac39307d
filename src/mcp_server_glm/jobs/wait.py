"""Waiting for a job within a call's budget: polled on a schedule that slows with the job's age, with
progress at each poll and at least every PROGRESS_EVERY seconds between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from ..calls import Progress, app_state, beside, glm_client, progress
from ..errors import GLMError, JobUnchecked
from ..glm.jobs import PollSchedule, wait_for
from ..glm.models import TaskResult
from ..store import TaskRecord
from .outcome import Outcome, age, seconds_text
from .settle import settle
from .submit import Submitted

log = logging.getLogger(__name__)

PROGRESS_EVERY = 4.0  # seconds between progress notifications while a job is waited for, polls or not


async def await_job(ctx: Context[Any, Any], submitted: Submitted, budget: float) -> Outcome:
    """A job just submitted: its handle at once (budget 0), or waited for within `budget` seconds."""
    record = submitted.record
    if budget == 0:
        state = TaskResult(id=record.id, model=record.model, task_status="PROCESSING")
        return await settle(ctx, record.id, record, state, submitted)
    try:
        return await wait_and_settle(ctx, record.id, record, budget, submitted)
    except anyio.get_cancelled_exc_class():
        log.info(
            "Waiting for %s task %s was cancelled; it stays recorded for get_task", record.kind, record.id
        )
        raise


async def wait_and_settle(
    ctx: Context[Any, Any],
    task_id: str,
    record: TaskRecord | None,
    budget: float,
    submitted: Submitted | None = None,
) -> Outcome:
    """Poll the job within `budget` seconds, then report it (completing it on success). Progress goes
    out at each poll and at least every PROGRESS_EVERY seconds between them, however far apart polls
    are: the job's age and phase, with a total only once the job is saved."""
    settings = app_state(ctx).settings
    schedule = PollSchedule(floor=settings.poll_interval, cap=settings.poll_max_interval)
    kind = record.kind if record else "generation"
    # A recorded job is polled by its age; one recorded just now (created_at not yet read back) is new.
    known_age = age(record) or 0.0
    watch = _Watch(progress(ctx), f"{kind} task {task_id}", anyio.current_time() - known_age)

    async def on_poll(state: TaskResult, polls: int, waited: float) -> None:
        phase = {"PROCESSING": "processing", "SUCCESS": f"done, saving the {kind}"}.get(state.task_status)
        await watch.tell(phase or "failed")

    client = glm_client(ctx)
    async with beside(watch.keep_telling):
        try:
            state = await wait_for(
                client, task_id, budget=budget, schedule=schedule, age=known_age, on_poll=on_poll
            )
        except GLMError as exc:
            raise JobUnchecked(task_id, exc, recorded=record is not None) from exc
        outcome = await settle(ctx, task_id, record, state, submitted)
    if outcome.job.status == "SUCCESS":
        await watch.tell("saved", done=True)
    return outcome


@dataclass(slots=True)
class _Watch:
    """A waited-for job's progress: "video task 123: processing, 92 s old", its age as the value."""

    report: Progress
    name: str
    born: float  # when the job was submitted, on anyio's clock
    told: float = field(default_factory=anyio.current_time)  # when progress last went out
    phase: str = "processing"

    async def tell(self, phase: str | None = None, *, done: bool = False) -> None:
        self.phase = phase or self.phase
        now = anyio.current_time()
        self.told = now
        waited = now - self.born
        await self.report(
            f"{self.name}: {self.phase}, {seconds_text(waited)} old", waited, total=waited if done else None
        )

    async def keep_telling(self) -> None:
        """Tells where the job stands whenever PROGRESS_EVERY seconds passed without news."""
        while True:
            if (wait := self.told + PROGRESS_EVERY - anyio.current_time()) > 0:
                await anyio.sleep(wait)
            else:
                await self.tell()
