"""The store's one interface: what every engine (SQLite, PostgreSQL) answers, and what they share.

Submitting a paid job (the pending row, the settle with its retries and the journal), the checks on usage
rows and the JSON of requests and results live here; each engine only runs its own SQL.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio

from ..errors import StoreError
from . import journal
from .records import (
    SUBMITTING,
    McpTask,
    MediaRecord,
    StoredUsage,
    TaskRecord,
    UsageRow,
    UsageTotal,
    usage_row,
)

log = logging.getLogger(__name__)

SETTLE_ATTEMPTS = 3  # writes of an accepted job's record before it goes to the journal
LEASES_KEPT = 3600.0  # seconds an expired lease's row stays (a holder that died leaves one) before it goes


class Store(ABC):
    """The database; open it with `await Store.open(data_dir)` (SQLite in `data_dir`) or
    `await Store.open(data_dir, database_url="postgresql://...")`.

    Usable as an async context manager (`async with await Store.open(data_dir) as store:`),
    which closes it on exit. `where` names the database in messages (never with a password).
    """

    where: str
    journal_path: Path

    @classmethod
    async def open(cls, data_dir: Path, database_url: str | None = None) -> Store:
        """Open (creating and migrating as needed) the database: PostgreSQL at `database_url` when
        given (its driver is imported only then), else SQLite in `data_dir`."""
        if database_url:
            from .postgres import PostgresStore

            return await PostgresStore.connect(database_url, Path(data_dir))
        from .sqlite import SqliteStore

        return await SqliteStore.connect(Path(data_dir))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abstractmethod
    async def close(self) -> None:
        """Close the database; later calls raise StoreError. Closing twice is harmless."""

    # -- tasks -----------------------------------------------------------------------------------

    @abstractmethod
    async def record_task(
        self, task: TaskRecord, *, replaces: str | None = None, usage: UsageRow | None = None
    ) -> None:
        """Insert a task, or update every field but `created_at` of the task with that id; in the same
        transaction, drop the pending row `replaces` and add the job's `usage`."""

    @abstractmethod
    async def update_task(
        self, task_id: str, *, status: str, result: dict[str, Any] | None = None, error: str | None = None
    ) -> TaskRecord | None:
        """Set a task's status, and its result or error when given (None keeps the stored one).

        Returns the updated task, or None when no task has that id.
        """

    @abstractmethod
    async def get_task(self, task_id: str) -> TaskRecord | None: ...

    @abstractmethod
    async def recent_tasks(self, limit: int = 20, user_id: str | None = None) -> list[TaskRecord]:
        """Up to `limit` tasks (of `user_id` only, when given), newest first."""

    @abstractmethod
    async def task_ids(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        """Up to `limit` task ids starting with `prefix` (case-insensitive; of `user_id` only, when
        given), newest first."""

    @abstractmethod
    async def processing_tasks(self, kind: str, model: str) -> list[TaskRecord]:
        """The tasks of that kind and model the store still holds as PROCESSING, newest first."""

    @abstractmethod
    async def drop_task(self, task_id: str) -> None: ...

    async def begin_submission(
        self, kind: str, model: str, request: dict[str, Any], user_id: str = ""
    ) -> str:
        """Record a paid job about to be submitted, before its id is known; returns the pending row's id.

        A server killed while the API call is under way leaves this row behind: the job is then at
        least visible as submitted with its id unknown, never silently paid for."""
        pending = TaskRecord(
            id=f"pending-{secrets.token_hex(8)}",
            kind=kind,
            model=model,
            request=request,
            status=SUBMITTING,
            user_id=user_id,
        )
        await self.record_task(pending)
        return pending.id

    async def settle_submission(
        self, pending_id: str, task: TaskRecord | None, usage: UsageRow | None = None
    ) -> None:
        """Replace the pending row by the job the API created (with its usage, in the same transaction),
        or drop it when the submission certainly failed (`task` None).

        A write that fails is tried SETTLE_ATTEMPTS times; then the job goes to the journal, which the
        next open of the store adds, and the StoreError says so."""
        failure: StoreError | None = None
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                if task is None:
                    await self.drop_task(pending_id)
                else:
                    await self.record_task(task, replaces=pending_id, usage=usage)
                return
            except StoreError as exc:
                failure = exc
                if attempt + 1 < SETTLE_ATTEMPTS:
                    await anyio.sleep(0.5 * 2**attempt)
        assert failure is not None
        if task is None:
            raise failure
        journaled = await anyio.to_thread.run_sync(journal.write, self.journal_path, task, usage, pending_id)
        where = (
            f"it is kept in {self.journal_path} for the next start"
            if journaled
            else ("the journal could not be written either")
        )
        raise StoreError(f"{failure} ({where})") from failure

    @abstractmethod
    async def claim_task(self, task_id: str, owner: str, seconds: float) -> bool:
        """Take the right to save a finished job's media for `seconds`; False while another owner holds it.
        The claim lives in the database, so of several processes sharing it only one downloads."""

    @abstractmethod
    async def release_task(self, task_id: str, owner: str) -> None:
        """Give up a claim taken with `claim_task` (a no-op when `owner` does not hold it)."""

    # -- leases ----------------------------------------------------------------------------------

    @abstractmethod
    async def take_lease(self, key: str, owner: str, seconds: float) -> bool:
        """Hold `key` for `seconds` from now: taken when free, expired or already `owner`'s (then
        extended, never shortened); False while another owner holds it. Expiry is on the database's
        clock (PostgreSQL's for every replica), so of several processes sharing it one holds a key."""

    @abstractmethod
    async def drop_lease(self, key: str, owner: str) -> None:
        """Give up a lease taken with `take_lease` (a no-op when `owner` does not hold it); leases
        that expired LEASES_KEPT seconds ago go with it."""

    # -- MCP tasks -------------------------------------------------------------------------------

    @abstractmethod
    async def add_mcp_task(self, task: McpTask) -> None: ...

    @abstractmethod
    async def update_mcp_task(
        self, task_id: str, *, status: str, message: str | None, result: dict[str, Any] | None = None
    ) -> McpTask | None:
        """Set an MCP task's status and message (and its result when given) unless it has ended: a
        finished task never changes. Returns the task as it is now, or None when no task has that id."""

    @abstractmethod
    async def drop_mcp_task(self, task_id: str) -> None: ...

    @abstractmethod
    async def get_mcp_task(self, task_id: str) -> McpTask | None: ...

    @abstractmethod
    async def recent_mcp_tasks(
        self, limit: int, before: float | None = None, user_id: str | None = None
    ) -> list[McpTask]:
        """MCP tasks newest first, created before `before` when given (a page of tasks/list), of
        `user_id` only when given."""

    # -- media -----------------------------------------------------------------------------------

    @abstractmethod
    async def add_media(self, media: MediaRecord) -> None:
        """Record a saved file; a record with the same name is replaced (the file was rewritten)."""

    @abstractmethod
    async def get_media(self, name: str) -> MediaRecord | None: ...

    @abstractmethod
    async def media_names(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        """Up to `limit` saved media names starting with `prefix` (case-insensitive; of `user_id` only,
        when given), newest first."""

    @abstractmethod
    async def recent_media(self, limit: int = 20, user_id: str | None = None) -> list[MediaRecord]:
        """Up to `limit` saved files (of `user_id` only, when given), newest first."""

    # -- usage -----------------------------------------------------------------------------------

    async def record_usage(self, tool: str, model: str, units: int, unit: str, user_id: str = "") -> None:
        await self.record_usage_rows([(tool, model, units, unit, time.time(), user_id)])

    async def record_usage_rows(self, rows: Sequence[UsageRow]) -> None:
        """Add usage rows in one transaction. Units are clamped to 0..MAX_UNITS and texts made valid;
        a row that is not (text, text, integer, text, time[, text]) is left out with a warning, and costs no
        other row."""
        clean = [row for row in map(usage_row, rows) if row is not None]
        if len(clean) < len(rows):
            left_out = len(rows) - len(clean)
            log.warning("%d usage row(s) not recorded: not (tool, model, units, unit, time)", left_out)
        if clean:
            await self._insert_usage(clean)

    @abstractmethod
    async def _insert_usage(self, rows: list[StoredUsage]) -> None: ...

    @abstractmethod
    async def usage_totals(self, user_id: str | None = None, *, by_user: bool = False) -> list[UsageTotal]:
        """Calls and units summed per tool, model and unit (and user, `by_user`); of `user_id` only
        when given."""

    @abstractmethod
    async def units_since(self, tool: str, since: float, user_id: str | None = None) -> int:
        """The units `tool` counted since `since` (unix seconds), of `user_id` only when given."""

    # -- shared helpers --------------------------------------------------------------------------

    def _dumps(self, value: dict[str, Any], what: str) -> str:
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StoreError(f"cannot write to the store {self.where}: {what} is not JSON ({exc})") from exc

    def _task_values(self, task: TaskRecord) -> tuple[Any, ...]:
        now = time.time()
        return (
            task.id,
            task.kind,
            task.model,
            self._dumps(task.request, "the task's request"),
            task.status,
            None if task.result is None else self._dumps(task.result, "the task's result"),
            task.error,
            task.created_at or now,
            task.updated_at or now,
            task.user_id,
        )


def task_from_row(row: Sequence[Any]) -> TaskRecord:
    id_, kind, model, request, status, result, error, created_at, updated_at, user_id = row
    return TaskRecord(
        id=id_,
        kind=kind,
        model=model,
        request=json.loads(request),
        status=status,
        result=None if result is None else json.loads(result),
        error=error,
        created_at=created_at,
        updated_at=updated_at,
        user_id=user_id,
    )


def mcp_task_from_row(row: Sequence[Any]) -> McpTask:
    id_, tool, job_id, status, message, result, ttl_ms, created_at, updated_at, user_id = row
    return McpTask(
        id=id_,
        tool=tool,
        job_id=job_id,
        status=status,
        message=message,
        result=None if result is None else json.loads(result),
        ttl_ms=ttl_ms,
        created_at=created_at,
        updated_at=updated_at,
        user_id=user_id,
    )
