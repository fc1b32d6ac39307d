"""`get_task`: follow an async job by its id (waiting within a budget, then saving its result), or list
the recent jobs.

Jobs are recorded in the store when submitted, so one started before a restart (or by another server
process sharing the data directory) is picked up by its id; an id the store does not know is still
asked of the API. How a job is waited for and settled is in `jobs/`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from .. import identity
from ..calls import app_state, result, store
from ..errors import JobCutShort, JobError
from ..jobs.budget import WaitSeconds, wait_budget
from ..jobs.outcome import JobFields, age, seconds_text
from ..jobs.settle import report_recorded
from ..jobs.wait import wait_and_settle
from ..store import SUBMITTING, Store
from .spec import WAIT_TEXT, ToolSpec

SPEC = ToolSpec(
    name="get_task",
    title="Get an async job",
    annotations=ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    ),
    purpose="get_task picks up a video or image job by its task_id",
    summary="Pick up a video (or image) job by id, even after the server was restarted.",
    settings=("video_wait", "max_wait", "poll_interval", "poll_max_interval", "output_dir"),
    argument_texts={"wait_seconds": WAIT_TEXT},
)


class JobSummary(BaseModel):
    task_id: str
    kind: str
    status: str
    model: str
    prompt: str | None = None
    elapsed_seconds: float


class TaskReport(JobFields):
    """get_task's answer: one job, or (no task_id given) the recent jobs."""

    task_id: str | None = None
    status: Literal["PROCESSING", "SUCCESS", "FAIL"] | None = None
    jobs: list[JobSummary] | None = None


RECENT = 10  # jobs get_task lists when given no id


async def get_task(
    ctx: Context[Any, Any],
    task_id: Annotated[
        str | None,  # not only dots: "." and ".." would name another path of the API
        Field(
            pattern=r"^\.*[\w:-][\w.:-]*$",
            max_length=128,
            description="The id a generation call gave; leave out to list the recent jobs.",
        ),
    ] = None,
    wait_seconds: WaitSeconds = None,
) -> Annotated[CallToolResult, TaskReport]:
    """Follow a video or image job by its task_id, waiting up to wait_seconds, and save the result when done;
    without a task_id, list the recent jobs. Costs nothing."""
    records = await store(ctx)
    if task_id is None:
        return await _recent(ctx, records)
    record = await records.get_task(task_id)
    unrecorded = app_state(ctx).unrecorded.get(task_id) if record is None else None
    owner = record or (unrecorded.record if unrecorded is not None else None)
    if identity.owner_filter() is not None and (
        owner is None or not identity.visible_to_caller(owner.user_id)
    ):
        # Signed in: only the caller's own jobs, and another user's id reads as unknown.
        raise JobError(
            f"No task {task_id} of yours is recorded: check the task_id (get_task without one lists "
            "your jobs)."
        )
    if record is not None and record.status == SUBMITTING:
        why = record.error or "the server stopped during the call"
        raise JobCutShort(
            f"{record.id} is a {record.kind} job whose submission was cut short ({why}): its task id is "
            "unknown, so it cannot be followed. Check the platform console before submitting it again."
        )
    if record is not None and record.status != "PROCESSING":
        return (await report_recorded(ctx, record)).as_result()
    budget, lowered = wait_budget(ctx, wait_seconds)
    if unrecorded is not None:
        record = unrecorded.record
    return (await wait_and_settle(ctx, task_id, record, budget, unrecorded)).noted(lowered).as_result()


async def _recent(ctx: Context[Any, Any], records: Store) -> CallToolResult:
    """The jobs the store knows, newest first: a model that lost a task id finds it here."""
    found = await records.recent_tasks(RECENT, identity.owner_filter())
    jobs = [
        JobSummary(
            task_id=record.id,
            kind=record.kind,
            status=record.status,
            model=record.model,
            prompt=_shorten(record.request.get("prompt")),
            elapsed_seconds=age(record) or 0.0,
        )
        for record in found
    ]
    if not jobs:
        step = "No job is recorded: nothing to follow. generate_video or generate_image starts one."
        return result(f"No jobs yet. {step}", TaskReport(jobs=[], next_step=step))
    wait, _ = wait_budget(ctx, None)
    step = (
        f"Call get_task with the task_id of the job wanted (a PROCESSING one is waited for up to {wait:g} "
        "s); never submit a job again to find it."
    )
    lines = [
        f"- {job.task_id}: {job.kind}, {job.status}, {job.model}, {seconds_text(job.elapsed_seconds)} old"
        + (f', "{job.prompt}"' if job.prompt else "")
        for job in jobs
    ]
    heading = f"The {len(jobs)} most recent jobs, newest first:" if len(jobs) > 1 else "The one job recorded:"
    text = "\n".join([heading, *lines, "", step])
    return result(text, TaskReport(jobs=jobs, next_step=step))


def _shorten(prompt: object, limit: int = 80) -> str | None:
    if not isinstance(prompt, str) or not prompt:
        return None
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
