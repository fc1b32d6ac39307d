"""`get_task`, and how any async job ends: wait within a budget, then download, record and report it.

Jobs are recorded in the store when submitted, so one started before a restart (or by another server
process sharing the data directory) is picked up by its id; an id the store does not know is still
asked of the API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import mimetypes
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ToolAnnotations
from pydantic import BaseModel, Field

from ..glm import catalog
from ..glm.errors import APIError, ConnectionFailed, GLMError, InvalidRequest
from ..glm.jobs import PollSchedule, wait_for
from ..glm.models import TaskResult
from ..store import SUBMITTING, Store, StoreError, TaskRecord, UsageRow
from .common import (
    Progress,
    app_state,
    beside,
    glm_client,
    link,
    media_link,
    progress,
    result,
    save_media,
    store,
    upstream_errors,
)
from .spec import WAIT_TEXT, ToolSpec

log = logging.getLogger(__name__)
_saving: dict[str, tuple[anyio.Lock, int]] = {}  # task id: (its lock, calls holding or awaiting it)
_unrecorded: dict[str, Submitted] = {}  # jobs the API accepted that the store could not take yet
OWNER = f"{os.getpid()}-{secrets.token_hex(4)}"  # this process, as it signs its claims in the store
CLAIM_SECONDS = 60.0  # a claim on saving a job's media lasts this long unless renewed (every third)
CLAIM_POLL = 0.5  # seconds between looks at a job another process is saving

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


class _Job(BaseModel):
    model: str | None = None
    elapsed_seconds: float | None = None  # the job's age
    next_step: str | None = None  # what to do now
    video_url: str | None = None
    cover_image_url: str | None = None
    image_url: str | None = None
    path: str | None = Field(default=None, description="The saved video or image.")
    cover_path: str | None = None
    note: str | None = Field(default=None, description="What the caller must know, e.g. a job not recorded.")


class JobResult(_Job):
    task_id: str
    status: Literal["PROCESSING", "SUCCESS", "FAIL"]


class JobSummary(BaseModel):
    task_id: str
    kind: str
    status: str
    model: str
    prompt: str | None = None
    elapsed_seconds: float


class TaskReport(_Job):
    """get_task's answer: one job, or (no task_id given) the recent jobs."""

    task_id: str | None = None
    status: Literal["PROCESSING", "SUCCESS", "FAIL"] | None = None
    jobs: list[JobSummary] | None = None


WaitSeconds = Annotated[
    float | None,
    Field(
        ge=0,
        description="Seconds to wait (0: none). Cut to GLM_MAX_WAIT (55 s): hosts drop calls near 60 s; "
        "get_task resumes.",
    ),
]
New = Annotated[bool, Field(description="Submit even if an identical job is still processing.")]
RECENT = 10  # jobs get_task lists when given no id
PROGRESS_EVERY = 4.0  # seconds between progress notifications while a job is waited for, polls or not


def wait_budget(ctx: Context[Any, Any], wait_seconds: float | None) -> tuple[float, str | None]:
    """The seconds a call waits for its job (the default or `wait_seconds`, at most GLM_MAX_WAIT), and
    a note when `wait_seconds` was lowered."""
    settings = app_state(ctx).settings
    cap = settings.max_wait
    if wait_seconds is None:
        return min(settings.video_wait, cap), None
    if wait_seconds <= cap:
        return wait_seconds, None
    return cap, (
        f"wait_seconds {wait_seconds:g} was lowered to {cap:g} (GLM_MAX_WAIT): many hosts cut a call at "
        "about 60 s. The job goes on: get_task picks it up."
    )


