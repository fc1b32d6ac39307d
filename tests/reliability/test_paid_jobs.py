"""A paid job the API accepted is never lost, whatever happens to the store or the server: a full disk,
another process holding the database's write lock, SIGKILL during the submission or right after it.
The installed server over stdio, the fake API, a real full filesystem (tmpfs) and a real held lock.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from mcp_server_glm.store import JOURNAL_NAME
from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.support.stdio import RawSession
from tests.support.stores import database_url_for, refuse_writes, write_lock

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def read_json(client: Client, uri: str) -> Any:
    [contents] = (await client.read_resource(uri)).contents
    assert isinstance(contents, TextResourceContents)
    return json.loads(contents.text)


async def submission_arrived(fake: FakeGLM) -> None:
    with anyio.fail_after(30):
        while not fake.requests_to("videos/generations"):  # noqa: ASYNC110 - the fake runs in its own thread
            await anyio.sleep(0.02)


@contextmanager
def small_disk(where: Path, size: str = "2m") -> Iterator[Path]:
    """A small filesystem for the store's data directory; on PostgreSQL (GLM_TEST_STORE) a plain
    directory, the database's "disk" being filled by `fill_store`."""
    if database_url_for(where) is not None:
        where.mkdir()
        yield where
        return
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=False)
    if mounted.returncode != 0:
        pytest.skip("a tmpfs cannot be mounted here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_store(disk: Path) -> Callable[[], None]:
    """The store on `disk` refuses writes as on a full disk (SQLite: the filesystem filled to the last
    byte; PostgreSQL: every write refused with disk_full); returns what gives the room back."""
    if database_url_for(disk) is not None:
        return refuse_writes(disk)
    return fill(disk).unlink


def fill(disk: Path) -> Path:
    """Fill the filesystem to the last byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_after_the_api_accepted_a_video_loses_nothing(
    fake: FakeGLM, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        env = server_env(fake, GLM_DATA_DIR=str(disk), GLM_OUTPUT_DIR=str(tmp_path / "media"))
        fake.script("videos/generations", Fault(delay=1.0))
        stderr = tmp_path / "stderr.log"
        async with over_stdio(env, stderr) as client:
            async with anyio.create_task_group() as group:
                called: list[Any] = []

                async def call() -> None:
                    called.append(
                        await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
                    )

                group.start_soon(call)
                await submission_arrived(fake)
                room_again = fill_store(disk)
            [result] = called
            [task_id] = fake.tasks
            assert not result.is_error, text_of(result)
            assert result.structured_content is not None
            assert result.structured_content["task_id"] == task_id
            assert task_id in result.structured_content["note"]
            assert task_id in text_of(result)
            room_again()
            done = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 10})
            assert not done.is_error, text_of(done)
            assert done.structured_content is not None
            assert done.structured_content["status"] == "SUCCESS"
        # Recorded once the disk had room again: the job alone, its usage counted once, no pending row.
        async with over_stdio(env, tmp_path / "after.log") as client:
            [task] = await read_json(client, "glm://tasks")
            usage = await read_json(client, "glm://usage")
    assert (task["id"], task["status"]) == (task_id, "SUCCESS")
    assert [(row["tool"], row["calls"]) for row in usage] == [("generate_video", 1)]
    [warning] = [
        line for line in stderr.read_text().splitlines() if "accepted by the API but not recorded" in line
    ]
    assert "WARNING" in warning
    assert task_id in warning
    assert len(fake.requests_to("videos/generations")) == 1


async def test_a_held_write_lock_sends_the_job_to_the_journal_and_the_next_start_records_it(
    fake: FakeGLM, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = server_env(fake, GLM_DATA_DIR=str(data))
    fake.script("videos/generations", Fault(delay=1.0))
    async with over_stdio(env, tmp_path / "first.log") as client:
        async with anyio.create_task_group() as group:
            called: list[Any] = []

            async def call() -> None:
                called.append(
                    await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
                )

            group.start_soon(call)
            await submission_arrived(fake)
            # Another process takes the write lock and keeps it past every retry of the server.
            with write_lock(data):
                with anyio.fail_after(60):
                    while not called:  # noqa: ASYNC110 - the call is in this task group
                        await anyio.sleep(0.1)
        [result] = called
        [task_id] = fake.tasks
        assert not result.is_error, text_of(result)
        assert result.structured_content is not None
        assert JOURNAL_NAME in result.structured_content["note"]
    assert (data / JOURNAL_NAME).exists()

    async with over_stdio(env, tmp_path / "second.log") as client:
        [task] = await read_json(client, "glm://tasks")
        usage = await read_json(client, "glm://usage")
    assert (task["id"], task["status"]) == (task_id, "PROCESSING")
    assert [(row["tool"], row["calls"]) for row in usage] == [("generate_video", 1)]
    assert not (data / JOURNAL_NAME).exists()


async def test_a_server_killed_during_the_submission_leaves_the_job_visible(
    fake: FakeGLM, tmp_path: Path
) -> None:
    fake.script("videos/generations", Fault(delay=5.0))
    session = RawSession(server_env(fake))
    try:
        session.submit("tools/call", {"name": "generate_video", "arguments": {"prompt": "a fox"}})
        await submission_arrived(fake)
    finally:
        session.kill()
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        [task] = await read_json(client, "glm://tasks")
        assert task["status"] == "SUBMITTING"
        assert task["request"]["prompt"] == "a fox"
        asked = await client.call_tool("get_task", {"task_id": task["id"]})
    assert asked.is_error
    assert "id is unknown" in text_of(asked)
    assert "\n" not in text_of(asked)


async def test_usage_of_a_video_survives_a_kill_right_after_the_call(fake: FakeGLM, tmp_path: Path) -> None:
    session = RawSession(server_env(fake))
    try:
        answer = session.call("generate_video", {"prompt": "a fox", "wait_seconds": 0})
        assert answer["structuredContent"]["status"] == "PROCESSING"
    finally:
        session.kill()  # before the background usage writer's delay has passed
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        usage = await read_json(client, "glm://usage")
    assert [(row["tool"], row["calls"]) for row in usage] == [("generate_video", 1)]


async def test_two_servers_sharing_a_store_download_a_finished_job_once(
    fake: FakeGLM, tmp_path: Path
) -> None:
    env = server_env(fake)
    async with over_stdio(env, tmp_path / "submit.log") as client:
        video = await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
    assert video.structured_content is not None
    task_id = video.structured_content["task_id"]
    fake.script("media", Fault(delay=1.0))  # the first download is slow: both servers see the job finish
    results: list[Any] = []
    async with (
        over_stdio(env, tmp_path / "a.log") as first,
        over_stdio(env, tmp_path / "b.log") as second,
        anyio.create_task_group() as group,
    ):
        for client in (first, second):

            async def ask(client: Client = client) -> None:
                results.append(await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 20}))

            group.start_soon(ask)
    assert len(results) == 2
    for done in results:
        assert not done.is_error, text_of(done)
        assert done.structured_content is not None
        assert done.structured_content["status"] == "SUCCESS"
    assert {done.structured_content["path"] for done in results} == {results[0].structured_content["path"]}
    videos = [r for r in fake.requests if r.route.startswith("media/video")]
    assert len(videos) == 1, [r.route for r in fake.requests]


async def test_an_image_saved_while_the_store_is_full_is_returned_with_its_path(
    fake: FakeGLM, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        media = tmp_path / "media"
        env = server_env(fake, GLM_DATA_DIR=str(disk), GLM_OUTPUT_DIR=str(media))
        fake.script("media", Fault(delay=1.0))
        stderr = tmp_path / "stderr.log"
        async with over_stdio(env, stderr) as client:
            await client.call_tool("glm_chat", {"prompt": "open the store"})  # usage makes the database
            async with anyio.create_task_group() as group:
                called: list[Any] = []

                async def call() -> None:
                    called.append(await client.call_tool("generate_image", {"prompt": "a lighthouse"}))

                group.start_soon(call)
                with anyio.fail_after(30):
                    while not any(r.route.startswith("media/") for r in fake.requests):  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                fill_store(disk)
    [result] = called
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    saved = Path(result.structured_content["path"])
    assert saved.is_file()
    assert saved.parent == media
    assert str(saved) in text_of(result)
    assert any("could not record" in line and str(saved) in line for line in stderr.read_text().splitlines())
    assert len(fake.requests_to("images/generations")) == 1
