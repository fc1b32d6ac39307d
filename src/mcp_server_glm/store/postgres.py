"""The shared engine: PostgreSQL at GLM_DATABASE_URL, one schema for every replica of the server.

psycopg 3 with its async pool (the `postgres` extra), imported only when the URL is set. Each call is one
transaction on a pooled connection; claims are row-level (an UPDATE that only matches an unheld or expired
claim), migrations run at open under an advisory lock, and no message ever shows the URL's password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

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
from .where import redacted

try:
    import psycopg
    from psycopg.adapt import AdaptersMap
    from psycopg.types.string import StrDumperUnknown
    from psycopg_pool import AsyncConnectionPool
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise StoreError(
        "GLM_DATABASE_URL is set but the PostgreSQL driver is missing: install mcp-server-glm[postgres]"
    ) from exc

T = TypeVar("T")
log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach the server
WAIT_TIMEOUT = 30.0  # seconds a call may wait for a free pooled connection
POOL_SIZE = 8  # connections per process
# A call waits at most LOCK_TIMEOUT for a row or table another replica holds (as SQLite's busy timeout
# does) and runs at most STATEMENT_TIMEOUT; either then fails as one StoreError, never hangs a tool call.
LOCK_TIMEOUT_MS = 5_000
STATEMENT_TIMEOUT_MS = 30_000
SESSION_OPTIONS = f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
NOW = "extract(epoch FROM clock_timestamp())::float8"  # the server's clock, the same for every replica

UPSERT_TASK = (
    f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
    "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, model = excluded.model, "
    "request = excluded.request, status = excluded.status, result = excluded.result, "
    "error = excluded.error, updated_at = excluded.updated_at"
)
INSERT_USAGE = "INSERT INTO usage (tool, model, units, unit, at, user_id) VALUES (%s, %s, %s, %s, %s, %s)"
OWNED = "(%s::text IS NULL OR user_id = %s::text)"  # rows of one user, or of all (None)
# Inserted when free; else updated only when expired or already the owner's (returning no row otherwise).
TAKE_LEASE = (
    f"INSERT INTO leases (key, owner, expires_at) VALUES (%s, %s, {NOW} + %s) ON CONFLICT (key) DO UPDATE "  # noqa: S608
    "SET expires_at = CASE WHEN leases.owner = excluded.owner "
    "THEN greatest(leases.expires_at, excluded.expires_at) ELSE excluded.expires_at END, "
    f"owner = excluded.owner WHERE leases.owner = excluded.owner OR leases.expires_at < {NOW} RETURNING key"
)
Connection: TypeAlias = "psycopg.AsyncConnection[tuple[Any, ...]]"


class NulSafeText(StrDumperUnknown):  # type: ignore[misc,unused-ignore]  # Any without the extra
    """Text as PostgreSQL takes it: U+0000, which SQLite keeps but PostgreSQL's text refuses (an upstream
    message may hold one), becomes U+FFFD rather than failing the write."""

    def dump(self, obj: str) -> bytes | bytearray | memoryview | None:
        dumped: bytes | bytearray | memoryview | None = super().dump(obj.replace("\x00", "\ufffd"))
        return dumped


ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_dumper(str, NulSafeText)


class PostgresStore(Store):
    """The PostgreSQL database at a URL; open it with `Store.open(data_dir, database_url=url)`."""

    def __init__(self, url: str, pool: AsyncConnectionPool[Connection], data_dir: Path) -> None:
        self.where = redacted(url)
        self.journal_path = data_dir / journal.JOURNAL_NAME
        self._secret = _password(url)
        self._pool: AsyncConnectionPool[Connection] | None = pool

    @classmethod
    async def connect(cls, url: str, data_dir: Path) -> PostgresStore:
        where, secret = redacted(url), _password(url)
        try:
            # The journal lives in the data directory (see journal): make it, as the SQLite engine does.
            await anyio.Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("The data directory %s cannot be created: %s", data_dir, exc.strerror or exc)
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT), context=ADAPTERS
            ) as first:
                await _migrate(first, where)
                await _replay_journal(first, data_dir / journal.JOURNAL_NAME)
            pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=WAIT_TIMEOUT,
                open=False,
                kwargs={
                    "connect_timeout": int(CONNECT_TIMEOUT),
                    "context": ADAPTERS,
                    "options": _options(url),
                },
            )
            try:
                await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await pool.close()
                raise
        except psycopg.Error as exc:
            raise _error("cannot open", where, secret, exc) from exc
        return cls(url, pool, data_dir)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- running calls ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self, action: str) -> AsyncIterator[Connection]:
        """A pooled connection in one transaction: committed when the block ends, rolled back on error."""
        if self._pool is None:
            raise StoreError(f"{action} the store {self.where}: it is closed")
        try:
            async with self._pool.connection() as connection:
                yield connection
        except psycopg.Error as exc:
            raise _error(action, self.where, self._secret, exc) from exc

    async def _write(self, call: Callable[[Connection], Awaitable[T]]) -> T:
        # Shielded, as a write on SQLite runs to its end in its thread: a started write commits or
        # rolls back before a cancelled caller moves on.
        with anyio.CancelScope(shield=True):
            async with self._transaction("cannot write to") as connection:
                done = await call(connection)
        return done

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._transaction("cannot read") as connection:
            cursor = await connection.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
        return rows

    # -- tasks -----------------------------------------------------------------------------------

    async def record_task(
        self, task: TaskRecord, *, replaces: str | None = None, usage: UsageRow | None = None
    ) -> None:
        values = self._task_values(task)
        row = None if usage is None else usage_row(usage)

        async def write(db: Connection) -> None:
            if replaces is not None:
                await db.execute("DELETE FROM tasks WHERE id = %s", (replaces,))
            await db.execute(UPSERT_TASK, values)
            if row is not None:
                await db.execute(INSERT_USAGE, row)

        await self._write(write)

    async def update_task(
        self, task_id: str, *, status: str, result: dict[str, Any] | None = None, error: str | None = None
    ) -> TaskRecord | None:
        result_json = None if result is None else self._dumps(result, "the task's result")

        async def write(db: Connection) -> TaskRecord | None:
            cursor = await db.execute(
                "UPDATE tasks SET status = %s, result = coalesce(%s, result), "  # noqa: S608
                f"error = coalesce(%s, error), updated_at = %s WHERE id = %s RETURNING {TASK_COLUMNS}",
                (status, result_json, error, _now(), task_id),
            )
            row = await cursor.fetchone()
            return None if row is None else task_from_row(row)

        return await self._write(write)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        rows = await self._rows(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s", (task_id,))  # noqa: S608
        return task_from_row(rows[0]) if rows else None

    async def recent_tasks(self, limit: int = 20, user_id: str | None = None) -> list[TaskRecord]:
        if limit <= 0:
            return []
        rows = await self._rows(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE {OWNED} ORDER BY created_at DESC, seq DESC LIMIT %s",  # noqa: S608
            (user_id, user_id, limit),
        )
        return [task_from_row(row) for row in rows]

    async def task_ids(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        return await self._names("tasks", "id", prefix, limit, user_id)

    async def processing_tasks(self, kind: str, model: str) -> list[TaskRecord]:
        rows = await self._rows(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'PROCESSING' AND kind = %s AND model = %s "  # noqa: S608
            "ORDER BY created_at DESC, seq DESC",
            (kind, model),
        )
        return [task_from_row(row) for row in rows]

    async def drop_task(self, task_id: str) -> None:
        async def write(db: Connection) -> None:
            await db.execute("DELETE FROM tasks WHERE id = %s", (task_id,))

        await self._write(write)

    async def claim_task(self, task_id: str, owner: str, seconds: float) -> bool:
        # Row-level: of two replicas updating the same row, the second waits for the first to commit,
        # then finds the claim held and matches nothing.
        async def write(db: Connection) -> bool:
            cursor = await db.execute(
                f"UPDATE tasks SET claimed_by = %s, claimed_until = {NOW} + %s WHERE id = %s AND "  # noqa: S608
                f"(claimed_by IS NULL OR claimed_by = %s OR claimed_until < {NOW}) RETURNING id",
                (owner, float(seconds), task_id, owner),
            )
            return await cursor.fetchone() is not None

        return await self._write(write)

    async def release_task(self, task_id: str, owner: str) -> None:
        async def write(db: Connection) -> None:
            await db.execute(
                "UPDATE tasks SET claimed_by = NULL, claimed_until = NULL WHERE id = %s AND claimed_by = %s",
                (task_id, owner),
            )

        await self._write(write)

    # -- leases ----------------------------------------------------------------------------------

    async def take_lease(self, key: str, owner: str, seconds: float) -> bool:
        # Of two replicas inserting the same key, the second waits for the first to commit, then
        # finds the lease held (not expired, another owner) and updates nothing.
        async def write(db: Connection) -> bool:
            cursor = await db.execute(TAKE_LEASE, (key, owner, float(seconds)))
            return await cursor.fetchone() is not None

        return await self._write(write)

    async def drop_lease(self, key: str, owner: str) -> None:
        async def write(db: Connection) -> None:
            await db.execute(
                f"DELETE FROM leases WHERE (key = %s AND owner = %s) OR expires_at < {NOW} - %s",  # noqa: S608
                (key, owner, LEASES_KEPT),
            )

        await self._write(write)

    # -- MCP tasks -------------------------------------------------------------------------------

    async def add_mcp_task(self, task: McpTask) -> None:
        now = _now()
        result = None if task.result is None else self._dumps(task.result, "the task's result")
        values = (task.id, task.tool, task.job_id, task.status, task.message, result, task.ttl_ms)

        async def write(db: Connection) -> None:
            await db.execute(
                f"INSERT INTO mcp_tasks ({MCP_TASK_COLUMNS}) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*values, task.created_at or now, now, task.user_id),
            )

        await self._write(write)

    async def update_mcp_task(
        self, task_id: str, *, status: str, message: str | None, result: dict[str, Any] | None = None
    ) -> McpTask | None:
        result_json = None if result is None else self._dumps(result, "the task's result")

        async def write(db: Connection) -> McpTask | None:
            await db.execute(
                "UPDATE mcp_tasks SET status = %s, message = %s, result = coalesce(%s, result), "
                "updated_at = %s WHERE id = %s AND status = 'working'",
                (status, message, result_json, _now(), task_id),
            )
            cursor = await db.execute(
                f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE id = %s",  # noqa: S608
                (task_id,),
            )
            row = await cursor.fetchone()
            return None if row is None else mcp_task_from_row(row)

        return await self._write(write)

    async def drop_mcp_task(self, task_id: str) -> None:
        async def write(db: Connection) -> None:
            await db.execute("DELETE FROM mcp_tasks WHERE id = %s", (task_id,))

        await self._write(write)

    async def get_mcp_task(self, task_id: str) -> McpTask | None:
        rows = await self._rows(f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE id = %s", (task_id,))  # noqa: S608
        return mcp_task_from_row(rows[0]) if rows else None

    async def recent_mcp_tasks(
        self, limit: int, before: float | None = None, user_id: str | None = None
    ) -> list[McpTask]:
        where = "" if before is None else "AND created_at < %s "
        since = () if before is None else (before,)
        params: tuple[Any, ...] = (user_id, user_id, *since, max(limit, 0))
        rows = await self._rows(
            f"SELECT {MCP_TASK_COLUMNS} FROM mcp_tasks WHERE {OWNED} {where}"  # noqa: S608
            "ORDER BY created_at DESC LIMIT %s",
            params,
        )
        return [mcp_task_from_row(row) for row in rows]

    # -- media -----------------------------------------------------------------------------------

    async def add_media(self, media: MediaRecord) -> None:
        values = (
            media.name,
            media.path,
            media.mime_type,
            media.size,
            media.source_url,
            media.task_id,
            media.created_at or _now(),
            media.user_id,
        )

        # A replaced record takes a new `seq`, as SQLite's INSERT OR REPLACE gives it a new rowid.
        async def write(db: Connection) -> None:
            await db.execute(
                f"INSERT INTO media ({MEDIA_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
                "ON CONFLICT (name) DO UPDATE SET path = excluded.path, mime_type = excluded.mime_type, "
                "size = excluded.size, source_url = excluded.source_url, task_id = excluded.task_id, "
                "created_at = excluded.created_at, seq = excluded.seq, user_id = excluded.user_id",
                values,
            )

        await self._write(write)

    async def get_media(self, name: str) -> MediaRecord | None:
        rows = await self._rows(f"SELECT {MEDIA_COLUMNS} FROM media WHERE name = %s", (name,))  # noqa: S608
        return MediaRecord(*rows[0]) if rows else None

    async def media_names(self, prefix: str, limit: int, user_id: str | None = None) -> list[str]:
        return await self._names("media", "name", prefix, limit, user_id)

    async def recent_media(self, limit: int = 20, user_id: str | None = None) -> list[MediaRecord]:
        rows = await self._rows(
            f"SELECT {MEDIA_COLUMNS} FROM media WHERE {OWNED} ORDER BY created_at DESC, seq DESC LIMIT %s",  # noqa: S608
            (user_id, user_id, max(limit, 0)),
        )
        return [MediaRecord(*row) for row in rows]

    async def _names(
        self, table: str, column: str, prefix: str, limit: int, user_id: str | None = None
    ) -> list[str]:
        # No LIKE: ids may hold % or _.
        owned = "" if user_id is None else "AND user_id = %s "
        rows = await self._rows(
            f"SELECT {column} FROM {table} WHERE lower(substr({column}, 1, length(%s::text))) = "  # noqa: S608
            f"lower(%s::text) {owned}ORDER BY created_at DESC, seq DESC LIMIT %s",
            (prefix, prefix, *(() if user_id is None else (user_id,)), max(limit, 0)),
        )
        return [row[0] for row in rows]

    # -- usage -----------------------------------------------------------------------------------

    async def _insert_usage(self, rows: list[StoredUsage]) -> None:
        async def write(db: Connection) -> None:
            async with db.cursor() as cursor:
                await cursor.executemany(INSERT_USAGE, rows)

        await self._write(write)

    async def usage_totals(self, user_id: str | None = None, *, by_user: bool = False) -> list[UsageTotal]:
        # Byte order (COLLATE "C"), as SQLite sorts, whatever the database's locale.
        user = "user_id" if by_user else "''::text"
        rows = await self._rows(
            f"SELECT tool, model, count(*), coalesce(sum(units), 0)::bigint, unit, {user} FROM usage "  # noqa: S608
            f"WHERE {OWNED} GROUP BY tool, model, unit, {user} "
            f'ORDER BY {user} COLLATE "C", tool COLLATE "C", model COLLATE "C", unit COLLATE "C"',
            (user_id, user_id),
        )
        return [UsageTotal(*row) for row in rows]

    async def units_since(self, tool: str, since: float, user_id: str | None = None) -> int:
        rows = await self._rows(
            f"SELECT coalesce(sum(units), 0)::bigint FROM usage WHERE tool = %s AND at >= %s AND {OWNED}",  # noqa: S608
            (tool, since, user_id, user_id),
        )
        return int(rows[0][0])


def _options(url: str) -> str:
    """The URL's own session options (its `options` parameter), then the timeouts."""
    own = psycopg.conninfo.conninfo_to_dict(url).get("options")
    return f"{own} {SESSION_OPTIONS}" if own else SESSION_OPTIONS


