"""Replicas on one database (two servers built in this process, each with its own API key so the fake's
log says which one asked): a watched job is polled by the holder of its lease alone, and taken over when
that holder dies; MCP tasks made on one are served by the other, a job polled within its schedule and
a run failed only once its server stopped; glm://tasks/{id} and get_task see the other's jobs.

Each test runs on SQLite (both servers on one data directory) and on PostgreSQL (each its own).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents, ToolAnnotations

from mcp_server_glm.glm.jobs import PollSchedule
from mcp_server_glm.jobs.follow import LEASE_POLLS
from mcp_server_glm.server import GLMServer, build_server
from mcp_server_glm.tasks import tasks_of
from mcp_server_glm.tools.spec import ToolSpec
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_glm import FakeGLM, Fault, Recorded, TaskPlan
from tests.support.subscriptions import Updates, submit_video, watching
from tests.tasks_client import TasksClient, cancel_task, get_task

pytestmark = pytest.mark.anyio

KEYS = {"a": CANARY_KEY, "b": "canary-glm-key-replica-b-0d9e8f7a6b5c4d3e2f1a"}
ENDED = ("completed", "failed", "cancelled")


@pytest.fixture
def replicas(fake: FakeGLM, tmp_path: Path, database_url: str | None) -> Callable[[str], GLMServer]:
    """Makes replica "a" or "b": its own key, the shared database (SQLite: one data directory)."""
    fake.api_keys = set(KEYS.values())

    def make(name: str) -> GLMServer:
        data = tmp_path / ("data" if database_url is None else name)
        return build_server(settings_for(fake, api_key=KEYS[name], data_dir=data, database_url=database_url))

    return make


def asked_by(requests: list[Recorded]) -> list[str]:
    """Which replica sent each request, by its key."""
    names = {f"Bearer {key}": name for name, key in KEYS.items()}
    return [names[request.headers["authorization"]] for request in requests]


def downloads(fake: FakeGLM) -> int:
    return len([r for r in fake.requests if r.route.startswith("media/") and r.route.endswith(".mp4")])


async def until(condition: Callable[[], bool]) -> None:
    """Wait (yielding to the servers) until `condition` holds; fails after 20 s, a bound against a hang."""
    with anyio.fail_after(20):
        while not condition():  # noqa: ASYNC110 - the fake records in its own thread, with no event
            await anyio.sleep(0.01)


async def read_status(client: Client, task_id: str) -> str:
    [contents] = (await client.read_resource(f"glm://tasks/{task_id}")).contents
    assert isinstance(contents, TextResourceContents)
    status: str = json.loads(contents.text)["status"]
    return status


async def die(server: GLMServer) -> None:
    """The server stops as a killed process does: its store connection goes, so it renews no lease,
    gives none back and records nothing more (nor asks GLM, which it does only after reading the store)."""
    assert server.state is not None
    await (await server.state.store.get()).close()


@asynccontextmanager
async def clients(*servers: GLMServer, **options: Any) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Client(server, **options)) for server in servers]


# -- the background poller ---------------------------------------------------------------------------


async def test_a_job_watched_on_two_replicas_is_polled_by_one_and_both_are_told(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    fake.task_plan = TaskPlan(polls=3)
    told = {"a": Updates(), "b": Updates()}
    async with (
        Client(replicas("a"), message_handler=told["a"].handle) as a,
        Client(replicas("b"), message_handler=told["b"].handle) as b,
    ):
        job = await submit_video(a)
        uri, route = f"glm://tasks/{job}", f"async-result/{job}"
        async with watching(a, "auto", told["a"], uri):
            await until(lambda: len(fake.requests_to(route)) >= 1)  # a's poller holds the lease
            async with watching(b, "auto", told["b"], uri):
                await told["a"].wait_for(uri)
                await told["b"].wait_for(uri)  # b asked GLM nothing, and was told once a settled it
                assert await read_status(b, job) == "SUCCESS"
    assert asked_by(fake.requests_to(route)) == ["a"] * 4  # three PROCESSING answers, then SUCCESS
    assert downloads(fake) == 1


async def test_when_the_polling_replica_dies_the_other_takes_over_after_its_lease(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    fake.task_plan = TaskPlan(polls=10**6)
    told = {"a": Updates(), "b": Updates()}
    first = replicas("a")
    async with (
        Client(first, message_handler=told["a"].handle) as a,
        Client(replicas("b"), message_handler=told["b"].handle) as b,
    ):
        job = await submit_video(a)
        uri, route = f"glm://tasks/{job}", f"async-result/{job}"
        async with watching(a, "auto", told["a"], uri):
            await until(lambda: len(fake.requests_to(route)) >= 1)  # a's poller holds the lease
            async with watching(b, "auto", told["b"], uri):
                await until(lambda: len(fake.requests_to(route)) >= 2)
                await die(first)  # its lease stays in the store until it expires
                fake.replan(job, TaskPlan(polls=0))  # the job ends at its next poll
                await told["b"].wait_for(uri)
                assert await read_status(b, job) == "SUCCESS"
    polls = asked_by(fake.requests_to(route))
    assert polls[:2] == ["a", "a"]
    taken_over = polls.index("b")
    assert polls[taken_over:] == ["b"], polls  # no poll by a after b took over; b's first one ended it
    assert downloads(fake) == 1


# -- MCP tasks ---------------------------------------------------------------------------------------


async def call_as_task(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    handle = await client.session.call_tool(tool, arguments or {}, allow_claimed=True)
    task_id: str = handle.task_id  # type: ignore[union-attr]
    return task_id


async def test_a_job_task_made_on_one_replica_is_polled_and_completed_through_the_other(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    fake.task_plan = TaskPlan(polls=3)
    async with clients(replicas("a"), replicas("b"), extensions=[TasksClient()]) as (a, b):
        task_id = await call_as_task(a, "generate_video", {"prompt": "a paper boat"})
        [job] = fake.tasks
        with anyio.fail_after(20):
            while (task := await get_task(b.session, task_id)).status not in ENDED:  # noqa: ASYNC110 - tasks/get is how a client waits
                await anyio.sleep(task.poll_interval_ms / 1000)  # the server's own pacing
        assert task.status == "completed"
        assert task.result is not None and task.result["structuredContent"]["status"] == "SUCCESS"
        polls = len(fake.requests_to(f"async-result/{job}"))
        again = await get_task(a.session, task_id)  # the replica that made it: from the store
        assert (again.status, again.result) == ("completed", task.result)
    polled = asked_by(fake.requests_to(f"async-result/{job}"))
    assert polled[0] == "a" and set(polled[1:]) == {"b"}  # a's call looked once; every later poll b's
    assert len(polled) == polls
    assert downloads(fake) == 1


async def test_two_replicas_asked_at_once_poll_a_job_within_its_schedule(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    fake.task_plan = TaskPlan(seconds=1.0)
    async with clients(replicas("a"), replicas("b"), extensions=[TasksClient()]) as (a, b):
        made = time.time()  # at most the task's creation: its age is never more than this counts
        task_id = await call_as_task(a, "generate_video", {"prompt": "a paper boat"})
        [job] = fake.tasks
        seen: dict[str, str] = {}

        async def ask(name: str, client: Client) -> None:
            # Far more often than the schedule: each replica alone would poll once per polling age.
            with anyio.fail_after(20):
                while (task := await get_task(client.session, task_id)).status not in ENDED:  # noqa: ASYNC110
                    await anyio.sleep(0.005)
            seen[name] = task.status

        async with anyio.create_task_group() as both:
            both.start_soon(ask, "a", a)
            both.start_soon(ask, "b", b)
        ended = time.time()
    assert seen == {"a": "completed", "b": "completed"}
    polled = asked_by(fake.requests_to(f"async-result/{job}"))
    assert set(polled) == {"a", "b"}  # both took turns
    # At most one poll per polling age of the task's life (and the call's own first look).
    schedule = PollSchedule(floor=0.05, cap=0.2)  # settings_for's GLM_POLL_INTERVAL and _MAX_INTERVAL
    ages = [age for age, _ in zip(schedule.ages(), range(1000), strict=False) if age <= ended - made]
    assert len(polled) <= len(ages) + 2, (len(polled), len(ages))
    assert downloads(fake) == 1


RUN_LEASE = LEASE_POLLS * 0.2  # a run's lease with settings_for's GLM_POLL_MAX_INTERVAL, 0.6 s


class Gate:
    """What the runs of `held` wait for: each run waits for the gate open when it started."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def open(self) -> None:
        self.event.set()
        self.event = anyio.Event()


