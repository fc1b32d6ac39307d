"""The suite's store engine: SQLite by default, PostgreSQL for every server a test starts when
GLM_TEST_STORE=postgresql.

On PostgreSQL each data directory a test uses gets a database of its own, as on SQLite each has its own
file: the servers a test starts on one data directory share a store (and find it again after a restart),
and a server on another directory has another. The databases are copies of a template the migrations
were applied to once (`CREATE DATABASE ... TEMPLATE`), made ahead by a worker thread and dropped by
another after the test. `settings_for` and `server_env` (tests/conftest.py) ask `database_url_for(data_dir)`.
A test about SQLite itself says so with `@pytest.mark.sqlite_only("why")`.
"""

from __future__ import annotations

import os
import queue
import secrets
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from mcp_server_glm.settings import Settings
from mcp_server_glm.store import DB_NAME, Store
from mcp_server_glm.store.where import redacted
from tests.support.postgres import Cluster

if TYPE_CHECKING:
    import psycopg

SWITCH = "GLM_TEST_STORE"
ENGINES = ("sqlite", "postgresql")
TEMPLATE = "glm_template"
AHEAD = 4  # databases made before they are asked for


def suite_engine() -> str:
    """The engine the suite's servers use: "sqlite" (the default) or "postgresql"."""
    engine = os.environ.get(SWITCH, "") or "sqlite"
    if engine not in ENGINES:
        raise pytest.UsageError(f"{SWITCH}={engine!r}: use one of {', '.join(ENGINES)} (unset: sqlite)")
    return engine


class Databases:
    """Fresh databases from the migrated template, made ahead and dropped after use by two threads."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._migrate_template()
        self._ready: queue.Queue[str] = queue.Queue(maxsize=AHEAD)
        self._dropping: queue.Queue[str] = queue.Queue()
        self._stopped = threading.Event()
        self._failure: Exception | None = None
        self._threads = [
            threading.Thread(
                target=self._work, args=(job,), name=f"test-databases-{job.__name__}", daemon=True
            )
            for job in (self._make, self._drop)
        ]
        for thread in self._threads:
            thread.start()

    def _migrate_template(self) -> None:
        import psycopg

        with psycopg.connect(self.cluster.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {TEMPLATE}")

        async def migrate(journal_dir: str) -> None:
            store = await Store.open(Path(journal_dir), database_url=self.cluster.url(TEMPLATE))
            await store.close()

        with tempfile.TemporaryDirectory() as journal_dir:
            anyio.run(migrate, journal_dir)

    def _work(self, job: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run `job` on a connection of its own until the session ends (creating and dropping run side
        by side: a short test does not wait for both)."""
        import psycopg

        try:
            with psycopg.connect(self.cluster.url(), autocommit=True) as connection:
                while not self._stopped.is_set():
                    job(connection)
        except Exception as exc:  # told by the next `take`
            self._failure = exc

    def _make(self, connection: psycopg.Connection[Any]) -> None:
        made = f"t_{secrets.token_hex(6)}"
        connection.execute(f"CREATE DATABASE {made} TEMPLATE {TEMPLATE}")
        while not self._stopped.is_set():
            try:
                self._ready.put(made, timeout=0.05)
                return
            except queue.Full:
                continue

    def _drop(self, connection: psycopg.Connection[Any]) -> None:
        try:
            name = self._dropping.get(timeout=0.05)
        except queue.Empty:
            return
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def take(self) -> str:
        """The name of a fresh, migrated database."""
        try:
            return self._ready.get(timeout=60)
        except queue.Empty:
            raise RuntimeError(f"no test database was made: {self._failure!r}") from self._failure

    def drop(self, name: str) -> None:
        self._dropping.put(name)

    def close(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=30)


_databases: list[Databases] = []


def databases(cluster: Cluster) -> Databases:
    if not _databases:
        _databases.append(Databases(cluster))
        _kept.append(Stores(_databases[0]))
    return _databases[0]


def close_databases() -> None:
    _kept.clear()
    for made in _databases:
        made.close()
    _databases.clear()


class Stores:
    """Databases, one per data directory (PostgreSQL): a test's, in its `root`, dropped when it ends."""

    def __init__(self, made: Databases, root: Path | None = None) -> None:
        self._made = made
        self._root = root
        self._urls: dict[Path, str] = {}
        self._names: list[str] = []

    def owns(self, data_dir: Path | str) -> bool:
        return self._root is not None and Path(os.path.abspath(data_dir)).is_relative_to(self._root)

    def url_for(self, data_dir: Path | str) -> str:
        key = Path(os.path.abspath(data_dir))
        if key not in self._urls:
            name = self._made.take()
            self._names.append(name)
            self._urls[key] = self._made.cluster.url(name)
        return self._urls[key]

    def end(self) -> None:
        for name in self._names:
            self._made.drop(name)


