"""The store on both engines: round trips, migrations, failures as StoreError, and processes sharing one
database (a SQLite file, or a PostgreSQL database).

Tests taking `store` or `database_url` run on SQLite and on PostgreSQL (tests/support/postgres.py); the
ones about the file (WAL, its pragmas, a full disk, its write lock) on SQLite alone. Every database call
must leave the event loop free; one test holds SQLite's write lock to prove it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from mcp_server_glm.errors import StoreError
from mcp_server_glm.store import (
    DB_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    McpTask,
    MediaRecord,
    Store,
    TaskRecord,
    UsageTotal,
)
from mcp_server_glm.store import migrations as store_module
from mcp_server_glm.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path, database_url: str | None) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "data", database_url) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with await Store.open(tmp_path / "data") as opened:
        assert isinstance(opened, SqliteStore)
        yield opened


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to a database file, as another process would have."""
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        yield connection


def pragma(path: Path, name: str) -> Any:
    with raw(path) as connection:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


def tables(path: Path) -> set[str]:
    with raw(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def video_task(task_id: str = "task-1", **fields: Any) -> TaskRecord:
    values: dict[str, Any] = {
        "id": task_id,
        "kind": "video",
        "model": "cogvideox-3",
        "request": {"prompt": "a red fox in snow", "size": "1920x1080"},
        "status": "PROCESSING",
    }
    values.update(fields)
    return TaskRecord(**values)


# -- round trips -----------------------------------------------------------------------------------


async def test_task_round_trip_keeps_json_and_fills_timestamps(store: Store) -> None:
    request = {
        "prompt": "雪の中の狐 🦊",
        "size": "1920x1080",
        "fps": 30,
        "with_audio": True,
        "quality": None,
        "image_url": ["a.png", "b.png"],
        "extra": {"nested": {"deep": 1.5}},
    }
    before = time.time()
    await store.record_task(video_task(request=request))
    got = await store.get_task("task-1")
    assert got is not None
    assert got.request == request
    assert got.result is None
    assert got.error is None
    assert (got.kind, got.model, got.status) == ("video", "cogvideox-3", "PROCESSING")
    assert before <= got.created_at <= time.time()
    assert got.updated_at == pytest.approx(got.created_at)
    assert await store.get_task("no-such-task") is None


async def test_task_round_trip_keeps_given_timestamps_and_result(store: Store) -> None:
    result = {"video_url": "https://cdn.example/v.mp4", "cover_image_url": "https://cdn.example/c.png"}
    task = video_task(status="SUCCESS", result=result, created_at=1000.0, updated_at=2000.0)
    await store.record_task(task)
    assert await store.get_task("task-1") == task


async def test_record_task_upserts_and_keeps_created_at(store: Store) -> None:
    await store.record_task(video_task(created_at=1000.0, updated_at=1000.0))
    await store.record_task(
        video_task(
            kind="image",
            model="cogview-4",
            request={"prompt": "changed"},
            status="FAIL",
            error="content filtered",
            created_at=5000.0,
            updated_at=5000.0,
        )
    )
    got = await store.get_task("task-1")
    assert got == TaskRecord(
        id="task-1",
        kind="image",
        model="cogview-4",
        request={"prompt": "changed"},
        status="FAIL",
        error="content filtered",
        created_at=1000.0,
        updated_at=5000.0,
    )
    assert len(await store.recent_tasks()) == 1


async def test_update_task(store: Store) -> None:
    await store.record_task(video_task(created_at=1000.0, updated_at=1000.0))
    result = {"video_url": "https://cdn.example/v.mp4", "path": "/out/v.mp4"}

    done = await store.update_task("task-1", status="SUCCESS", result=result)
    assert done is not None
    assert (done.status, done.result, done.error) == ("SUCCESS", result, None)
    assert done.created_at == 1000.0
    assert done.updated_at > 1000.0
    assert await store.get_task("task-1") == done

    # None leaves the stored result in place: a status-only update never loses a finished video.
    again = await store.update_task("task-1", status="SUCCESS", error="download retried")
    assert again is not None
    assert (again.result, again.error) == (result, "download retried")


async def test_update_of_unknown_task_returns_none_and_inserts_nothing(store: Store) -> None:
    assert await store.update_task("no-such-task", status="SUCCESS", result={"x": 1}) is None
    assert await store.recent_tasks() == []


async def test_recent_tasks_newest_first(store: Store) -> None:
    for task_id, created in [("old", 1000.0), ("newest", 3000.0), ("middle", 2000.0)]:
        await store.record_task(video_task(task_id, created_at=created))
    assert [task.id for task in await store.recent_tasks()] == ["newest", "middle", "old"]
    assert [task.id for task in await store.recent_tasks(limit=2)] == ["newest", "middle"]
    assert await store.recent_tasks(limit=0) == []


async def test_media_round_trip(store: Store) -> None:
    media = MediaRecord(
        name="video-20250101-abc.mp4",
        path="/out/video-20250101-abc.mp4",
        mime_type="video/mp4",
        size=12_345_678,
        source_url="https://cdn.example/v.mp4",
        task_id="task-1",
    )
    before = time.time()
    await store.add_media(media)
    got = await store.get_media(media.name)
    assert got is not None
    assert got.created_at >= before
    assert got == dataclasses.replace(media, created_at=got.created_at)

    plain = MediaRecord(
        "image.png", "/out/image.png", "image/png", 10, "https://cdn.example/i.png", None, 7.0
    )
    await store.add_media(plain)
    assert await store.get_media("image.png") == plain
    assert await store.get_media("missing.png") is None

    rewritten = MediaRecord("image.png", "/out/image.png", "image/png", 20, "https://cdn.example/j.png")
    await store.add_media(rewritten)
    got = await store.get_media("image.png")
    assert got is not None
    assert (got.size, got.source_url) == (20, "https://cdn.example/j.png")


async def test_usage_totals(store: Store) -> None:
    assert await store.usage_totals() == []
    await store.record_usage("chat", "glm-4.7", 120, "tokens")
    await store.record_usage("chat", "glm-4.7", 30, "tokens")
    await store.record_usage("chat", "glm-4.5-air", 7, "tokens")
    await store.record_usage("generate_video", "cogvideox-3", 1, "videos")
    await store.record_usage("generate_video", "cogvideox-3", 1, "videos")
    await store.record_usage("generate_video", "cogvideox-3", 10, "seconds")
    assert await store.usage_totals() == [
        UsageTotal(tool="chat", model="glm-4.5-air", calls=1, units=7, unit="tokens"),
        UsageTotal(tool="chat", model="glm-4.7", calls=2, units=150, unit="tokens"),
        UsageTotal(tool="generate_video", model="cogvideox-3", calls=1, units=10, unit="seconds"),
        UsageTotal(tool="generate_video", model="cogvideox-3", calls=2, units=2, unit="videos"),
    ]


# -- the file --------------------------------------------------------------------------------------


async def test_each_users_own_jobs_usage_media_and_mcp_tasks(store: Store) -> None:
    await store.record_task(TaskRecord("job-a", "video", "m", {}, "PROCESSING", user_id="alice"))
    await store.record_task(TaskRecord("job-b", "video", "m", {}, "PROCESSING", user_id="bob"))
    await store.record_usage_rows(
        [
            ("generate_video", "m", 1, "videos", 1.0, "alice"),
            ("generate_video", "m", 2, "videos", 3.0, "bob"),
            ("glm_chat", "m", 5, "tokens", 2.0),
        ]
    )
    assert [task.id for task in await store.recent_tasks(10, "alice")] == ["job-a"]
    assert {task.id for task in await store.recent_tasks(10)} == {"job-a", "job-b"}
    assert await store.task_ids("job", 10, "bob") == ["job-b"]
    assert await store.task_ids("JOB", 10, "carol") == []
    record = await store.get_task("job-a")
    assert record is not None
    assert record.user_id == "alice"
    # An update (the job settling) never changes the owner.
    await store.record_task(TaskRecord("job-a", "video", "m", {}, "SUCCESS", user_id="bob"))
    again = await store.get_task("job-a")
    assert again is not None
    assert again.user_id == "alice"
    assert [(total.tool, total.units) for total in await store.usage_totals("alice")] == [
        ("generate_video", 1)
    ]
    assert {(total.tool, total.user, total.units) for total in await store.usage_totals(by_user=True)} == {
        ("generate_video", "alice", 1),
        ("generate_video", "bob", 2),
        ("glm_chat", "", 5),
    }
    assert [(total.tool, total.user) for total in await store.usage_totals()] == [
        ("generate_video", ""),
        ("glm_chat", ""),
    ]
    assert await store.units_since("generate_video", 0.0) == 3
    assert await store.units_since("generate_video", 0.0, "bob") == 2
    assert await store.units_since("generate_video", 2.0, "alice") == 0
    for name, owner in (("a.png", "alice"), ("b.png", "bob")):
        await store.add_media(MediaRecord(name, f"/m/{name}", "image/png", 1, "u", user_id=owner))
    assert [media.name for media in await store.recent_media(10, "bob")] == ["b.png"]
    assert await store.media_names("", 10, "alice") == ["a.png"]
    found = await store.get_media("a.png")
    assert found is not None
    assert found.user_id == "alice"
    for task_id, owner in (("t-a", "alice"), ("t-b", "bob")):
        await store.add_mcp_task(
            McpTask(task_id, "generate_video", None, "working", ttl_ms=1000, user_id=owner)
        )
    assert [task.id for task in await store.recent_mcp_tasks(10, user_id="alice")] == ["t-a"]
    assert {task.id for task in await store.recent_mcp_tasks(10)} == {"t-a", "t-b"}
    mine = await store.get_mcp_task("t-b")
    assert mine is not None
    assert mine.user_id == "bob"


async def test_reopen_keeps_everything(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    async with await Store.open(data, database_url) as first:
        await first.record_task(video_task(result={"video_url": "u"}))
        await first.add_media(MediaRecord("v.mp4", "/out/v.mp4", "video/mp4", 1, "u", "task-1"))
        await first.record_usage("generate_video", "cogvideox-3", 1, "videos")
        saved = await first.get_task("task-1")

    async with await Store.open(data, database_url) as second:
        assert await second.get_task("task-1") == saved
        assert await second.get_media("v.mp4") is not None
        assert await second.usage_totals() == [UsageTotal("generate_video", "cogvideox-3", 1, 1, "videos")]


@pytest.mark.sqlite_only("SQLite's file: its journal mode and permissions")
async def test_file_is_wal_in_a_private_directory(sqlite_store: SqliteStore, tmp_path: Path) -> None:
    store = sqlite_store
    assert store.path == tmp_path / "data" / DB_NAME
    assert pragma(store.path, "journal_mode") == "wal"
    assert pragma(store.path, "user_version") == SCHEMA_VERSION
    assert tables(store.path) >= {"tasks", "media", "usage"}
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700


async def test_closed_store_refuses_calls(tmp_path: Path, database_url: str | None) -> None:
    opened = await Store.open(tmp_path, database_url)
    await opened.close()
    await opened.close()
    with pytest.raises(StoreError, match="closed"):
        await opened.get_task("task-1")


# -- migrations ------------------------------------------------------------------------------------


@pytest.mark.sqlite_only("SQLite's user_version migrations (PostgreSQL's: test_postgres_*)")
async def test_migrates_an_empty_v0_database(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    path.touch()  # a zero-length file is a valid empty SQLite database, user_version 0
    async with await Store.open(tmp_path) as opened:
        await opened.record_task(video_task())
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert tables(path) >= {"tasks", "media", "usage"}


@pytest.mark.sqlite_only("SQLite's user_version migrations (PostgreSQL's: test_postgres_*)")
async def test_applies_only_the_missing_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Store.open(tmp_path) as opened:
        await opened.record_task(video_task())

    step = ("ALTER TABLE tasks ADD COLUMN note TEXT", "CREATE TABLE notes (text TEXT)")
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, step])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    async with await Store.open(tmp_path) as opened:
        assert await opened.get_task("task-1") is not None

    path = tmp_path / DB_NAME
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1
    assert "notes" in tables(path)


@pytest.mark.sqlite_only("SQLite's user_version migrations (PostgreSQL's: test_postgres_*)")
async def test_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Store.open(tmp_path):
        pass
    step = ("CREATE TABLE notes (text TEXT)", "THIS IS NOT SQL")
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, step])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="syntax error"):
        await Store.open(tmp_path)
    path = tmp_path / DB_NAME
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert "notes" not in tables(path)