def held_run(server: GLMServer, gate: Gate) -> None:
    """A tool on `server` whose run as a task lasts until `gate` opens."""

    @server.tool(description="Runs until the test releases it.")
    async def held() -> str:
        await gate.event.wait()
        return "Released."

    tasks = tasks_of(server)
    assert tasks is not None
    tasks.add(ToolSpec(name="held", title="held", annotations=ToolAnnotations(), purpose="", summary=""))


def runs(server: GLMServer) -> int:
    """The runs of tools alive in `server`."""
    tasks = tasks_of(server)
    assert tasks is not None
    return len(tasks._runs)


async def test_a_run_on_one_replica_lives_on_while_the_other_reads_it_and_fails_once_its_server_died(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    first, second = replicas("a"), replicas("b")
    gate = Gate()
    held_run(first, gate)
    async with clients(first, second, extensions=[TasksClient()]) as (a, b):
        live = await call_as_task(a, "held")
        # Read through b for several of the run's leases: a renews it, so b never takes the run for dead.
        outlived = anyio.current_time() + 4 * RUN_LEASE
        while anyio.current_time() < outlived:
            assert (await get_task(b.session, live)).status == "working"
            await anyio.sleep(RUN_LEASE / 4)
        gate.open()
        await until(lambda: runs(first) == 0)
        done = await get_task(b.session, live)
        assert done.status == "completed"
        assert done.result is not None and done.result["content"][0]["text"] == "Released."

        cut = await call_as_task(a, "held")
        assert (await get_task(b.session, cut)).status == "working"
        await die(first)  # the run goes on, but its lease is no longer renewed
        with anyio.fail_after(20):
            while (task := await get_task(b.session, cut)).status == "working":  # noqa: ASYNC110
                await anyio.sleep(RUN_LEASE / 4)
        # The extension shows a failed run as a completed task whose result is an error.
        assert task.result is not None and task.result["isError"] is True
        assert "The server running this run of held stopped" in (task.status_message or "")
        gate.open()
        await until(lambda: runs(first) == 0)


async def test_a_run_cancelled_through_another_replica_stops_where_it_runs(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    first, second = replicas("a"), replicas("b")
    gate = Gate()
    held_run(first, gate)
    async with clients(first, second, extensions=[TasksClient()]) as (a, b):
        task_id = await call_as_task(a, "held")
        await cancel_task(b.session, task_id)
        await until(lambda: runs(first) == 0)  # a stopped it at its next renewal
        task = await get_task(a.session, task_id)
        assert task.status == "cancelled"
        assert task.status_message == "Cancelled: the run of held was stopped."


# -- resources and get_task --------------------------------------------------------------------------


async def test_glm_tasks_and_get_task_follow_a_job_the_other_replica_submitted(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    fake.task_plan = TaskPlan(polls=2)
    async with clients(replicas("a"), replicas("b")) as (a, b):
        job = await submit_video(a)
        assert await read_status(b, job) == "PROCESSING"
        done = await b.call_tool("get_task", {"task_id": job, "wait_seconds": 10})
        assert not done.is_error, done
        assert done.structured_content is not None and done.structured_content["status"] == "SUCCESS"
        assert await read_status(a, job) == "SUCCESS"
        again = await a.call_tool("get_task", {"task_id": job})  # recorded: no API call, no download
        assert again.structured_content is not None
        assert again.structured_content["path"] == done.structured_content["path"]
    assert asked_by(fake.requests_to(f"async-result/{job}")) == ["b"] * 3
    assert downloads(fake) == 1


async def test_two_replicas_collecting_one_job_at_once_download_it_once(
    fake: FakeGLM, replicas: Callable[[str], GLMServer]
) -> None:
    fake.task_plan = TaskPlan(polls=2)
    async with clients(replicas("a"), replicas("b")) as (a, b):
        job = await submit_video(a)
        # The first download is slow, so the other replica sees the job done while it is being saved.
        fake.script(f"media/video-{job}.mp4", Fault(delay=1.0))
        paths: dict[str, str] = {}

        async def collect(name: str, client: Client) -> None:
            done = await client.call_tool("get_task", {"task_id": job, "wait_seconds": 10})
            assert done.structured_content is not None, done
            assert done.structured_content["status"] == "SUCCESS"
            paths[name] = done.structured_content["path"]

        async with anyio.create_task_group() as both:
            both.start_soon(collect, "a", a)
            both.start_soon(collect, "b", b)
    assert paths["a"] == paths["b"]
    polls = asked_by(fake.requests_to(f"async-result/{job}"))
    assert set(polls[2:]) == {"a", "b"}, polls  # both saw it end (from the third poll on, SUCCESS)
    assert downloads(fake) == 1
