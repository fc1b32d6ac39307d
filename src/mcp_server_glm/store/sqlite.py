"""The embedded engine: one SQLite file in WAL mode in the data directory.

Shared safely by every server process using the same data directory. Each call runs in a worker thread,
so the event loop never waits on the disk.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio

from ..errors import StoreError
from . import journal, migrations
from .base import LEASES_KEPT, Store, mcp_task_from_row, task_from_row
from .records import (
    MCP_TASK_COLUMNS,
    MEDIA_COLUMNS,
    TASK_COLUMNS,
    McpTask,
    MediaRecord,
    StoredUsage,
    TaskRecord,
    UsageRow,
    UsageTotal,
    usage_row,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

DB_NAME = "mcp-server-glm.db"
BUSY_TIMEOUT = 5.0  # seconds another process may hold the write lock before a call fails

UPSERT_TASK = (
    f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, model = excluded.model, "
    "request = excluded.request, status = excluded.status, result = excluded.result, "
    "error = excluded.error, updated_at = excluded.updated_at"
)
INSERT_USAGE = "INSERT INTO usage (tool, model, units, unit, at, user_id) VALUES (?, ?, ?, ?, ?, ?)"
# Inserted when free; else updated only when expired or already the owner's (matching no row otherwise).
TAKE_LEASE = (
    "INSERT INTO leases (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
    "expires_at = CASE WHEN leases.owner = excluded.owner THEN max(leases.expires_at, excluded.expires_at) "
    "ELSE excluded.expires_at END, owner = excluded.owner "
    "WHERE leases.owner = excluded.owner OR leases.expires_at < ?"
)


class SqliteStore(Store):
    """The SQLite database in one data directory (`path`); open it with `Store.open(data_dir)`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.where = str(path)
        self.journal_path = path.parent / journal.JOURNAL_NAME
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        # Calls queue here, in the event loop, rather than each parking a worker thread on the lock.
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def connect(cls, data_dir: Path) -> SqliteStore:
        path = data_dir / DB_NAME
        connection = await anyio.to_thread.run_sync(_connect, path)
        return cls(path, connection)

    async def close(self) -> None:
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
        row = None if usage is None else usage_row(usage)

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                if replaces is not None:
                    db.execute("DELETE FROM tasks WHERE id = ?", (replaces,))
                db.execute(UPSERT_TASK, values)
                if row is not None:
                    db.execute(INSERT_USAGE, row)

        await self._run("cannot write to", write)

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
        if limit <= 0:
            return []

        def read(db: sqlite3.Connection) -> list[TaskRecord]:
            rows = db.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE ? IS NULL OR user_id = ? "  # noqa: S608
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (user_id, user_id, limit),
            )
            return [task_from_row(row) for row in rows]

        return await self._run("cannot read", read)

    async def task_ids(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        return await self._run("cannot read", lambda db: _names(db, "tasks", "id", prefix, limit, user_id))

    async def processing_tasks(self, kind: str, model: str) -> list[TaskRecord]:
        """The tasks of that kind and model the store still holds as PROCESSING, newest first."""

        def read(db: sqlite3.Connection) -> list[TaskRecord]:
            rows = db.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'PROCESSING' AND kind = ? AND model = ? "  # noqa: S608
                "ORDER BY created_at DESC, rowid DESC",
                (kind, model),
            )
            return [task_from_row(row) for row in rows]

        return await self._run("cannot read", read)

    async def drop_task(self, task_id: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

        await self._run("cannot write to", write)

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

    # -- leases ----------------------------------------------------------------------------------

    async def take_lease(self, key: str, owner: str, seconds: float) -> bool:
        now = time.time()

        def write(db: sqlite3.Connection) -> bool:
            with _immediate(db):
                taken = db.execute(TAKE_LEASE, (key, owner, now + seconds, now))
                return taken.rowcount == 1

        return await self._run("cannot write to", write)

    async def drop_lease(self, key: str, owner: str) -> None:
        now = time.time()

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(
                    "DELETE FROM leases WHERE (key = ? AND owner = ?) OR expires_at < ?",
                    (key, owner, now - LEASES_KEPT),
                )

        await self._run("cannot write to", write)

    # -- MCP tasks -------------------------------------------------------------------------------

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
        def read(db: sqlite3.Connection) -> list[McpTask]:
            rows = db.execute(
                f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE created_at < ? "  # noqa: S608
                "AND (? IS NULL OR user_id = ?) ORDER BY created_at DESC LIMIT ?",
                (math.inf if before is None else before, user_id, user_id, limit),
            ).fetchall()
            return [mcp_task_from_row(row) for row in rows]

        return await self._run("cannot read", read)

    # -- media -----------------------------------------------------------------------------------

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
            media.user_id,
        )

        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(
                    f"INSERT OR REPLACE INTO media ({MEDIA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    values,
                )

        await self._run("cannot write to", write)

    async def get_media(self, name: str) -> MediaRecord | None:
        def read(db: sqlite3.Connection) -> MediaRecord | None:
            row = db.execute(f"SELECT {MEDIA_COLUMNS} FROM media WHERE name = ?", (name,)).fetchone()  # noqa: S608
            return None if row is None else MediaRecord(*row)

        return await self._run("cannot read", read)

    async def media_names(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        return await self._run("cannot read", lambda db: _names(db, "media", "name", prefix, limit, user_id))

    async def recent_media(self, limit: int = 20, user_id: str | None = None) -> list[MediaRecord]:
        def read(db: sqlite3.Connection) -> list[MediaRecord]:
            rows = db.execute(
                f"SELECT {MEDIA_COLUMNS} FROM media WHERE ? IS NULL OR user_id = ? "  # noqa: S608
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (user_id, user_id, max(limit, 0)),
            )
            return [MediaRecord(*row) for row in rows]

        return await self._run("cannot read", read)

    # -- usage -----------------------------------------------------------------------------------

    async def _insert_usage(self, rows: list[StoredUsage]) -> None:
        def write(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.executemany(INSERT_USAGE, rows)

        await self._run("cannot write to", write)

    async def usage_totals(self, user_id: str | None = None, *, by_user: bool = False) -> list[UsageTotal]:
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

    async def units_since(self, tool: str, since: float, user_id: str | None = None) -> int:
        def read(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT coalesce(sum(units), 0) FROM usage WHERE tool = ? AND at >= ? "
                "AND (? IS NULL OR user_id = ?)",
                (tool, since, user_id, user_id),
            ).fetchone()
            return int(row[0])

        return await self._run("cannot read", read)

    # -- running calls ---------------------------------------------------------------------------

    async def _run(self, action: str, call: Callable[[sqlite3.Connection], T]) -> T:
        # Not abandoned on cancellation: a started write finishes (or rolls back) before we return.
        return await anyio.to_thread.run_sync(self._call, action, call, limiter=self._limiter)

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
            _replay_journal(connection, path.parent / journal.JOURNAL_NAME)
        except BaseException:
            connection.close()
            raise
    except sqlite3.Error as exc:
        raise _error("cannot open", path, exc) from exc
    return connection


def _check_version(db: sqlite3.Connection, path: Path) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    if version > migrations.SCHEMA_VERSION:
        raise StoreError(
            f"cannot open the store {path}: its schema is version {version}, newer than this "
            f"mcp-server-glm knows ({migrations.SCHEMA_VERSION}); upgrade mcp-server-glm or use another "
            "data directory"
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
        for step in migrations.MIGRATIONS[version:]:
            for statement in step:
                db.execute(statement)
        if version < migrations.SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION}")


def _replay_journal(db: sqlite3.Connection, path: Path) -> None:
    """Add the jobs (and their usage) that an earlier run could not record, then drop the journal.
    A job recorded meanwhile is kept as it is."""
    entries = journal.read(path)
    if entries is None:
        return
    with _immediate(db):
        for entry in entries:
            inserted = db.execute(
                f"INSERT OR IGNORE INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                entry.task,
            )
            usage = None if entry.usage is None else usage_row(entry.usage)
            if inserted.rowcount and usage is not None:
                db.execute(INSERT_USAGE, usage)
            if entry.replaces is not None:
                db.execute("DELETE FROM tasks WHERE id = ?", (entry.replaces,))
            log.info("Recorded job %s from the journal", entry.task_id)
    path.unlink(missing_ok=True)


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


def _get_task(db: sqlite3.Connection, task_id: str) -> TaskRecord | None:
    row = db.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()  # noqa: S608
    return None if row is None else task_from_row(row)


def _get_mcp_task(db: sqlite3.Connection, task_id: str) -> McpTask | None:
    row = db.execute(
        f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE id = ?",  # noqa: S608
        (task_id,),
    ).fetchone()
    return None if row is None else mcp_task_from_row(row)


def _error(action: str, path: Path, exc: sqlite3.Error) -> StoreError:
    reason = str(exc) or type(exc).__name__
    code = getattr(exc, "sqlite_errorname", None)
    if code:
        reason += f" ({code})"
    if code in {"SQLITE_CANTOPEN", "SQLITE_READONLY"} and not os.access(path.parent, os.W_OK):
        reason += f"; {path.parent} is not writable"
    return StoreError(f"{action} the store {path}: {reason}")
