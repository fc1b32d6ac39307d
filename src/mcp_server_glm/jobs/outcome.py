"""Where a job stands, as the job tools report it (`JobResult`, `Outcome`), how its age is told, and the
per-job locks of this process (kept on the server's state).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import anyio
from mcp.types import CallToolResult, ContentBlock
from pydantic import BaseModel, Field

from ..calls import result
from ..state import AppState
from ..store import TaskRecord


class JobFields(BaseModel):
    model: str | None = None
    elapsed_seconds: float | None = None  # the job's age; once finished, how long it took
    next_step: str | None = None  # what to do now
    video_url: str | None = None
    cover_image_url: str | None = None
    image_url: str | None = None
    path: str | None = Field(default=None, description="The saved video or image.")
    cover_path: str | None = None
    note: str | None = Field(default=None, description="What the caller must know, e.g. a job not recorded.")


class JobResult(JobFields):
    task_id: str
    status: Literal["PROCESSING", "SUCCESS", "FAIL"]


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


@asynccontextmanager
async def one_at_a_time(state: AppState, key: str) -> AsyncIterator[None]:
    """Held while a finished job's media is saved (`key` is its task id), so that two calls for one job
    (get_task beside a generate_video still waiting, say) download it once; also held by request while
    an identical job is looked for and submitted (submit_once). Within this server: of servers sharing a
    database, the store's claim (settle) lets one save a job that they see finish at once."""
    locks = state.job_locks
    lock, users = locks.get(key, (anyio.Lock(), 0))
    locks[key] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = locks.pop(key)
        if users > 1:
            locks[key] = (lock, users - 1)


def age(record: TaskRecord | None) -> float | None:
    """The job's age in seconds (rounded to a tenth), from its record; None when not known."""
    if record is None or not record.created_at:
        return None
    return round(max(0.0, time.time() - record.created_at), 1)


def took(record: TaskRecord | None) -> float | None:
    """How long a finished job took, from submission to its result's record (rounded to a tenth): the
    same for every call that reports it, on any replica; None when not known."""
    if record is None or not record.created_at or not record.updated_at:
        return None
    return round(max(0.0, record.updated_at - record.created_at), 1)


def age_text(record: TaskRecord) -> str:
    known = age(record)
    return "just now" if known is None else f"{seconds_text(known)} ago"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