@dataclass(slots=True)
class Outcome:
    """Where a job stands, as a tool reports it: text, the structured job and links to saved files."""

    text: str
    job: JobResult
    links: list[ContentBlock] = field(default_factory=list)

    def as_result(self) -> CallToolResult:
        return result(self.text, self.job, self.links)

    def noted(self, note: str | None) -> Outcome:
        """The same outcome with `note` added to its text and its structured job."""
        if note is None:
            return self
        self.job.note = note if self.job.note is None else f"{self.job.note} {note}"
        self.text = f"{self.text}\n\nNote: {note}"
        return self


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
                f"this is the same {self.record.kind} job as an identical call {_age_text(self.record)} "
                f"(task {task}, still processing): nothing was submitted or billed again. For another "
                "one, call again with new: true."
            )
        if self.problem is not None:
            notes.append(
                f"the {self.record.kind} task {task} is submitted but the store could not record it "
                f"({self.problem}); keep the task id: get_task with task_id {task} follows it all the same."
            )
        return " ".join(notes) or None

    async def record_again(self, records: Store, state: TaskResult) -> Submitted:
        """Try once more to record a job the store could not take at submission, as it stands now."""
        if self.problem is None or self.pending is None:
            return self
        now = dataclasses.replace(self.record, status=state.task_status)
        try:
            await records.settle_submission(self.pending, now, self.usage)
        except StoreError as exc:
            log.warning("The %s task %s is still not recorded: %s", now.kind, now.id, exc)
            return dataclasses.replace(self, problem=str(exc))
        log.info("The %s task %s is recorded now", now.kind, now.id)
        _unrecorded.pop(now.id, None)
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
    records = await store(ctx)
    # Two identical calls at once: the second waits for the first's job, then finds it.
    async with _one_at_a_time(json.dumps([kind, model, summary], sort_keys=True)):
        if not new and (same := await _same_job(records, kind, model, summary)) is not None:
            log.info(
                "%s task %s is an identical job still processing: not submitted again", kind, same.record.id
            )
            return same
        return await _submit(records, submit, kind=kind, model=model, summary=summary, usage=usage)


async def _same_job(records: Store, kind: str, model: str, summary: dict[str, Any]) -> Submitted | None:
    """The newest job of that kind, model and request still processing (recorded or not), if any."""
    request = json.loads(json.dumps(summary))  # as the store gives it back
    with upstream_errors():
        found = await records.processing_tasks(kind, model)
    for record in found:
        if record.request == request:
            return Submitted(record, same=True)
    for waiting in list(_unrecorded.values()):
        job = waiting.record
        if (job.kind, job.model, job.request) == (kind, model, summary):
            return dataclasses.replace(waiting, same=True)
    return None


async def _submit(
    records: Store,
    submit: Callable[[], Awaitable[TaskResult]],
    *,
    kind: str,
    model: str,
    summary: dict[str, Any],
    usage: tuple[str, int, str],
) -> Submitted:
    with anyio.CancelScope(shield=True):
        with upstream_errors():
            pending = await records.begin_submission(kind, model, summary)
        try:
            with upstream_errors():
                task = await submit()
        except BaseException as exc:
            await _settle_failed_submission(records, pending, exc.__cause__ or exc)
            raise
        assert task.id is not None  # the adapter refuses a task without an id
        record = TaskRecord(
            id=task.id, kind=kind, model=model, request=summary, status="PROCESSING", created_at=time.time()
        )
        tool, units, unit = usage
        row: UsageRow = (tool, model, units, unit, time.time())
        try:
            await records.settle_submission(pending, record, row)
        except StoreError as exc:
            log.warning("%s task %s was accepted by the API but not recorded: %s", kind, task.id, exc)
            submitted = _unrecorded[task.id] = Submitted(record, str(exc), pending, row)
            return submitted
    log.info("%s task %s submitted (%s)", kind.capitalize(), record.id, model)
    return Submitted(record)


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
    with upstream_errors():
        record = await records.get_task(task_id)
    if record is not None and record.status == SUBMITTING:
        why = record.error or "the server stopped during the call"
        raise ToolError(
            f"{record.id} is a {record.kind} job whose submission was cut short ({why}): its task id is "
            "unknown, so it cannot be followed. Check the platform console before submitting it again."
        )
    if record is not None and record.status != "PROCESSING":
        return (await _report_recorded(ctx, record)).as_result()
    budget, lowered = wait_budget(ctx, wait_seconds)
    unrecorded = _unrecorded.get(task_id) if record is None else None
    if unrecorded is not None:
        record = unrecorded.record
    return (await wait_and_settle(ctx, task_id, record, budget, unrecorded)).noted(lowered).as_result()