@pytest.mark.sqlite_only("SQLite's file (PostgreSQL's: test_postgres_refuses_a_newer_database)")
async def test_refuses_a_newer_database_without_touching_it(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with raw(path) as connection:
        connection.execute("CREATE TABLE future (x)")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()

    with pytest.raises(StoreError) as caught:
        await Store.open(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert "newer" in message
    assert path.read_bytes() == before
    assert pragma(path, "journal_mode") == "delete"


# -- failures --------------------------------------------------------------------------------------


def assert_one_line_naming(error: StoreError, path: Path | str, reason: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert str(path) in message
    assert reason in message


@pytest.mark.sqlite_only("SQLite's file in the data directory")
async def test_read_only_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o500)
    try:
        if _writable(data):
            pytest.skip("directory permissions are not enforced here (running as root?)")
        with pytest.raises(StoreError) as caught:
            await Store.open(data)
    finally:
        data.chmod(0o700)
    assert_one_line_naming(caught.value, data / DB_NAME, "not writable")


@pytest.mark.sqlite_only("SQLite's file's permissions")
async def test_read_only_database(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "data") as opened:
        await opened.record_task(video_task())
    data = tmp_path / "data"
    (data / DB_NAME).chmod(0o400)
    data.chmod(0o500)
    try:
        if _writable(data):
            pytest.skip("directory permissions are not enforced here (running as root?)")
        with pytest.raises(StoreError) as caught:
            async with await Store.open(data) as opened:
                await opened.record_task(video_task("task-2"))
    finally:
        data.chmod(0o700)
        (data / DB_NAME).chmod(0o600)
    assert_one_line_naming(caught.value, data / DB_NAME, "SQLITE_")


@pytest.mark.sqlite_only("SQLite's file in the data directory")
async def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data = blocker / "data"
    with pytest.raises(StoreError) as caught:
        await Store.open(data)
    assert_one_line_naming(caught.value, data / DB_NAME, "Not a directory")


@pytest.mark.sqlite_only("SQLite's file")
async def test_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database " * 100)
    with pytest.raises(StoreError) as caught:
        await Store.open(tmp_path)
    assert_one_line_naming(caught.value, tmp_path / DB_NAME, "file is not a database")


@pytest.mark.sqlite_only("SQLite's file on a full disk")
async def test_full_disk_leaves_no_half_written_row(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    await store.record_task(video_task())
    # The database may not grow past its current size: as good as a full disk, even for root.
    connection = store._connection
    assert connection is not None
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(StoreError) as caught:
        await store.record_task(video_task("task-2", request={"prompt": "x" * 100_000}))
    assert_one_line_naming(caught.value, store.path, "full")
    assert await store.get_task("task-2") is None
    assert [task.id for task in await store.recent_tasks()] == ["task-1"]


async def test_value_that_is_not_json(store: Store) -> None:
    with pytest.raises(StoreError) as caught:
        await store.record_task(video_task(request={"path": Path("/out/v.mp4")}))
    assert_one_line_naming(caught.value, store.where, "request is not JSON")
    assert await store.get_task("task-1") is None


# -- concurrency -----------------------------------------------------------------------------------


@pytest.mark.sqlite_only("SQLite's calls run in a thread; PostgreSQL's driver is async")
async def test_calls_do_not_block_the_event_loop(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    written = anyio.Event()

    async def write() -> None:
        await store.record_task(video_task())
        written.set()

    # Another connection holds the write lock, so the write waits inside SQLite (busy timeout).
    # Were that wait on the event loop, nothing below would run until it failed.
    with raw(store.path) as other, anyio.fail_after(30):
        other.execute("BEGIN IMMEDIATE")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(write)
            for _ in range(200):
                await anyio.lowlevel.checkpoint()
            assert not written.is_set()
            other.execute("COMMIT")
    assert written.is_set()
    assert await store.get_task("task-1") is not None


WORKER = """
import sys, time
from pathlib import Path

import anyio

from mcp_server_glm.store import Store, TaskRecord

role, data, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
url = sys.argv[4] if len(sys.argv) > 4 else None


async def write(store):
    for i in range(count):
        request = {"prompt": f"prompt {i} from {role}", "n": i}
        await store.record_task(TaskRecord(f"{role}-{i}", "video", "cogvideox-3", request, "PROCESSING"))
        await store.record_usage("generate_video", "cogvideox-3", 1, "videos")


async def read(store, expected):
    seen_tasks = seen_calls = reads = 0
    deadline = time.monotonic() + 60
    while (seen_tasks, seen_calls) != (expected, expected):
        tasks = await store.recent_tasks(limit=10 * expected)
        calls = sum(total.calls for total in await store.usage_totals())
        assert seen_tasks <= len(tasks) <= expected and seen_calls <= calls <= expected, (tasks, calls)
        assert all(task.request["prompt"].startswith("prompt ") for task in tasks)
        seen_tasks, seen_calls, reads = len(tasks), calls, reads + 1
        assert time.monotonic() < deadline, f"only {seen_tasks} tasks and {seen_calls} calls seen"
    print(reads, flush=True)


async def main():
    async with await Store.open(data, url) as store:
        if role == "reader":
            await read(store, 2 * count)
        else:
            await write(store)


print("ready", flush=True)
sys.stdin.readline()
anyio.run(main)
"""


async def read_line(process: anyio.abc.Process) -> str:
    assert process.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        line += await process.stdout.receive()
    return line.decode().strip()


@pytest.mark.slow
async def test_two_processes_share_one_fresh_database(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"  # not there yet: all three race to create it and its schema
    roles = ["writer-a", "writer-b", "reader"]
    processes: dict[str, anyio.abc.Process] = {}
    with anyio.fail_after(120):
        for role in roles:
            with (tmp_path / f"{role}.err").open("w") as stderr:
                command = [sys.executable, "-c", WORKER, role, str(data), "100"]
                command += [database_url] if database_url else []
                processes[role] = await anyio.open_process(command, stderr=stderr)
        for process in processes.values():
            assert await read_line(process) == "ready"
        # Started together, once every interpreter is up, so the work overlaps.
        for process in processes.values():
            assert process.stdin is not None
            await process.stdin.send(b"go\n")
        for role, process in processes.items():
            code = await process.wait()
            assert code == 0, f"{role} failed:\n{(tmp_path / f'{role}.err').read_text()}"
        assert int(await read_line(processes["reader"])) >= 1
        for process in processes.values():
            await process.aclose()

    async with await Store.open(data, database_url) as opened:
        tasks = await opened.recent_tasks(limit=1000)
        assert len(tasks) == 200
        assert {task.id for task in tasks} == {f"writer-{w}-{i}" for w in "ab" for i in range(100)}
        assert await opened.usage_totals() == [
            UsageTotal("generate_video", "cogvideox-3", 200, 200, "videos")
        ]
    if database_url is None:
        assert pragma(data / DB_NAME, "integrity_check") == "ok"


def _writable(directory: Path) -> bool:
    probe = directory / "probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


# -- PostgreSQL ------------------------------------------------------------------------------------


def postgres(url: str) -> Any:
    """A plain connection to the database at `url`, as another replica would have."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    url: str = postgres_cluster.new_database()
    return url


async def test_postgres_replicas_starting_together_migrate_once(tmp_path: Path, postgres_url: str) -> None:
    # Four replicas open a fresh database at once: one takes the advisory lock and migrates, the
    # others wait for it and find the schema in place.
    opened: list[Store] = []

    async def start(i: int) -> None:
        opened.append(await Store.open(tmp_path / f"replica-{i}", postgres_url))

    async with anyio.create_task_group() as replicas:
        for i in range(4):
            replicas.start_soon(start, i)
    for store in opened:
        await store.record_task(video_task(f"task-{id(store)}"))
    assert len(await opened[0].recent_tasks()) == 4
    for store in opened:
        await store.close()
    with postgres(postgres_url) as db:
        assert db.execute("SELECT version FROM glm_schema").fetchall() == [(SCHEMA_VERSION,)]


async def test_postgres_a_row_held_elsewhere_fails_the_call_within_the_lock_timeout(
    tmp_path: Path, postgres_url: str
) -> None:
    from mcp_server_glm.store import postgres as engine

    async with await Store.open(tmp_path, postgres_url) as opened:
        await opened.record_task(video_task("held"))
        with postgres(postgres_url) as other:
            other.execute("BEGIN")
            other.execute("SELECT id FROM tasks WHERE id = 'held' FOR UPDATE")  # another replica's write
            # Let go in any case after a while, so that a store that would wait forever fails this test
            # (its write would then succeed) rather than hang it.
            release = threading.Timer(4 * engine.LOCK_TIMEOUT_MS / 1000, other.rollback)
            release.start()
            started = time.monotonic()
            try:
                with pytest.raises(StoreError) as refused:
                    await opened.update_task("held", status="SUCCESS")
            finally:
                waited = time.monotonic() - started
                release.cancel()
                release.join()
            other.rollback()
        assert "lock timeout" in str(refused.value)
        assert "55P03" in str(refused.value)
        assert waited >= engine.LOCK_TIMEOUT_MS / 1000 * 0.9  # it waited for the lock, then gave up
        done = await opened.update_task("held", status="SUCCESS")  # and the store serves on
        assert done is not None
        assert done.status == "SUCCESS"


async def test_postgres_applies_only_the_missing_steps(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await Store.open(tmp_path, postgres_url) as opened:
        await opened.record_task(video_task())
    step = ("ALTER TABLE tasks ADD COLUMN note TEXT", "CREATE TABLE notes (text TEXT)")
    monkeypatch.setattr(store_module, "POSTGRES_MIGRATIONS", [*store_module.POSTGRES_MIGRATIONS, step])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    async with await Store.open(tmp_path, postgres_url) as opened:
        assert await opened.get_task("task-1") is not None
    with postgres(postgres_url) as db:
        assert db.execute("SELECT version FROM glm_schema").fetchall() == [(SCHEMA_VERSION + 1,)]
        assert db.execute("SELECT count(*) FROM notes").fetchone() == (0,)


async def test_postgres_failed_migration_changes_nothing(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await Store.open(tmp_path, postgres_url):
        pass
    step = ("CREATE TABLE notes (text TEXT)", "THIS IS NOT SQL")
    monkeypatch.setattr(store_module, "POSTGRES_MIGRATIONS", [*store_module.POSTGRES_MIGRATIONS, step])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="syntax error") as caught:
        await Store.open(tmp_path, postgres_url)
    assert "\n" not in str(caught.value)
    with postgres(postgres_url) as db:
        assert db.execute("SELECT version FROM glm_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert db.execute("SELECT to_regclass('notes')").fetchone() == (None,)
        assert db.execute("SELECT pg_try_advisory_lock(%s)", (store_module.MIGRATION_LOCK,)).fetchone() == (
            True,
        )


async def test_postgres_refuses_a_newer_database(tmp_path: Path, postgres_url: str) -> None:
    with postgres(postgres_url) as db:
        db.execute("CREATE TABLE glm_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO glm_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer") as caught:
        await Store.open(tmp_path, postgres_url)
    assert "\n" not in str(caught.value)
    with postgres(postgres_url) as db:
        assert db.execute("SELECT to_regclass('tasks')").fetchone() == (None,)


async def test_postgres_errors_are_one_line_without_the_password(
    tmp_path: Path, postgres_cluster: Any
) -> None:
    password = postgres_cluster.password
    wrong = postgres_cluster.url().replace(password, "not-the-password")
    with pytest.raises(StoreError) as caught:
        await Store.open(tmp_path, wrong)
    message = str(caught.value)
    assert "\n" not in message
    assert "not-the-password" not in message
    assert "password authentication failed" in message
    assert f"postgresql://glm@127.0.0.1:{postgres_cluster.port}/postgres" in message

    missing = postgres_cluster.url("no_such_database")
    with pytest.raises(StoreError, match="no_such_database") as caught:
        await Store.open(tmp_path, missing)
    assert password not in str(caught.value)

    async with await Store.open(tmp_path, postgres_cluster.new_database()) as opened:
        assert password not in repr(opened)
        with postgres(postgres_cluster.url(opened.where.rpartition("/")[2])) as db:
            db.execute("DROP TABLE usage")  # the table goes away under the store
        with pytest.raises(StoreError) as caught:
            await opened.usage_totals()
        assert_one_line_naming(caught.value, opened.where, "usage")
        assert password not in str(caught.value)


# -- two replicas ----------------------------------------------------------------------------------


async def test_two_stores_claiming_the_same_jobs_each_job_has_one_winner(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    async with await Store.open(data, database_url) as a, await Store.open(data, database_url) as b:
        ids = [f"job-{i}" for i in range(40)]
        for task_id in ids:
            await a.record_task(video_task(task_id))
        won: dict[str, list[str]] = {task_id: [] for task_id in ids}

        async def claim(store: Store, owner: str) -> None:
            for task_id in ids:
                if await store.claim_task(task_id, owner, 60):
                    won[task_id].append(owner)

        async with anyio.create_task_group() as replicas:
            replicas.start_soon(claim, a, "replica-a")
            replicas.start_soon(claim, b, "replica-b")
        assert all(len(owners) == 1 for owners in won.values()), won


async def test_two_stores_taking_the_same_leases_each_key_has_one_holder(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    async with await Store.open(data, database_url) as a, await Store.open(data, database_url) as b:
        keys = [f"poll:job-{i}" for i in range(40)]
        held: dict[str, list[str]] = {key: [] for key in keys}

        async def take(store: Store, owner: str) -> None:
            for key in keys:
                if await store.take_lease(key, owner, 60):
                    held[key].append(owner)

        async with anyio.create_task_group() as replicas:
            replicas.start_soon(take, a, "replica-a")
            replicas.start_soon(take, b, "replica-b")
        assert all(len(owners) == 1 for owners in held.values()), held


async def test_usage_written_at_once_by_two_stores_sums_exactly(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    async with await Store.open(data, database_url) as a, await Store.open(data, database_url) as b:

        async def count(store: Store, units: int) -> None:
            for _ in range(50):
                await store.record_usage_rows([("chat", "glm-4.7", units, "tokens", time.time())] * 3)

        async with anyio.create_task_group() as replicas:
            replicas.start_soon(count, a, 7)
            replicas.start_soon(count, b, 11)
        expected = [UsageTotal("chat", "glm-4.7", 300, 150 * 7 + 150 * 11, "tokens")]
        assert await a.usage_totals() == expected
        assert await b.usage_totals() == expected
        assert await b.units_since("chat", 0) == 150 * 18


async def test_text_with_a_nul_character_is_kept_on_both_engines(store: Store) -> None:
    # An upstream message may hold U+0000, which PostgreSQL's text refuses: it is kept as U+FFFD there.
    await store.record_task(video_task(status="FAIL", error="bad\x00byte", request={"prompt": "a\x00b"}))
    got = await store.get_task("task-1")
    assert got is not None
    assert got.request == {"prompt": "a\x00b"}  # JSON carries it escaped
    assert got.error == ("bad\x00byte" if isinstance(store, SqliteStore) else "bad\ufffdbyte")
    await store.record_usage("chat\x00", "glm", 1, "tokens")
    assert len(await store.usage_totals()) == 1


async def test_mcp_tasks_round_trip_and_a_finished_task_never_changes(store: Store) -> None:
    for i, created in enumerate([1000.0, 3000.0, 2000.0]):
        await store.add_mcp_task(
            McpTask(f"mcp-{i}", "generate_video", f"job-{i}", "working", ttl_ms=60_000, created_at=created)
        )
    done = await store.update_mcp_task("mcp-0", status="completed", message="done", result={"content": []})
    assert done is not None
    assert (done.status, done.message, done.result, done.job_id, done.ttl_ms) == (
        "completed",
        "done",
        {"content": []},
        "job-0",
        60_000,
    )
    later = await store.update_mcp_task("mcp-0", status="failed", message="late", result={"x": 1})
    assert later == done
    assert await store.update_mcp_task("no-such-task", status="completed", message=None) is None
    assert [task.id for task in await store.recent_mcp_tasks(10)] == ["mcp-1", "mcp-2", "mcp-0"]
    assert [task.id for task in await store.recent_mcp_tasks(10, before=3000.0)] == ["mcp-2", "mcp-0"]
    assert [task.id for task in await store.recent_mcp_tasks(1)] == ["mcp-1"]
    await store.drop_mcp_task("mcp-1")
    assert await store.get_mcp_task("mcp-1") is None
    assert await store.get_mcp_task("mcp-2") is not None


async def test_prefixes_and_the_newest_first_order_of_names(store: Store) -> None:
    for task_id in ["Abc_1", "abc%2", "xyz"]:
        await store.record_task(video_task(task_id, created_at=7.0))
    assert await store.task_ids("ABC", 10) == ["abc%2", "Abc_1"]  # same time: the later row first
    assert await store.task_ids("abc_", 10) == ["Abc_1"]  # no LIKE: _ and % are plain characters
    assert await store.task_ids("", 1) == ["xyz"]
    for name in ["a.png", "b.png"]:
        await store.add_media(MediaRecord(name, f"/out/{name}", "image/png", 1, "u", None, 7.0))
    await store.add_media(MediaRecord("a.png", "/out/a.png", "image/png", 2, "u", None, 7.0))  # rewritten
    assert [media.name for media in await store.recent_media()] == ["a.png", "b.png"]
    assert await store.media_names("A.", 10) == ["a.png"]
    assert [task.id for task in await store.processing_tasks("video", "cogvideox-3")] == [
        "xyz",
        "abc%2",
        "Abc_1",
    ]


# -- leases ----------------------------------------------------------------------------------------


async def test_a_lease_is_held_by_one_owner_until_dropped(store: Store) -> None:
    assert await store.take_lease("poll:1", "replica-a", 60)
    assert await store.take_lease("poll:1", "replica-a", 60)  # its own, renewed
    assert not await store.take_lease("poll:1", "replica-b", 60)
    await store.drop_lease("poll:1", "replica-b")  # not its lease: nothing changes
    assert not await store.take_lease("poll:1", "replica-b", 60)
    assert await store.take_lease("poll:2", "replica-b", 60)  # another key is another lease
    await store.drop_lease("poll:1", "replica-a")
    assert await store.take_lease("poll:1", "replica-b", 60)
    assert not await store.take_lease("poll:1", "replica-a", 60)


async def test_an_expired_lease_is_taken_over(store: Store) -> None:
    assert await store.take_lease("run:1", "replica-a", -1)  # its holder stopped renewing it
    assert await store.take_lease("run:1", "replica-b", 60)
    assert not await store.take_lease("run:1", "replica-a", 60)


async def test_renewing_a_lease_never_shortens_it(store: Store) -> None:
    assert await store.take_lease("poll:1", "replica-a", 60)
    assert await store.take_lease("poll:1", "replica-a", -1)  # a shorter take by its holder
    assert not await store.take_lease("poll:1", "replica-b", 60)  # still held for the minute


async def test_dropping_a_lease_clears_long_expired_ones(store: Store) -> None:
    from mcp_server_glm.store.base import LEASES_KEPT

    assert await store.take_lease("run:gone", "replica-a", -2 * LEASES_KEPT)  # expired long ago
    assert await store.take_lease("run:recent", "replica-a", -1)
    await store.drop_lease("run:other", "replica-b")
    # The row of the lease that expired long ago is gone; the recently expired one stays.
    assert await lease_keys(store) == {"run:recent"}


async def lease_keys(store: Store) -> set[str]:
    """The keys in the leases table, read beside the store (as another process would)."""
    if isinstance(store, SqliteStore):
        with raw(store.path) as connection:
            return {row[0] for row in connection.execute("SELECT key FROM leases")}
    from mcp_server_glm.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore) and store._pool is not None
    async with store._pool.connection() as connection:
        cursor = await connection.execute("SELECT key FROM leases")
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
    return {row[0] for row in rows}