_current: list[Stores] = []  # the running test's, on PostgreSQL
_kept: list[Stores] = []  # for servers of a wider scope (a module's), until the session ends
_on_sqlite: list[bool] = []  # [True] while a test kept on SQLite runs


def begin_test(made: Databases, root: Path) -> Stores:
    """The databases of the test whose own directory is `root` (its tmp_path)."""
    stores = Stores(made, root)
    _current[:] = [stores]
    return stores


def begin_sqlite_test() -> None:
    _on_sqlite[:] = [True]


def end_test() -> None:
    for stores in _current:
        stores.end()
    _current.clear()
    _on_sqlite.clear()


def database_url_for(data_dir: Path | str) -> str | None:
    """The URL of the database for `data_dir` on PostgreSQL (the running test's for a directory in its
    tmp_path; for one outside it, such as a module-scoped fixture's server's, one kept for the session),
    None on SQLite or in a test kept on SQLite."""
    if _on_sqlite:
        return None
    if _current and _current[0].owns(data_dir):
        return _current[0].url_for(data_dir)
    return _kept[0].url_for(data_dir) if _kept else None


async def open_store(settings: Settings) -> Store:
    """The store a server with these settings uses (its database on PostgreSQL, else its SQLite file)."""
    url = settings.database_url
    return await Store.open(settings.store_dir, database_url=None if url is None else url.get_secret_value())


def rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows a query (`?` placeholders) reads from the store of `data_dir`, on its engine, read-only."""
    url = database_url_for(data_dir)
    if url is None:
        with closing(sqlite3.connect(f"file:{Path(data_dir) / DB_NAME}?mode=ro", uri=True)) as db:
            return db.execute(sql, params).fetchall()
    import psycopg

    with psycopg.connect(url) as db:
        db.read_only = True
        found: list[tuple[Any, ...]] = db.execute(sql.replace("?", "%s"), params).fetchall()
    return found


def every_row(data_dir: Path) -> list[str]:
    """Every row of every table of the store of `data_dir`, as text."""
    url = database_url_for(data_dir)
    if url is None:
        listed = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        listed = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    tables = [name for (name,) in rows(data_dir, listed)]
    return [repr(row) for table in tables for row in rows(data_dir, f'SELECT * FROM "{table}"')]


@contextmanager
def write_lock(data_dir: Path) -> Iterator[None]:
    """Another process's transaction holding the store's write lock while the block runs: SQLite's
    BEGIN IMMEDIATE, or on PostgreSQL every table locked against writes (reads go on, as on SQLite)."""
    url = database_url_for(data_dir)
    if url is None:
        with closing(sqlite3.connect(Path(data_dir) / DB_NAME, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                db.execute("ROLLBACK")
        return
    import psycopg

    with psycopg.connect(url) as db:
        db.execute("LOCK TABLE tasks, media, usage, mcp_tasks IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            db.rollback()


@dataclass(frozen=True)
class Unopenable:
    """A store that cannot open, on the suite's engine: on SQLite a data directory under a regular
    file; on PostgreSQL a database that does not exist. `where` is how its messages name it."""

    settings: dict[str, Any]  # overrides for settings_for / in_process
    env: dict[str, str]  # extra for server_env
    where: str


def unopenable(tmp_path: Path) -> Unopenable:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    if database_url_for(tmp_path / "data") is None:
        data = blocker / "data"
        return Unopenable({"data_dir": data}, {"GLM_DATA_DIR": str(data)}, str(data))
    url = str(database_url_for(tmp_path / "data")).rsplit("/", 1)[0] + "/no_such_database"
    return Unopenable({"database_url": url}, {"GLM_DATABASE_URL": url}, redacted(url))


DISK_FULL = """CREATE OR REPLACE FUNCTION glm_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"""
TABLES = ("tasks", "media", "usage", "mcp_tasks")


def refuse_writes(data_dir: Path) -> Callable[[], None]:
    """On PostgreSQL, make the store of `data_dir` refuse every write at once, as a full disk does
    (SQLSTATE 53100), for the connections already open too; returns what gives the room back."""
    url = database_url_for(data_dir)
    assert url is not None, "on SQLite, fill the disk the file is on"
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(DISK_FULL)
        for table in TABLES:
            db.execute(
                f"CREATE TRIGGER glm_test_disk_full BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION glm_test_disk_full()"
            )

    def room_again() -> None:
        with psycopg.connect(url, autocommit=True) as db:
            for table in TABLES:
                db.execute(f"DROP TRIGGER glm_test_disk_full ON {table}")

    return room_again