async def _recent(ctx: Context[Any, Any], records: Store) -> CallToolResult:
    """The jobs the store knows, newest first: a model that lost a task id finds it here."""
    with upstream_errors():
        found = await records.recent_tasks(RECENT)
    jobs = [
        JobSummary(
            task_id=record.id,
            kind=record.kind,
            status=record.status,
            model=record.model,
            prompt=_shorten(record.request.get("prompt")),
            elapsed_seconds=_age(record) or 0.0,
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
        f"- {job.task_id}: {job.kind}, {job.status}, {job.model}, {_seconds(job.elapsed_seconds)} old"
        + (f', "{job.prompt}"' if job.prompt else "")
        for job in jobs
    ]
    heading = f"The {len(jobs)} most recent jobs, newest first:" if len(jobs) > 1 else "The one job recorded:"
    text = "\n".join([heading, *lines, "", step])
    return result(text, TaskReport(jobs=jobs, next_step=step))


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
    age = _age(record) or 0.0
    watch = _Watch(progress(ctx), f"{kind} task {task_id}", anyio.current_time() - age)

    async def on_poll(state: TaskResult, polls: int, waited: float) -> None:
        phase = {"PROCESSING": "processing", "SUCCESS": f"done, saving the {kind}"}.get(state.task_status)
        await watch.tell(phase or "failed")

    client = glm_client(ctx)
    async with beside(watch.keep_telling):
        try:
            state = await wait_for(
                client, task_id, budget=budget, schedule=schedule, age=age, on_poll=on_poll
            )
        except InvalidRequest as exc:
            if record is None:
                raise ToolError(
                    f"No task {task_id}: this server never submitted it and the GLM API does not know it "
                    f"({exc})"
                ) from exc
            raise ToolError(f"Task {task_id} could not be checked: {exc}") from exc
        except GLMError as exc:
            hint = (
                f" The task is still recorded: call get_task with task_id {task_id} later." if record else ""
            )
            raise ToolError(f"Task {task_id} could not be checked: {str(exc).rstrip('.')}.{hint}") from exc
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
        age = now - self.born
        await self.report(f"{self.name}: {self.phase}, {_seconds(age)} old", age, total=age if done else None)

    async def keep_telling(self) -> None:
        """Tells where the job stands whenever PROGRESS_EVERY seconds passed without news."""
        while True:
            if (wait := self.told + PROGRESS_EVERY - anyio.current_time()) > 0:
                await anyio.sleep(wait)
            else:
                await self.tell()


async def settle(
    ctx: Context[Any, Any],
    task_id: str,
    record: TaskRecord | None,
    state: TaskResult,
    submitted: Submitted | None = None,
) -> Outcome:
    """Record and report the job's state; a successful job's media is downloaded once. A job the store
    could not take at submission (`submitted`) is recorded now if the store allows it, else the
    outcome says so."""
    records = await store(ctx)
    if submitted is not None:
        submitted = await submitted.record_again(records, state)
        return (await _settle(ctx, task_id, record, state, records)).noted(submitted.note)
    return await _settle(ctx, task_id, record, state, records)


async def _settle(
    ctx: Context[Any, Any], task_id: str, record: TaskRecord | None, state: TaskResult, records: Store
) -> Outcome:
    model = state.model or (record.model if record else None)
    if record is None:
        kind = _kind_of(state, model)
        # Recorded as processing: SUCCESS is written only once the media is saved, below.
        record = TaskRecord(id=task_id, kind=kind, model=model or "", request={}, status="PROCESSING")
        with upstream_errors():
            await records.record_task(record)
    if state.task_status == "FAIL":
        reason = _failure(state)
        with upstream_errors():
            await records.update_task(task_id, status="FAIL", error=reason)
        raise ToolError(_failed_text(record.kind, task_id, reason))
    if state.task_status == "PROCESSING":
        wait, _ = wait_budget(ctx, None)
        step = (
            f"Call get_task with task_id {task_id} now; it waits up to {wait:g} s. Do not submit the job "
            f"again: that would make and bill a second {record.kind}."
        )
        age = _age(record)
        old = f" ({_seconds(age)} old)" if age is not None else ""
        text = f"The {record.kind} task {task_id} is still processing{old}; nothing is lost meanwhile. {step}"
        job = JobResult(
            task_id=task_id, status="PROCESSING", model=model, elapsed_seconds=age, next_step=step
        )
        return Outcome(text, job)
    async with _one_at_a_time(task_id), _claimed(records, task_id) as saved:
        # A call that waited here finds the job saved by the one before it, in this process or another.
        if saved is not None and saved.status == "SUCCESS":
            return await _report_recorded(ctx, saved)
        try:
            job, links = await _complete(ctx, task_id, record.kind, model, state)
        except ToolError as exc:
            retry = f"The job itself succeeded: call get_task with task_id {task_id} to try saving it again."
            raise ToolError(f"{str(exc).rstrip('.')}. {retry}") from exc
        note = None
        try:
            await records.update_task(task_id, status="SUCCESS", result=job.model_dump(exclude_none=True))
        except StoreError as exc:
            log.warning(
                "The %s task %s is saved to %s but not recorded: %s", record.kind, task_id, job.path, exc
            )
            note = f"the store could not record the finished job ({exc}); the files above are saved."
    job.elapsed_seconds, job.next_step = _age(record), _next_for(record.kind, job)
    return Outcome(_success_text(record.kind, job), job, links).noted(note)


@asynccontextmanager
async def _claimed(records: Store, task_id: str) -> AsyncIterator[TaskRecord | None]:
    """Held while this process saves a finished job's media: a claim in the store, renewed while it is
    held, so that of several processes sharing the store one downloads and the others wait for its
    record. Yields the job as the store has it once the claim is ours (a finished one: nothing to do).
    A claim whose process died expires after CLAIM_SECONDS and is taken over."""
    with upstream_errors():
        while not await records.claim_task(task_id, OWNER, CLAIM_SECONDS):
            saved = await records.get_task(task_id)
            if saved is None or saved.status == "SUCCESS":
                break  # no row to claim (a job not recorded), or done by the other process
            await anyio.sleep(CLAIM_POLL)
        saved = await records.get_task(task_id)
    if saved is not None and saved.status == "SUCCESS":
        yield saved
        return
    try:
        async with beside(lambda: _renew(records, task_id)):
            yield saved
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
            await records.release_task(task_id, OWNER)


async def _renew(records: Store, task_id: str) -> None:
    while True:
        await anyio.sleep(CLAIM_SECONDS / 3)
        with contextlib.suppress(StoreError):
            await records.claim_task(task_id, OWNER, CLAIM_SECONDS)


def _kind_of(state: TaskResult, model: str | None) -> str:
    """The kind of a job this server did not submit: by its result, else by its model."""
    if state.image_result or state.video_result:
        return "image" if state.image_result else "video"
    listed = catalog.find(model) if model else None
    return "image" if listed is not None and listed.kind == "image" else "video"


@asynccontextmanager
async def _one_at_a_time(task_id: str) -> AsyncIterator[None]:
    """Held while a finished job's media is saved (`task_id`), so that two calls for one job (get_task
    beside a generate_video still waiting, say) download it once; also held by key while an identical
    job is looked for and submitted (submit_once). Within this process: two server processes
    sharing a data directory may still both save a job that they see finish at the same moment."""
    lock, users = _saving.get(task_id, (anyio.Lock(), 0))
    _saving[task_id] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _saving.pop(task_id)
        if users > 1:
            _saving[task_id] = (lock, users - 1)


async def _complete(
    ctx: Context[Any, Any], task_id: str, kind: str, model: str | None, state: TaskResult
) -> tuple[JobResult, list[ContentBlock]]:
    media = state.video_result or state.image_result
    if not media or not media[0].url:
        raise ToolError(f"The {kind} task {task_id} succeeded but the API gave no media URL.")
    first = media[0]
    if state.video_result:
        video = await save_media(ctx, first.url, kind="video", task_id=task_id)
        job = JobResult(
            task_id=task_id, status="SUCCESS", model=model, video_url=first.url, path=str(video.path)
        )
        links: list[ContentBlock] = [media_link(video)]
        if first.cover_image_url:
            cover = await save_media(ctx, first.cover_image_url, kind="image", task_id=task_id, label="cover")
            job.cover_image_url, job.cover_path = first.cover_image_url, str(cover.path)
            links.append(media_link(cover))
            links += await _cover_preview(ctx, cover.path)
        return job, links
    image = await save_media(ctx, first.url, kind="image", task_id=task_id)
    job = JobResult(task_id=task_id, status="SUCCESS", model=model, image_url=first.url, path=str(image.path))
    return job, [media_link(image)]


async def _cover_preview(ctx: Context[Any, Any], path: Path) -> list[ContentBlock]:
    """A video's cover shown inline as a preview that fits any host's result (none if previews are off)."""
    from ..previews import preview_blocks

    state = app_state(ctx)
    return await preview_blocks(state.settings, path, state.files.open_saved)


async def _report_recorded(ctx: Context[Any, Any], record: TaskRecord) -> Outcome:
    """A job the store already knows to be finished: no API call, no second download."""
    if record.status == "FAIL":
        raise ToolError(_failed_text(record.kind, record.id, record.error or "no reason given"))
    job = JobResult.model_validate(
        {"task_id": record.id, "status": "SUCCESS", "model": record.model}
        | (record.result or {})
        | {"elapsed_seconds": _age(record)}
    )
    paths = [Path(path) for path in (job.path, job.cover_path) if path]
    sizes = [await app_state(ctx).files.saved_size(path) for path in paths]  # off the loop, in the output dir
    if None in sizes:
        job.next_step = (
            "Its saved files were removed: the URL may still work for a while. Submit again only if the user "
            "wants it made (and billed) again."
        )
        text = f"The {record.kind} task {record.id} finished, but its files are gone; the URL may still work."
        return Outcome(f"{text} {job.next_step}", job)
    job.next_step = _next_for(record.kind, job)
    links: list[ContentBlock] = [
        link(path.name, mimetypes.guess_type(path.name)[0], size)
        for path, size in zip(paths, sizes, strict=True)
        if size is not None
    ]
    return Outcome(_success_text(record.kind, job), job, links)


def _failure(state: TaskResult) -> str:
    if state.error is None:
        return "the API gave no reason"
    code = f" (code {state.error.code})" if state.error.code else ""
    return f"{state.error.message or 'no message'}{code}"


def _success_text(kind: str, job: JobResult) -> str:
    lines = [
        f"The {kind} is ready (task {job.task_id}, {job.model or 'model unknown'}): saved to {job.path}."
    ]
    if job.cover_path:
        lines.append(f"Cover image: {job.cover_path}.")
    lines.append(f"URL: {job.video_url or job.image_url} (the API keeps it for a limited time).")
    if job.next_step:
        lines.append(job.next_step)
    return " ".join(lines)


def _next_for(kind: str, job: JobResult) -> str:
    """What a model can do with a finished job's file."""
    if kind == "image":
        return (
            f"Give the user the path {job.path}; it can go to generate_video(image=...) to animate it or "
            "to glm_chat(images=[...]) to ask about it."
        )
    cover = f"; its cover image {job.cover_path} can go to glm_chat(images=[...])" if job.cover_path else ""
    return f"Give the user the path {job.path}{cover}. The job is done: do not submit it again."


def _failed_text(kind: str, task_id: str, reason: str) -> str:
    return (
        f"The {kind} task {task_id} failed: {reason}. Nothing to collect: change what the reason points at "
        "(often the prompt or image) before submitting a new job."
    )


def _age(record: TaskRecord | None) -> float | None:
    """The job's age in seconds (rounded to a tenth), from its record; None when not known."""
    if record is None or not record.created_at:
        return None
    return round(max(0.0, time.time() - record.created_at), 1)


def _age_text(record: TaskRecord) -> str:
    age = _age(record)
    return "just now" if age is None else f"{_seconds(age)} ago"


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _shorten(prompt: object, limit: int = 80) -> str | None:
    if not isinstance(prompt, str) or not prompt:
        return None
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
