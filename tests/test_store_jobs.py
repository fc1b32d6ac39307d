"""Paid jobs in the store: a pending row before submitting, the job and its usage settled in one
transaction, the journal that keeps a job the database could not take, and claims on saving media.

Each test taking `store` or `database_url` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from mcp_server_glm.errors import StoreError
from mcp_server_glm.store import JOURNAL_NAME, SUBMITTING, Store, TaskRecord, UsageTotal
from mcp_server_glm.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path, database_url: str | None) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "data", database_url) as opened:
        yield opened


def job(task_id: str = "8000000000000000001") -> TaskRecord:
    return TaskRecord(
        id=task_id, kind="video", model="cogvideox-3", request={"prompt": "a fox"}, status="PROCESSING"
    )


def usage_row() -> tuple[str, str, int, str, float]:
    return ("generate_video", "cogvideox-3", 1, "videos", time.time())


async def test_a_submission_is_visible_before_its_id_is_known(store: Store) -> None:
    pending = await store.begin_submission("video", "cogvideox-3", {"prompt": "a fox"})
    [row] = await store.recent_tasks()
    assert (row.id, row.status, row.request) == (pending, SUBMITTING, {"prompt": "a fox"})


async def test_settling_replaces_the_pending_row_and_counts_usage_with_it(store: Store) -> None:
    pending = await store.begin_submission("video", "cogvideox-3", {"prompt": "a fox"})
    await store.settle_submission(pending, job(), usage_row())
    assert [task.id for task in await store.recent_tasks()] == [job().id]
    assert await store.usage_totals() == [UsageTotal("generate_video", "cogvideox-3", 1, 1, "videos")]


async def test_a_failed_submission_leaves_no_row(store: Store) -> None:
    pending = await store.begin_submission("video", "cogvideox-3", {})
    await store.settle_submission(pending, None)
    assert await store.recent_tasks() == []
    assert await store.usage_totals() == []


async def test_a_job_the_database_cannot_take_is_journaled_and_recorded_at_the_next_open(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    opened = await Store.open(data)
    assert isinstance(opened, SqliteStore)
    pending = await opened.begin_submission("video", "cogvideox-3", {"prompt": "a fox"})
    assert opened._connection is not None
    opened._connection.execute("PRAGMA busy_timeout = 20")
    # Another process holds the write lock for the whole settle.
    with closing(sqlite3.connect(opened.path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError) as caught:
            await opened.settle_submission(pending, job(), usage_row())
        other.execute("ROLLBACK")
    message = str(caught.value)
    assert "\n" not in message
    assert JOURNAL_NAME in message
    assert (data / JOURNAL_NAME).exists()
    await opened.close()

    async with await Store.open(data) as again:
        recorded = await again.get_task(job().id)
        assert recorded is not None
        assert recorded.status == "PROCESSING"
        assert recorded.request == {"prompt": "a fox"}
        assert await again.usage_totals() == [UsageTotal("generate_video", "cogvideox-3", 1, 1, "videos")]
    assert not (data / JOURNAL_NAME).exists()


async def test_a_job_a_closed_store_cannot_take_is_journaled_and_recorded_at_the_next_open(
    tmp_path: Path, database_url: str | None
) -> None:
    # The database out of reach (here: the store closed under the settle), on either engine.
    data = tmp_path / "data"
    opened = await Store.open(data, database_url)
    pending = await opened.begin_submission("video", "cogvideox-3", {"prompt": "a fox"})
    await opened.close()
    with pytest.raises(StoreError) as caught:
        await opened.settle_submission(pending, job(), usage_row())
    assert "\n" not in str(caught.value)
    assert JOURNAL_NAME in str(caught.value)

    async with await Store.open(data, database_url) as again:
        assert [task.id for task in await again.recent_tasks()] == [job().id]
        assert await again.usage_totals() == [UsageTotal("generate_video", "cogvideox-3", 1, 1, "videos")]
    assert not (data / JOURNAL_NAME).exists()


async def test_the_journal_never_counts_a_recorded_job_twice(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    async with await Store.open(data, database_url) as first:
        await first.record_task(job())
        await first.record_usage(*usage_row()[:4])
    line = {
        "task": {**dataclasses.asdict(job()), "created_at": time.time(), "updated_at": time.time()},
        "usage": usage_row(),
    }
    (data / JOURNAL_NAME).write_text(json.dumps(line) + "\n" + "not json\n")
    async with await Store.open(data, database_url) as again:
        [total] = await again.usage_totals()
        assert total.calls == 1
    assert not (data / JOURNAL_NAME).exists()


async def test_one_owner_at_a_time_saves_a_job(store: Store) -> None:
    await store.record_task(job())
    assert await store.claim_task(job().id, "replica-a", 60)
    assert await store.claim_task(job().id, "replica-a", 60)  # its own claim, renewed
    assert not await store.claim_task(job().id, "replica-b", 60)
    await store.release_task(job().id, "replica-b")  # not its claim: nothing changes
    assert not await store.claim_task(job().id, "replica-b", 60)
    await store.release_task(job().id, "replica-a")
    assert await store.claim_task(job().id, "replica-b", 60)


async def test_an_expired_claim_is_taken_over(store: Store) -> None:
    await store.record_task(job())
    assert await store.claim_task(job().id, "replica-a", -1)  # held by a process that died
    assert await store.claim_task(job().id, "replica-b", 60)


async def test_no_claim_on_an_unknown_job(store: Store) -> None:
    assert not await store.claim_task("no-such-job", "replica-a", 60)
