"""Issue 5's storage rows: media that cannot be saved (an output directory that cannot exist, a data
directory that cannot exist, a full disk) and two server processes writing one task store at once.

Each needs a server of its own, so each test starts one (stdio, or Streamable HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.reliability.conftest import TRANSPORTS, reliability_env
from tests.support.http import connect, http_server
from tests.support.stdio import RawSession
from tests.support.stores import database_url_for, rows, unopenable

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DB_NAME = "mcp-server-glm.db"
FSIZE_LIMIT = 1024 * 1024  # bytes any file the server writes may reach ("disk full")


@asynccontextmanager
async def serve(transport: str, env: dict[str, str], tmp_path: Path) -> AsyncIterator[Client]:
    """A server of its own for one test, and a client session to it."""
    if transport == "stdio":
        async with over_stdio(env, tmp_path / "stdio.log") as client:
            yield client
        return
    with http_server(env, "streamable-http", tmp_path) as running:
        async with connect(running, "streamable-http", "auto") as client:
            yield client


async def tasks_of(client: Client) -> list[dict[str, Any]]:
    [contents] = (await client.read_resource("glm://tasks")).contents
    assert isinstance(contents, TextResourceContents)
    listed: list[dict[str, Any]] = json.loads(contents.text)
    return listed


def integrity(data_dir: Path) -> tuple[str, int]:
    """PRAGMA integrity_check (on SQLite; PostgreSQL keeps its own, "ok") and the number of task rows,
    read-only, of a stopped server's store."""
    check = "ok" if database_url_for(data_dir) else rows(data_dir, "PRAGMA integrity_check")[0][0]
    [(count,)] = rows(data_dir, "SELECT count(*) FROM tasks")
    return str(check), int(count)


