"""Two installed replicas (GLM_REPLICA_ID r1 and r2, one PostgreSQL store, one output directory) behind
nginx running the shipped deploy/nginx.conf, with both protocol eras' clients: a 2025-11-25 session stays
on its replica, a 2026-07-28 client's requests go to either, a replica killed mid-job loses nothing (each
job submitted once, each file downloaded once, usage counted once), and a session id that reaches the
wrong replica is an unknown session there. Legacy SSE ignores the replica id."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.types import CallToolResult, TextResourceContents

from tests.conftest import server_env, text_of
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.http import ERAS, INITIALIZE, Running, connect, http_server
from tests.support.nginx import Logged, Nginx, running_nginx
from tests.support.postgres import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

REPLICAS = ("r1", "r2")
SHIPPED = {"r1": "127.0.0.1:8101", "r2": "127.0.0.1:8102"}  # the replicas' addresses in deploy/nginx.conf
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = {**HEADERS, "MCP-Protocol-Version": "2025-11-25"}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
MODERN = "2026-07-28"
TEST_SECONDS = 120  # each test's bound, start-up included


@dataclass(frozen=True)
class Front:
    nginx: Nginx
    replicas: dict[str, Running]

    def replica_at(self, address: str) -> str:
        return next(name for name, running in self.replicas.items() if address == f"127.0.0.1:{running.port}")

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.replicas[name].port}"


@contextmanager
def replicas_behind_nginx(fake: FakeGLM, tmp_path: Path, cluster: Cluster) -> Iterator[Front]:
    """r1 and r2 on free ports, sharing a fresh database and the output directory, and nginx before them."""
    database = cluster.new_database()
    with ExitStack() as stack:
        replicas: dict[str, Running] = {}
        for name in REPLICAS:
            env = server_env(
                fake,
                GLM_DATABASE_URL=database,
                GLM_OUTPUT_DIR=str(tmp_path / "media"),
                GLM_DATA_DIR=str(tmp_path / f"data-{name}"),
            )
            replicas[name] = stack.enter_context(
                http_server(env, "streamable-http", tmp_path, "--replica-id", name)
            )
        upstreams = {
            f"server {SHIPPED[name]};": f"server 127.0.0.1:{replicas[name].port};" for name in REPLICAS
        }
        nginx = stack.enter_context(running_nginx(tmp_path, upstreams))
        yield Front(nginx, replicas)


def job(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    content: dict[str, Any] = result.structured_content
    return content


async def until(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    """Wait for `condition` (checked every 20 ms), failing after `seconds`."""
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - the fake runs in its own thread
            await anyio.sleep(0.02)
    assert condition(), what


async def read_json(client: Client, uri: str) -> Any:
    [contents] = (await client.read_resource(uri)).contents
    assert isinstance(contents, TextResourceContents)
    return json.loads(contents.text)


def mcp_lines(front: Front) -> list[Logged]:
    return [line for line in front.nginx.logged() if line.path == "/mcp"]


async def test_a_replica_killed_mid_job_loses_nothing_and_sessions_stay_on_theirs(
    fake: FakeGLM, tmp_path: Path, postgres_cluster: Cluster
) -> None:
    fake.task_plan = TaskPlan(seconds=3600)  # every job processes until the test finishes it
    with anyio.fail_after(TEST_SECONDS), replicas_behind_nginx(fake, tmp_path, postgres_cluster) as front:
        async with connect(front.nginx, "streamable-http", "auto") as modern:
            cut: list[BaseException] = []

            async def modern_call() -> None:
                # Waits on the job at the replica nginx chose, until that replica is killed.
                try:
                    await modern.call_tool("generate_video", {"prompt": "a fox runs", "wait_seconds": 30})
                except Exception as exc:  # the call is cut: what the client sees is kept
                    cut.append(exc)
                else:
                    cut.append(AssertionError("the call outlived its replica"))

            async with anyio.create_task_group() as group:
                group.start_soon(modern_call)
                await until(lambda: len(fake.requests_to("videos/generations")) == 1, "the first submission")
                # least_conn opens the 2025-11-25 session on the replica without that open request.
                async with connect(front.nginx, "streamable-http", "legacy") as legacy:
                    await until(lambda: any(line.issued != "-" for line in mcp_lines(front)), "the log")
                    [owner] = {line.issued for line in mcp_lines(front) if line.issued != "-"}
                    doomed = next(name for name in REPLICAS if name != owner)
                    arguments = {"prompt": "a heron lands", "wait_seconds": 0.5}
                    pending = job(await legacy.call_tool("generate_video", arguments))
                    assert pending["status"] == "PROCESSING"
                    front.replicas[doomed].kill()
                    await until(lambda: bool(cut), "the cut call's end")
                    # The cut call failed at the client, and nginx sent it to no other replica (a
                    # paid submission is never sent twice).
                    await until(lambda: any(line.status == 502 for line in mcp_lines(front)), "the log")
                    [submit] = [line for line in mcp_lines(front) if line.name == "generate_video"]
                    assert (submit.version, submit.status) == (MODERN, 502)
                    assert submit.tried == (front.address(doomed),)
                    assert [type(error) for error in cut] == [MCPError], cut
                    # The jobs end at GLM while the replica that submitted one is gone.
                    for task in fake.tasks.values():
                        fake.finish_task(task.id)
                    # The 2026-07-28 client finds its job again and the survivor completes it; the
                    # session's replica finds it done, and completes its own.
                    [lost] = [
                        row
                        for row in job(await modern.call_tool("get_task", {}))["jobs"]
                        if row["task_id"] != pending["task_id"]
                    ]
                    done = job(
                        await modern.call_tool("get_task", {"task_id": lost["task_id"], "wait_seconds": 20})
                    )
                    assert done["status"] == "SUCCESS"
                    assert Path(done["path"]).parent == tmp_path / "media" and Path(done["path"]).is_file()
                    seen = job(await legacy.call_tool("get_task", {"task_id": lost["task_id"]}))
                    assert (seen["status"], seen["path"]) == ("SUCCESS", done["path"])
                    own = job(
                        await legacy.call_tool(
                            "get_task", {"task_id": pending["task_id"], "wait_seconds": 20}
                        )
                    )
                    assert own["status"] == "SUCCESS" and Path(own["path"]).is_file()
                    usage = await read_json(legacy, "glm://usage")
            lines = mcp_lines(front)  # the two clients' requests, all ended
            # A session of the dead replica is gone: nginx answers as the SDK does for an unknown session.
            unknown = httpx2.post(
                front.nginx.root + "/mcp",
                json=LIST_TOOLS,
                headers={**LEGACY, "Mcp-Session-Id": f"{owner}.{'0' * 32}"},
                timeout=10,
            )
            gone = httpx2.post(
                front.nginx.root + "/mcp",
                json=LIST_TOOLS,
                headers={**LEGACY, "Mcp-Session-Id": f"{doomed}.{'0' * 32}"},
                timeout=10,
            )
            assert (gone.status_code, gone.content) == (404, unknown.content)
            assert gone.headers["content-type"] == unknown.headers["content-type"]
    # Each job submitted once, each file downloaded once, the usage counted once per call.
    prompts = sorted(request.json["prompt"] for request in fake.requests_to("videos/generations"))
    assert prompts == ["a fox runs", "a heron lands"]
    for task_id in fake.tasks:
        for name in (f"media/video-{task_id}.mp4", f"media/cover-{task_id}.png"):
            assert len(fake.requests_to(name)) == 1, name
    assert usage == [
        {"tool": "generate_video", "model": "cogvideox-3", "calls": 2, "units": 2, "unit": "videos"}
    ]
    # The 2025-11-25 session's every request went to its replica; the 2026-07-28 client used both.
    legacy_lines = [
        line for line in lines if line.version != MODERN and (line.session, line.issued) != ("-", "-")
    ]
    assert {line.session for line in legacy_lines} <= {owner, "-"}
    assert {line.upstream for line in legacy_lines} == {front.address(owner)}
    assert len([line for line in legacy_lines if line.session == owner]) >= 4
    modern_lines = [line for line in lines if line.version == MODERN]
    assert {front.replica_at(line.upstream) for line in modern_lines} == set(REPLICAS)
    assert all(line.session == "-" and line.issued == "-" for line in modern_lines)


async def test_a_session_id_at_the_wrong_replica_is_unknown_there_and_a_new_session_works(
    fake: FakeGLM, tmp_path: Path, postgres_cluster: Cluster
) -> None:
    with anyio.fail_after(TEST_SECONDS), replicas_behind_nginx(fake, tmp_path, postgres_cluster) as front:
        mcp = front.nginx.root + "/mcp"
        opened = httpx2.post(mcp, json=INITIALIZE, headers=HEADERS, timeout=10)
        session = opened.headers["mcp-session-id"]
        owner, _, bare = session.partition(".")
        other = next(name for name in REPLICAS if name != owner)
        assert owner in REPLICAS and len(bare) == 32
        with_session = {**LEGACY, "Mcp-Session-Id": session}
        assert httpx2.post(mcp, json=INITIALIZED, headers=with_session, timeout=10).status_code == 202
        assert httpx2.post(mcp, json=LIST_TOOLS, headers=with_session, timeout=10).status_code == 200
        # What the other replica answers for a session it never had...
        elsewhere = front.replicas[other].root + "/mcp"
        never = {**LEGACY, "Mcp-Session-Id": f"{other}.{'0' * 32}"}
        unknown = httpx2.post(elsewhere, json=LIST_TOOLS, headers=never, timeout=10)
        assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "Session not found"
        # ...it answers for this session's id sent straight to it (a balancer that ignores the prefix),
        # for the id renamed to it through nginx, and the owner for the id without its prefix.
        misrouted = [
            httpx2.post(elsewhere, json=LIST_TOOLS, headers=with_session, timeout=10),
            httpx2.post(
                mcp, json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": f"{other}.{bare}"}, timeout=10
            ),
            httpx2.post(
                front.replicas[owner].root + "/mcp",
                json=LIST_TOOLS,
                headers={**LEGACY, "Mcp-Session-Id": bare},
                timeout=10,
            ),
        ]
        for answer in misrouted:
            assert (answer.status_code, answer.content) == (404, unknown.content)
        # The client starts again: a new session through nginx serves calls; the first one still works.
        async with connect(front.nginx, "streamable-http", "legacy") as client:
            assert len((await client.list_tools()).tools) > 0
            assert not (await client.call_tool("web_search", {"query": "replicas"})).is_error
        assert httpx2.post(mcp, json=LIST_TOOLS, headers=with_session, timeout=10).status_code == 200
    opening = [line for line in mcp_lines(front) if line.session == "-" and line.issued != "-"]
    assert len(opening) == 2 and all(front.replica_at(line.upstream) == line.issued for line in opening)


@pytest.mark.parametrize("mode", ERAS)
async def test_legacy_sse_ignores_the_replica_id(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    with (
        anyio.fail_after(TEST_SECONDS),
        http_server(server_env(fake), "sse", tmp_path, "--replica-id", "r1") as running,
    ):
        async with connect(running, "sse", mode) as client:
            result = await client.call_tool("web_search", {"query": "over sse"})
            assert not result.is_error, text_of(result)
