"""How a job that was looked at ends: recorded as it stands; a failed one reported; a successful one's
media downloaded once (one process claims it in the store, the others wait for its record) and reported.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from mcp.types import ContentBlock

from .. import identity
from ..calls import Caller, app_state, beside, link, media_link, save_media, store
from ..errors import GLMError, JobFailed, JobUnsaved, Refusal, StoreError
from ..glm import catalog
from ..glm.models import TaskResult
from ..store import Store, TaskRecord
from .budget import wait_budget
from .outcome import JobResult, Outcome, age, one_at_a_time, seconds_text, took
from .submit import Submitted

log = logging.getLogger(__name__)
CLAIM_SECONDS = 60.0  # a claim on saving a job's media lasts this long unless renewed (every third)
CLAIM_POLL = 0.5  # seconds between looks at a job another process is saving


async def settle(
    ctx: Caller,
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
        submitted = await submitted.record_again(app_state(ctx), records, state)
        return (await _settle(ctx, task_id, record, state, records)).noted(submitted.note)
    return await _settle(ctx, task_id, record, state, records)


async def _settle(
    ctx: Caller, task_id: str, record: TaskRecord | None, state: TaskResult, records: Store
) -> Outcome:
    model = state.model or (record.model if record else None)
    if record is None:
        kind = _kind_of(state, model)
        # Recorded as processing: SUCCESS is written only once the media is saved, below.
        record = TaskRecord(
            id=task_id,
            kind=kind,
            model=model or "",
            request={},
            status="PROCESSING",
            user_id=identity.current_user(),
        )
        await records.record_task(record)
        app_state(ctx).task_changed(task_id)
    if state.task_status == "FAIL":
        reason = _failure(state)
        await records.update_task(task_id, status="FAIL", error=reason)
        app_state(ctx).task_changed(task_id)
        raise JobFailed(failed_text(record.kind, task_id, reason))
    if state.task_status == "PROCESSING":
        wait, _ = wait_budget(ctx, None)
        step = (
            f"Call get_task with task_id {task_id} now; it waits up to {wait:g} s. Do not submit the job "
            f"again: that would make and bill a second {record.kind}."
        )
        known_age = age(record)
        old = f" ({seconds_text(known_age)} old)" if known_age is not None else ""
        text = f"The {record.kind} task {task_id} is still processing{old}; nothing is lost meanwhile. {step}"
        job = JobResult(
            task_id=task_id, status="PROCESSING", model=model, elapsed_seconds=known_age, next_step=step
        )
        return Outcome(text, job)
    owner = app_state(ctx).owner
    async with one_at_a_time(app_state(ctx), task_id), _claimed(records, task_id, owner) as saved:
        # A call that waited here finds the job saved by the one before it, in this process or another.
        if saved is not None and saved.status == "SUCCESS":
            return await report_recorded(ctx, saved)
        try:
            job, links = await _complete(ctx, task_id, record.kind, model, state)
        except (GLMError, Refusal) as exc:
            raise JobUnsaved(task_id, str(exc)) from exc
        note = None
        finished: TaskRecord | None = None
        try:
            result = job.model_dump(exclude_none=True)
            finished = await records.update_task(task_id, status="SUCCESS", result=result)
            app_state(ctx).task_changed(task_id)
        except StoreError as exc:
            log.warning(
                "The %s task %s is saved to %s but not recorded: %s", record.kind, task_id, job.path, exc
            )
            note = f"the store could not record the finished job ({exc}); the files above are saved."
    job.elapsed_seconds = took(finished) if finished is not None else age(record)
    job.next_step = _next_for(record.kind, job)
    return Outcome(_success_text(record.kind, job), job, links).noted(note)


@asynccontextmanager
async def _claimed(records: Store, task_id: str, owner: str) -> AsyncIterator[TaskRecord | None]:
    """Held while this server (`owner`) saves a finished job's media: a claim in the store, renewed while
    it is held, so that of several servers sharing the store one downloads and the others wait for its
    record. Yields the job as the store has it once the claim is ours (a finished one: nothing to do).
    A claim whose process died expires after CLAIM_SECONDS and is taken over."""
    while not await records.claim_task(task_id, owner, CLAIM_SECONDS):
        saved = await records.get_task(task_id)
        if saved is None or saved.status == "SUCCESS":
            break  # no row to claim (a job not recorded), or done by the other process
        await anyio.sleep(CLAIM_POLL)
    saved = await records.get_task(task_id)
    if saved is not None and saved.status == "SUCCESS":
        yield saved
        return
    try:
        async with beside(lambda: _renew(records, task_id, owner)):
            yield saved
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
            await records.release_task(task_id, owner)


async def _renew(records: Store, task_id: str, owner: str) -> None:
    while True:
        await anyio.sleep(CLAIM_SECONDS / 3)
        with contextlib.suppress(StoreError):
            await records.claim_task(task_id, owner, CLAIM_SECONDS)


def _kind_of(state: TaskResult, model: str | None) -> str:
    """The kind of a job this server did not submit: by its result, else by its model."""
    if state.image_result or state.video_result:
        return "image" if state.image_result else "video"
    listed = catalog.find(model) if model else None
    return "image" if listed is not None and listed.kind == "image" else "video"


async def _complete(
    ctx: Caller, task_id: str, kind: str, model: str | None, state: TaskResult
) -> tuple[JobResult, list[ContentBlock]]:
    media = state.video_result or state.image_result
    if not media or not media[0].url:
        why = f"The {kind} task {task_id} succeeded but the API gave no media URL."
        raise JobUnsaved(task_id, why)
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


async def _cover_preview(ctx: Caller, path: Path) -> list[ContentBlock]:
    """A video's cover shown inline as a preview that fits any host's result (none if previews are off)."""
    from ..previews import preview_blocks

    state = app_state(ctx)
    return await preview_blocks(state.settings, path, state.files.open_saved)


async def report_recorded(ctx: Caller, record: TaskRecord) -> Outcome:
    """A job the store already knows to be finished: no API call, no second download."""
    if record.status == "FAIL":
        raise JobFailed(failed_text(record.kind, record.id, record.error or "no reason given"))
    job = JobResult.model_validate(
        {"task_id": record.id, "status": "SUCCESS", "model": record.model}
        | (record.result or {})
        | {"elapsed_seconds": took(record) if record.status == "SUCCESS" else age(record)}
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


def failed_text(kind: str, task_id: str, reason: str) -> str:
    return (
        f"The {kind} task {task_id} failed: {reason}. Nothing to collect: change what the reason points at "
        "(often the prompt or image) before submitting a new job."
    )
