"""The server's memory across restarts: the async jobs it submitted, the media it saved, its usage.

One SQLite file in WAL mode, shared safely by every server process using the same data directory.
Each call runs in a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio

from .errors import StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

DB_NAME = "mcp-server-glm.db"
# Jobs the API accepted but the database could not take, one JSON line each; added at the next open.
JOURNAL_NAME = "unrecorded-jobs.jsonl"
BUSY_TIMEOUT = 5.0  # seconds another process may hold the write lock before a call fails
SETTLE_ATTEMPTS = 3  # writes of an accepted job's record before it goes to the journal
SUBMITTING = "SUBMITTING"  # status of a job being submitted: the API may have it, its id is not known yet
# The most units one usage row counts (glm.models.MAX_COUNT clamps upstream counts the same way):
# millions of such rows still sum inside SQLite's 64-bit integers.
MAX_UNITS = 10**12

# Step i brings the schema from version i to version i + 1. Append new steps; never edit old ones.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            result TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX tasks_created_at ON tasks (created_at)",
        """CREATE TABLE media (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            source_url TEXT NOT NULL,
            task_id TEXT,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            tool TEXT NOT NULL,
            model TEXT NOT NULL,
            units INTEGER NOT NULL,
            unit TEXT NOT NULL,
            at REAL NOT NULL
        )""",
    ),
    # Which process is saving a finished job's media, and until when its claim holds.
    (
        "ALTER TABLE tasks ADD COLUMN claimed_by TEXT",
        "ALTER TABLE tasks ADD COLUMN claimed_until REAL",
    ),
    # MCP tasks (the protocol's task handles): each maps an unguessable id to the GLM job it follows
    # (job_id, none for a run of a tool in this process), with its status, final result and lifetime.
    (
        """CREATE TABLE mcp_tasks (
            id TEXT PRIMARY KEY,
            tool TEXT NOT NULL,
            job_id TEXT,
            status TEXT NOT NULL,
            message TEXT,
            result TEXT,
            ttl_ms INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX mcp_tasks_created_at ON mcp_tasks (created_at)",
    ),
    # The signed-in user (the token's sub) each job, usage row and MCP task belongs to; '' without sign-in.
    (
        "ALTER TABLE tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE usage ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE mcp_tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)

TASK_COLUMNS = "id, kind, model, request, status, result, error, created_at, updated_at"
TASK_READ = TASK_COLUMNS + ", user_id"  # what a read returns (the owner is set once, at insert)
MEDIA_COLUMNS = "name, path, mime_type, size, source_url, task_id, created_at"
UPSERT_TASK = (
    f"INSERT INTO tasks ({TASK_READ}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, model = excluded.model, "
    "request = excluded.request, status = excluded.status, result = excluded.result, "
    "error = excluded.error, updated_at = excluded.updated_at"
)
INSERT_USAGE = "INSERT INTO usage (tool, model, units, unit, at, user_id) VALUES (?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    kind: str
    model: str
    request: dict[str, Any]
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0  # unix seconds; 0 means "now" when recorded
    updated_at: float = 0.0
    user_id: str = ""  # who submitted it (sign-in's sub); '' without sign-in


@dataclass(frozen=True, slots=True)
class McpTask:
    """An MCP task handle: `status` is working, completed, failed or cancelled; `result` the final
    CallToolResult as it went on the wire; `job_id` the GLM job it follows (None: a run in this process)."""

    id: str
    tool: str
    job_id: str | None
    status: str
    message: str | None = None
    result: dict[str, Any] | None = None
    ttl_ms: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    user_id: str = ""


MCP_TASK_COLUMNS = "id, tool, job_id, status, message, result, ttl_ms, created_at, updated_at, user_id"


@dataclass(frozen=True, slots=True)
class MediaRecord:
    name: str
    path: str
    mime_type: str
    size: int
    source_url: str
    task_id: str | None = None
    created_at: float = 0.0  # unix seconds; 0 means "now" when recorded


@dataclass(frozen=True, slots=True)
class UsageTotal:
    tool: str
    model: str
    calls: int
    units: int
    unit: str
    user: str = ""  # set when the totals are per user (usage_totals(by_user=True))


# tool, model, units, unit, when (unix seconds) and, optionally, the user ('' when left out); a plain
# tuple, so counting needs no import of this module
UsageRow = tuple[str, str, int, str, float] | tuple[str, str, int, str, float, str]


class Store:
    """The database in one data directory; open it with `await Store.open(data_dir)`.

    Usable as an async context manager (`async with await Store.open(data_dir) as store:`),
    which closes it on exit.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        # Calls queue here, in the event loop, rather than each parking a worker thread on the lock.
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def open(cls, data_dir: Path) -> Store:
        """Open (creating and migrating as needed) the database in `data_dir`."""
        path = Path(data_dir) / DB_NAME
        connection = await anyio.to_thread.run_sync(_connect, path)
        return cls(path, connection)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the database; later calls raise StoreError. Closing twice is harmless."""

        def close() -> None:
            with self._lock:
                if self._connection is not None:
                    connection, self._connection = self._connection, None
                    connection.close()

        await anyio.to_thread.run_sync(close, limiter=self._limiter)

    # -- tasks -----------------------------------------------------------------------------------

    async def record_task(
        self, task: TaskRecord, *, replaces: str | None = None, usage: UsageRow | None = None
    ) -> None:
        """Insert a task, or update every field but `created_at` of the task with that id; in the same
        transaction, drop the pending row `replaces` and add the job's `usage`."""
        values = self._task_values(task)
        row = None if usage is None else _usage_row(usage)

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                if replaces is not None:
                    db.execute("DELETE FROM tasks WHERE id = ?", (replaces,))
                db.execute(UPSERT_TASK, values)
                if row is not None:
                    db.execute(INSERT_USAGE, row)

        await self._run("cannot write to", write)

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

    def _journal(self, task: TaskRecord, usage: UsageRow | None, pending_id: str) -> bool:
        """Append a job the database could not take to the journal (flushed to disk); False if that
        failed too. Runs in a worker thread."""
        entry = {"task": dataclasses.asdict(task), "usage": usage, "replaces": pending_id}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        try:
            fd = os.open(self.path.parent / JOURNAL_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("Job %s could not be written to the journal either: %s", task.id, exc)
            return False
        return True

    async def update_task(
        self, task_id: str, *, status: str, result: dict[str, Any] | None = None, error: str | None = None
    ) -> TaskRecord | None:
        """Set a task's status, and its result or error when given (None keeps the stored one).

        Returns the updated task, or None when no task has that id.
        """
        result_json = None if result is None else self._dumps(result, "the task's result")
        now = time.time()

        def write(db: sqlite3.Connection) -> TaskRecord | None:
            with _immediate(db):
                db.execute(
                    "UPDATE tasks SET status = ?, result = coalesce(?, result), "
                    "error = coalesce(?, error), updated_at = ? WHERE id = ?",
                    (status, result_json, error, now, task_id),
                )
                return _get_task(db, task_id)

        return await self._run("cannot write to", write)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await self._run("cannot read", lambda db: _get_task(db, task_id))

    async def recent_tasks(self, limit: int = 20, user_id: str | None = None) -> list[TaskRecord]:
        """Up to `limit` tasks (of `user_id` only, when given), newest first."""
        if limit <= 0:
            return []

        def read(db: sqlite3.Connection) -> list[TaskRecord]:
            rows = db.execute(
                f"SELECT {TASK_READ} FROM tasks WHERE ? IS NULL OR user_id = ? "  # noqa: S608
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (user_id, user_id, limit),
            )
            return [_task(row) for row in rows]

        return await self._run("cannot read", read)

    async def task_ids(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        """Up to `limit` task ids starting with `prefix` (case-insensitive; of `user_id` only, when
        given), newest first."""
        return await self._run("cannot read", lambda db: _names(db, "tasks", "id", prefix, limit, user_id))

    async def processing_tasks(self, kind: str, model: str) -> list[TaskRecord]:
        """The tasks of that kind and model the store still holds as PROCESSING, newest first."""

        def read(db: sqlite3.Connection) -> list[TaskRecord]:
            rows = db.execute(
                f"SELECT {TASK_READ} FROM tasks WHERE status = 'PROCESSING' AND kind = ? AND model = ? "  # noqa: S608
                "ORDER BY created_at DESC, rowid DESC",
                (kind, model),
            )
            return [_task(row) for row in rows]

        return await self._run("cannot read", read)

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

        def drop(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute("DELETE FROM tasks WHERE id = ?", (pending_id,))

        for attempt in range(SETTLE_ATTEMPTS):
            try:
                if task is None:
                    await self._run("cannot write to", drop)
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
        journaled = await anyio.to_thread.run_sync(self._journal, task, usage, pending_id)
        where = (
            f"it is kept in {self.path.parent / JOURNAL_NAME} for the next start"
            if journaled
            else ("the journal could not be written either")
        )
        raise StoreError(f"{failure} ({where})") from failure

    async def claim_task(self, task_id: str, owner: str, seconds: float) -> bool:
        """Take the right to save a finished job's media for `seconds`; False while another owner holds it.
        The claim lives in the database, so of several processes sharing it only one downloads."""
        now = time.time()

        def write(db: sqlite3.Connection) -> bool:
            with _immediate(db):
                taken = db.execute(
                    "UPDATE tasks SET claimed_by = ?, claimed_until = ? WHERE id = ? AND "
                    "(claimed_by IS NULL OR claimed_by = ? OR claimed_until < ?)",
                    (owner, now + seconds, task_id, owner, now),
                )
                return taken.rowcount == 1

        return await self._run("cannot write to", write)

    async def release_task(self, task_id: str, owner: str) -> None:
        """Give up a claim taken with `claim_task` (a no-op when `owner` does not hold it)."""

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(
                    "UPDATE tasks SET claimed_by = NULL, claimed_until = NULL "
                    "WHERE id = ? AND claimed_by = ?",
                    (task_id, owner),
                )

        await self._run("cannot write to", write)

    # -- media -----------------------------------------------------------------------------------

    async def add_mcp_task(self, task: McpTask) -> None:
        now = time.time()
        result = None if task.result is None else self._dumps(task.result, "the task's result")
        values = (task.id, task.tool, task.job_id, task.status, task.message, result, task.ttl_ms)
        created = task.created_at or now

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(
                    f"INSERT INTO mcp_tasks ({MCP_TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    (*values, created, now, task.user_id),
                )

        await self._run("cannot write to", write)

    async def update_mcp_task(
        self, task_id: str, *, status: str, message: str | None, result: dict[str, Any] | None = None
    ) -> McpTask | None:
        """Set an MCP task's status and message (and its result when given) unless it has ended: a
        finished task never changes. Returns the task as it is now, or None when no task has that id."""
        result_json = None if result is None else self._dumps(result, "the task's result")
        now = time.time()

        def write(db: sqlite3.Connection) -> McpTask | None:
            with _immediate(db):
                db.execute(
                    "UPDATE mcp_tasks SET status = ?, message = ?, result = coalesce(?, result), "
                    "updated_at = ? WHERE id = ? AND status = 'working'",
                    (status, message, result_json, now, task_id),
                )
                return _get_mcp_task(db, task_id)

        return await self._run("cannot write to", write)

    async def drop_mcp_task(self, task_id: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute("DELETE FROM mcp_tasks WHERE id = ?", (task_id,))

        await self._run("cannot write to", write)

    async def get_mcp_task(self, task_id: str) -> McpTask | None:
        return await self._run("cannot read", lambda db: _get_mcp_task(db, task_id))

    async def recent_mcp_tasks(
        self, limit: int, before: float | None = None, user_id: str | None = None
    ) -> list[McpTask]:
        """MCP tasks newest first, created before `before` when given (a page of tasks/list), of
        `user_id` only when given."""

        def read(db: sqlite3.Connection) -> list[McpTask]:
            rows = db.execute(
                f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE created_at < ? "  # noqa: S608
                "AND (? IS NULL OR user_id = ?) ORDER BY created_at DESC LIMIT ?",
                (math.inf if before is None else before, user_id, user_id, limit),
            ).fetchall()
            return [_mcp_task(row) for row in rows]

        return await self._run("cannot read", read)

    async def add_media(self, media: MediaRecord) -> None:
        """Record a saved file; a record with the same name is replaced (the file was rewritten)."""
        values = (
            media.name,
            media.path,
            media.mime_type,
            media.size,
            media.source_url,
            media.task_id,
            media.created_at or time.time(),
        )

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(
                    f"INSERT OR REPLACE INTO media ({MEDIA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    values,
                )

        await self._run("cannot write to", write)

    async def get_media(self, name: str) -> MediaRecord | None:
        def read(db: sqlite3.Connection) -> MediaRecord | None:
            row = db.execute(f"SELECT {MEDIA_COLUMNS} FROM media WHERE name = ?", (name,)).fetchone()  # noqa: S608
            return None if row is None else MediaRecord(*row)

        return await self._run("cannot read", read)

    async def media_names(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` saved media names starting with `prefix` (case-insensitive), newest first."""
        return await self._run("cannot read", lambda db: _names(db, "media", "name", prefix, limit))

    async def recent_media(self, limit: int = 20) -> list[MediaRecord]:
        """Up to `limit` saved files, newest first."""

        def read(db: sqlite3.Connection) -> list[MediaRecord]:
            rows = db.execute(
                f"SELECT {MEDIA_COLUMNS} FROM media ORDER BY created_at DESC, rowid DESC LIMIT ?",  # noqa: S608
                (max(limit, 0),),
            )
            return [MediaRecord(*row) for row in rows]

        return await self._run("cannot read", read)

    # -- usage -----------------------------------------------------------------------------------

    async def record_usage(self, tool: str, model: str, units: int, unit: str) -> None:
        await self.record_usage_rows([(tool, model, units, unit, time.time())])

    async def record_usage_rows(self, rows: Sequence[UsageRow]) -> None:
        """Add usage rows in one transaction. Units are clamped to 0..MAX_UNITS and texts made valid;
        a row that is not (text, text, integer, text, time) is left out with a warning, and costs no
        other row."""
        clean = [row for row in map(_usage_row, rows) if row is not None]
        if len(clean) < len(rows):
            left_out = len(rows) - len(clean)
            log.warning("%d usage row(s) not recorded: not (tool, model, units, unit, time)", left_out)
        if not clean:
            return

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.executemany(INSERT_USAGE, clean)

        await self._run("cannot write to", write)

    async def usage_totals(self, user_id: str | None = None, *, by_user: bool = False) -> list[UsageTotal]:
        """Calls and units summed per tool, model and unit (and user, `by_user`); of `user_id` only
        when given."""
        user = "user_id" if by_user else "''"

        def read(db: sqlite3.Connection) -> list[UsageTotal]:
            rows = db.execute(
                f"SELECT tool, model, count(*), coalesce(sum(units), 0), unit, {user} FROM usage "  # noqa: S608
                f"WHERE ? IS NULL OR user_id = ? GROUP BY tool, model, unit, {user} "
                f"ORDER BY {user}, tool, model, unit",
                (user_id, user_id),
            )
            return [UsageTotal(*row) for row in rows]

        return await self._run("cannot read", read)

    async def units_since(self, tool: str, since: float) -> int:
        """The units `tool` counted since `since` (unix seconds)."""

        def read(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT coalesce(sum(units), 0) FROM usage WHERE tool = ? AND at >= ?", (tool, since)
            ).fetchone()
            return int(row[0])

        return await self._run("cannot read", read)

    # -- running calls ---------------------------------------------------------------------------

    async def _run(self, action: str, call: Callable[[sqlite3.Connection], T]) -> T:
        # Not abandoned on cancellation: a started write finishes (or rolls back) before we return.
        return await anyio.to_thread.run_sync(self._call, action, call, limiter=self._limiter)

    def _dumps(self, value: dict[str, Any], what: str) -> str:
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StoreError(f"cannot write to the store {self.path}: {what} is not JSON ({exc})") from exc

    def _call(self, action: str, call: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._connection is None:
                raise StoreError(f"{action} the store {self.path}: it is closed")
            try:
                return call(self._connection)
            except sqlite3.Error as exc:
                raise _error(action, self.path, exc) from exc


def _connect(path: Path) -> sqlite3.Connection:
    """Open the database at `path`, creating its directory and bringing its schema up to date."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StoreError(f"cannot open the store {path}: cannot create {path.parent}: {reason}") from exc
    try:
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            # Refuse a newer database before touching it at all (even its journal mode).
            _check_version(connection, path)
            _use_wal(connection)
            connection.execute("PRAGMA synchronous = NORMAL")
            _migrate(connection, path)
            _replay_journal(connection, path.parent / JOURNAL_NAME)
        except BaseException:
            connection.close()
            raise
    except sqlite3.Error as exc:
        raise _error("cannot open", path, exc) from exc
    return connection


def _check_version(db: sqlite3.Connection, path: Path) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"cannot open the store {path}: its schema is version {version}, newer than this "
            f"mcp-server-glm knows ({SCHEMA_VERSION}); upgrade mcp-server-glm or use another data directory"
        )
    return version


def _use_wal(db: sqlite3.Connection) -> None:
    # Switching a new database to WAL needs an exclusive lock, and SQLite reports another process
    # holding a lock as busy at once instead of waiting (busy_timeout does not apply here).
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    # The check and the steps share one write transaction, so of two processes opening a fresh
    # database at once, the second waits and then finds the schema already in place.
    with _immediate(db):
        version = _check_version(db, path)
        for step in MIGRATIONS[version:]:
            for statement in step:
                db.execute(statement)
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _replay_journal(db: sqlite3.Connection, journal: Path) -> None:
    """Add the jobs (and their usage) that an earlier run could not record, then drop the journal.
    A job recorded meanwhile is kept as it is."""
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("The journal %s could not be read: %s", journal, exc)
        return
    with _immediate(db):
        for line in lines:
            try:
                entry = json.loads(line)
                task = entry["task"]
                values = (
                    *(
                        task[key]
                        if key not in ("request", "result") or task[key] is None
                        else json.dumps(task[key], ensure_ascii=False, separators=(",", ":"))
                        for key in TASK_COLUMNS.split(", ")
                    ),
                    str(task.get("user_id", "")),
                )
            except (ValueError, KeyError, TypeError):
                log.warning("Skipped an unreadable line of the journal %s", journal)
                continue
            inserted = db.execute(
                f"INSERT OR IGNORE INTO tasks ({TASK_READ}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                values,
            )
            usage = _usage_row(tuple(entry["usage"])) if isinstance(entry.get("usage"), list) else None
            if inserted.rowcount and usage is not None:
                db.execute(INSERT_USAGE, usage)
            if isinstance(entry.get("replaces"), str):
                db.execute("DELETE FROM tasks WHERE id = ?", (entry["replaces"],))
            log.info("Recorded job %s from the journal", task.get("id"))
    journal.unlink(missing_ok=True)


def _names(
    db: sqlite3.Connection, table: str, column: str, prefix: str, limit: int, user_id: str | None = None
) -> list[str]:
    """The `column` of the newest rows of `table` whose value starts with `prefix` (no LIKE: ids may
    hold % or _), of `user_id` only when given."""
    owned = "" if user_id is None else "AND user_id = ? "
    rows = db.execute(
        f"SELECT {column} FROM {table} WHERE lower(substr({column}, 1, length(?))) = lower(?) "  # noqa: S608
        f"{owned}ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (prefix, prefix, *(() if user_id is None else (user_id,)), max(limit, 0)),
    )
    return [row[0] for row in rows]


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the write lock at once (waiting up to the busy timeout)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def _usage_row(row: object) -> tuple[str, str, int, str, float, str] | None:
    """A usage row as the table takes it (with its user, '' when left out), or None when it is not one."""
    if not isinstance(row, tuple) or len(row) not in (5, 6):
        return None
    tool, model, units, unit, at, *rest = row
    user = rest[0] if rest else ""
    if not (isinstance(tool, str) and isinstance(model, str) and isinstance(unit, str)):
        return None
    if not isinstance(user, str):
        return None
    if isinstance(units, bool) or not isinstance(units, int) or isinstance(at, bool):
        return None
    if not isinstance(at, int | float) or not math.isfinite(at):
        return None
    return _valid(tool), _valid(model), min(max(units, 0), MAX_UNITS), _valid(unit), float(at), _valid(user)


def _valid(text: str) -> str:
    """`text` as SQLite can store it: a lone surrogate (which UTF-8 cannot encode) becomes `?`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _get_task(db: sqlite3.Connection, task_id: str) -> TaskRecord | None:
    row = db.execute(f"SELECT {TASK_READ} FROM tasks WHERE id = ?", (task_id,)).fetchone()  # noqa: S608
    return None if row is None else _task(row)


def _task(row: tuple[Any, ...]) -> TaskRecord:
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


def _get_mcp_task(db: sqlite3.Connection, task_id: str) -> McpTask | None:
    row = db.execute(
        f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE id = ?",  # noqa: S608
        (task_id,),
    ).fetchone()
    return None if row is None else _mcp_task(row)


def _mcp_task(row: tuple[Any, ...]) -> McpTask:
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


def _error(action: str, path: Path, exc: sqlite3.Error) -> StoreError:
    reason = str(exc) or type(exc).__name__
    code = getattr(exc, "sqlite_errorname", None)
    if code:
        reason += f" ({code})"
    if code in {"SQLITE_CANTOPEN", "SQLITE_READONLY"} and not os.access(path.parent, os.W_OK):
        reason += f"; {path.parent} is not writable"
    return StoreError(f"{action} the store {path}: {reason}")