def no_partial_files(directory: Path) -> list[str]:
    return (
        sorted(p.name for p in directory.iterdir() if p.name.endswith(".part")) if directory.is_dir() else []
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_output_dir_that_cannot_be_written(fake: FakeGLM, tmp_path: Path, transport: str) -> None:
    """GLM_OUTPUT_DIR under a regular file: creating it fails ("Not a directory") even for root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data = tmp_path / "data"
    env = reliability_env(fake, data, GLM_OUTPUT_DIR=str(blocker / "media"))
    fake.task_plan = TaskPlan(polls=0)
    async with serve(transport, env, tmp_path) as client:
        image = await client.call_tool("generate_image", {"prompt": "nowhere to put it"})
        video = await client.call_tool("generate_video", {"prompt": "nowhere to put it", "wait_seconds": 20})
        [task_id] = fake.tasks
        listed = {task["id"]: task for task in await tasks_of(client)}
    print(f"[{transport}] image: {text_of(image)}\n[{transport}] video: {text_of(video)}")
    for answer in (image, video):
        assert answer.is_error
        assert f"cannot write to {blocker / 'media'}" in text_of(answer)
        assert "Not a directory" in text_of(answer)
    assert "get_task" in text_of(video)  # the job succeeded upstream: it can be saved later
    assert listed[task_id]["status"] == "PROCESSING"
    assert integrity(data) == ("ok", 1)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_data_dir_that_cannot_be_written(fake: FakeGLM, tmp_path: Path, transport: str) -> None:
    """The store cannot open (GLM_DATA_DIR under a regular file; on PostgreSQL a database that does not
    exist), so nothing paid is submitted."""
    store = unopenable(tmp_path)
    env = server_env(fake, GLM_ALLOWED_DIRS=str(tmp_path / "inputs"), **store.env)
    async with serve(transport, env, tmp_path) as client:
        video = await client.call_tool("generate_video", {"prompt": "no store", "wait_seconds": 0})
        search = await client.call_tool("web_search", {"query": "still serving"})
    print(f"[{transport}] video without a store: {text_of(video)}")
    assert video.is_error
    assert store.where in text_of(video)
    assert not text_of(video).strip().endswith("generate_video")
    assert fake.requests_to("videos/generations") == []  # refused before the paid submission
    assert not search.is_error


def fsize_limited_server(tmp_path: Path, limit: int) -> Path:
    """An executable that runs the installed server with RLIMIT_FSIZE set: a write past `limit` bytes
    fails with EFBIG ("File too large"; Python ignores SIGXFSZ), as on a full disk."""
    from tests.support.stdio import installed_server

    wrapper = tmp_path / "limited-server"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        f"os.execv({installed_server()!r}, [{installed_server()!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_disk_full_while_saving_media(
    fake: FakeGLM, tmp_path: Path, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper = fsize_limited_server(tmp_path, FSIZE_LIMIT)
    monkeypatch.setattr("tests.conftest.installed_server", lambda: str(wrapper))
    monkeypatch.setattr("tests.support.http.installed_server", lambda: str(wrapper))
    monkeypatch.setattr("tests.support.stdio.installed_server", lambda: str(wrapper))
    fake.media_size = 2 * FSIZE_LIMIT
    fake.task_plan = TaskPlan(polls=0)
    data = tmp_path / "data"
    async with serve(transport, reliability_env(fake, data), tmp_path) as client:
        video = await client.call_tool("generate_video", {"prompt": "too big to keep", "wait_seconds": 20})
        [task_id] = fake.tasks
        listed = {task["id"]: task for task in await tasks_of(client)}
        search = await client.call_tool("web_search", {"query": "still serving"})
    print(f"[{transport}] disk full: {text_of(video)}")
    assert video.is_error
    assert "File too large" in text_of(video)
    assert "get_task" in text_of(video)
    assert listed[task_id]["status"] == "PROCESSING"
    assert not search.is_error
    assert no_partial_files(data / "media") == []
    assert [p.name for p in (data / "media").iterdir()] == []
    assert integrity(data) == ("ok", 1)


def _collect(session: RawSession, ids: set[int], replies: dict[int, dict[str, Any]]) -> None:
    assert session.process.stdout is not None
    while not ids <= replies.keys():
        line = session.process.stdout.readline()
        assert line, "the server closed stdout"
        reply = json.loads(line)
        if reply.get("id") in ids:
            replies[reply["id"]] = reply


def test_two_servers_write_200_tasks_to_one_store(fake: FakeGLM, tmp_path: Path) -> None:
    data = tmp_path / "shared-data"
    env = server_env(fake, GLM_DATA_DIR=str(data))
    logs = [(tmp_path / f"server-{n}.log").open("w") for n in (1, 2)]
    sessions = [RawSession(env, stderr=log) for log in logs]
    results: list[dict[int, dict[str, Any]]] = [{}, {}]
    try:
        submitted = [
            {
                session.submit(
                    "tools/call",
                    {"name": "generate_video", "arguments": {"prompt": f"clip {n}-{k}", "wait_seconds": 0}},
                )
                for k in range(100)
            }
            for n, session in enumerate(sessions)
        ]
        readers = [
            threading.Thread(target=_collect, args=(session, ids, replies), daemon=True)
            for session, ids, replies in zip(sessions, submitted, results, strict=True)
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=60)
            assert not reader.is_alive(), "the servers did not answer 200 calls in 60 s"
    finally:
        for session in sessions:
            assert session.process.stdin is not None
            session.process.stdin.close()
        for session in sessions:
            try:
                session.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                session.kill()
                raise
            session.close_pipes()
        for log in logs:
            log.close()
    errors = [
        r for replies in results for r in replies.values() if "error" in r or r["result"].get("isError")
    ]
    assert errors == []
    answered = {r["result"]["structuredContent"]["task_id"] for replies in results for r in replies.values()}
    check, _ = integrity(data)
    stored = rows(data, "SELECT id, kind, status FROM tasks")
    for n in (1, 2):
        assert "Traceback" not in (tmp_path / f"server-{n}.log").read_text()
    print(f"two servers: {len(answered)} tasks answered, {len(stored)} rows stored, integrity {check}")
    assert len(fake.requests_to("videos/generations")) == 200
    assert len(answered) == 200
    assert check == "ok"
    assert len(stored) == 200
    assert {row[0] for row in stored} == answered == set(fake.tasks)
    assert {(row[1], row[2]) for row in stored} == {("video", "PROCESSING")}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancel_during_paid_submission_still_records_the_job(
    fake: FakeGLM, tmp_path: Path, transport: str
) -> None:
    # A 10 s read timeout so that only the cancellation, not a timeout, ends the 1.5 s submission.
    env = reliability_env(fake, tmp_path / "data", GLM_TIMEOUT="10")
    fake.task_plan = TaskPlan(seconds=120)
    fake.script("videos/generations", Fault(delay=1.5))
    async with serve(transport, env, tmp_path) as client:

        async def call() -> None:
            await client.call_tool(
                "generate_video", {"prompt": "cancelled while submitting", "wait_seconds": 0}
            )

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            with anyio.fail_after(10):
                while not fake.requests_to("videos/generations"):  # noqa: ASYNC110 - the fake runs in its own thread
                    await anyio.sleep(0.02)
            await anyio.sleep(0.1)
            group.cancel_scope.cancel()
        with anyio.fail_after(10):
            while not fake.tasks:  # noqa: ASYNC110 - the fake creates the task once its delay is over
                await anyio.sleep(0.05)
        # The server records the task once the API's answer reaches it, shortly after the fake made it.
        for _ in range(200):
            recorded = [task["id"] for task in await tasks_of(client)]
            if recorded:
                break
            await anyio.sleep(0.05)
    print(f"[{transport}] cancelled submission: upstream tasks {list(fake.tasks)}, recorded {recorded}")
    assert len(fake.requests_to("videos/generations")) == 1
    assert recorded == list(fake.tasks)