def _now() -> float:
    return time.time()


def _password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


async def _migrate(db: Connection, where: str) -> None:
    """Bring the schema up to date, under an advisory lock: of replicas starting at once, the first to
    take it migrates; the others wait, then find the schema in place."""
    await db.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK,))
    try:
        async with db.transaction():
            await db.execute("CREATE TABLE IF NOT EXISTS glm_schema (version INTEGER NOT NULL)")
            cursor = await db.execute("SELECT max(version) FROM glm_schema")
            row = await cursor.fetchone()
            version = int(row[0]) if row is not None and row[0] is not None else 0
            if version > migrations.SCHEMA_VERSION:
                raise StoreError(
                    f"cannot open the store {where}: its schema is version {version}, newer than this "
                    f"mcp-server-glm knows ({migrations.SCHEMA_VERSION}); upgrade mcp-server-glm"
                )
            for step in migrations.POSTGRES_MIGRATIONS[version:]:
                for statement in step:
                    await db.execute(statement)
            if version < migrations.SCHEMA_VERSION:
                await db.execute("DELETE FROM glm_schema")
                await db.execute("INSERT INTO glm_schema (version) VALUES (%s)", (migrations.SCHEMA_VERSION,))
    finally:
        await db.execute("SELECT pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK,))


async def _replay_journal(db: Connection, path: Path) -> None:
    """Add the jobs (and their usage) that an earlier run could not record, then drop the journal.
    A job recorded meanwhile is kept as it is."""
    entries = await anyio.to_thread.run_sync(journal.read, path)
    if entries is None:
        return
    async with db.transaction():
        for entry in entries:
            cursor = await db.execute(
                f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                entry.task,
            )
            usage = None if entry.usage is None else usage_row(entry.usage)
            if await cursor.fetchone() is not None and usage is not None:
                await db.execute(INSERT_USAGE, usage)
            if entry.replaces is not None:
                await db.execute("DELETE FROM tasks WHERE id = %s", (entry.replaces,))
            log.info("Recorded job %s from the journal", entry.task_id)
    await anyio.Path(path).unlink(missing_ok=True)


def _error(action: str, where: str, secret: str, exc: Exception) -> StoreError:
    """One line naming the database, never its password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = "; ".join(lines[:2]) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        reason += f" ({sqlstate})"
    if secret:
        reason = reason.replace(secret, "***")
    return StoreError(f"{action} the store {where}: {reason}")
