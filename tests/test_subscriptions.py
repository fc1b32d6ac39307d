"""Updates pushed to subscribers: a job watched through glm://tasks/{id} (resources/subscribe on
2025-11-25, subscriptions/listen on 2026-07-28) is polled by the server's one poller and its subscriber
told when it ends, without any get_task; glm://usage after a call; nobody watching, nothing polled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import Client

from mcp_server_glm.server import build_server
from tests.conftest import settings_for
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.subscriptions import Updates, submit_video, subscribe_legacy, watching

pytestmark = pytest.mark.anyio

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]


@asynccontextmanager
async def client_for(fake: FakeGLM, mode: str, updates: Updates) -> AsyncIterator[Client]:
    async with Client(build_server(settings_for(fake)), mode=mode, message_handler=updates.handle) as client:
        yield client


async def read_status(client: Client, task_id: str) -> str:
    import json

    from mcp.types import TextResourceContents

    [contents] = (await client.read_resource(f"glm://tasks/{task_id}")).contents
    assert isinstance(contents, TextResourceContents)
    status: str = json.loads(contents.text)["status"]
    return status


@pytest.mark.parametrize("mode", ERAS)
async def test_a_watched_job_is_polled_and_its_end_pushed_without_get_task(fake: FakeGLM, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=3)
    updates = Updates()
    async with client_for(fake, mode, updates) as client:
        task_id = await submit_video(client)
        assert fake.requests_to(f"async-result/{task_id}") == []
        uri = f"glm://tasks/{task_id}"
        async with watching(client, mode, updates, uri):
            await updates.wait_for(uri)
            # Told of the end, saved: every poll came from the poller (no get_task was called), three
            # PROCESSING answers then the SUCCESS one, and the video was downloaded once.
            assert await read_status(client, task_id) == "SUCCESS"
    assert len(fake.requests_to(f"async-result/{task_id}")) == 4
    assert len([r for r in fake.requests if r.route.startswith("media/") and r.route.endswith(".mp4")]) == 1


@pytest.mark.parametrize("mode", ERAS)
async def test_nobody_watching_means_no_background_poll(fake: FakeGLM, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=1)
    updates = Updates()
    async with client_for(fake, mode, updates) as client:
        task_id = await submit_video(client)
        # Watching something else (the usage) starts no poll of the job.
        async with watching(client, mode, updates, "glm://usage"):
            await client.call_tool("glm_chat", {"prompt": "count me"})
            await updates.wait_for("glm://usage")
        await client.call_tool("glm_chat", {"prompt": "and again"})
        assert await read_status(client, task_id) == "PROCESSING"
    assert fake.requests_to(f"async-result/{task_id}") == []


def background_tasks() -> list[str]:
    """The server's background work still running in this process (the poller, its followers, the
    fan-out)."""
    ours = {"follow_watched", "_follow", "_send"}  # anyio names a task after its function
    return [
        name
        for task in asyncio.all_tasks()
        if not task.done() and (name := task.get_name().rpartition(".")[2]) in ours
    ]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (yielding to the server) until `condition` holds; fails after 10 s."""
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - the fake records in its own thread, with no event
            await anyio.sleep(0.01)


@pytest.mark.parametrize("mode", ERAS)
async def test_unsubscribing_stops_the_polls(fake: FakeGLM, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=10**6)
    updates = Updates()
    async with client_for(fake, mode, updates) as client:
        task_id = await submit_video(client)
        route = f"async-result/{task_id}"
        async with watching(client, mode, updates, f"glm://tasks/{task_id}"):
            await until(lambda: len(fake.requests_to(route)) >= 2)
            assert "_follow" in background_tasks()
        # Nobody watches: the job's follower ends, so nothing polls it any more.
        await until(lambda: "_follow" not in background_tasks())
        polls = len(fake.requests_to(route))
        await client.call_tool("glm_chat", {"prompt": "still serving"})
        assert await read_status(client, task_id) == "PROCESSING"
        assert len(fake.requests_to(route)) == polls
    assert updates.uris.count(f"glm://tasks/{task_id}") == 0  # it never finished


@pytest.mark.parametrize("mode", ERAS)
async def test_the_task_list_watched_follows_every_pending_job(fake: FakeGLM, mode: str) -> None:
    fake.task_plan = TaskPlan(polls=2)
    updates = Updates()
    async with client_for(fake, mode, updates) as client, watching(client, mode, updates, "glm://tasks"):
        first, second = await submit_video(client), await submit_video_again(client)
        polled = [f"async-result/{first}", f"async-result/{second}"]
        await until(lambda: [len(fake.requests_to(route)) for route in polled] == [3, 3])
        await until(lambda: "_follow" not in background_tasks())
        assert [await read_status(client, task) for task in (first, second)] == ["SUCCESS", "SUCCESS"]
        await updates.wait_for("glm://tasks")


async def submit_video_again(client: Client) -> str:
    answer = await client.call_tool("generate_video", {"prompt": "a dog", "wait_seconds": 0})
    assert answer.structured_content is not None
    task_id: str = answer.structured_content["task_id"]
    return task_id


@pytest.mark.parametrize("mode", ERAS)
async def test_usage_is_pushed_once_its_rows_are_written(fake: FakeGLM, mode: str) -> None:
    updates = Updates()
    async with client_for(fake, mode, updates) as client, watching(client, mode, updates, "glm://usage"):
        await client.call_tool("glm_chat", {"prompt": "count me"})
        await updates.wait_for("glm://usage")
    assert set(updates.uris) == {"glm://usage"}  # nothing else was watched


async def test_stopping_the_server_stops_the_poller(fake: FakeGLM) -> None:
    # A subscriber still there as the server stops (over stdio too: tests/test_subscriptions_stdio.py).
    fake.task_plan = TaskPlan(polls=10**6)
    async with client_for(fake, "legacy", Updates()) as client:
        task_id = await submit_video(client)
        await subscribe_legacy(client, f"glm://tasks/{task_id}")
        await until(lambda: len(fake.requests_to(f"async-result/{task_id}")) >= 1)
        assert {"follow_watched", "_follow"} <= set(background_tasks())
    assert background_tasks() == []


async def test_recent_media_are_listed_and_the_list_change_pushed(fake: FakeGLM) -> None:
    async with client_for(fake, "auto", Updates()) as client:
        async with client.listen(resources_list_changed=True) as stream:
            made = await client.call_tool("generate_image", {"prompt": "a red square"})
            assert not made.is_error, made
            with anyio.fail_after(10):
                event = await anext(stream)
        assert type(event).__name__ == "ResourcesListChanged"
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        media = [entry for uri, entry in listed.items() if uri.startswith("glm://media/")]
        assert len(media) == 1
        assert media[0].mime_type == "image/png"
        assert media[0].size
        [contents] = (await client.read_resource(str(media[0].uri))).contents
        assert contents.mime_type == "image/png"


class Session:
    """Stands for a 2025-11-25 session: records the updates it takes, or never takes one (`stuck`)."""

    def __init__(self, stuck: bool = False) -> None:
        self.stuck = stuck
        self.took: list[str] = []

    async def send_resource_updated(self, uri: str) -> None:
        if self.stuck:
            await anyio.sleep_forever()
        self.took.append(uri)


async def test_a_session_that_takes_no_update_is_dropped(fake: FakeGLM) -> None:
    from mcp_server_glm.state import AppState, LazyStore

    settings = settings_for(fake)
    state = AppState(settings, LazyStore(settings))
    async with state.serving():
        updates = state.updates
        updates.send_seconds = 0.2
        stuck, alive = Session(stuck=True), Session()
        updates.subscribe(stuck, "glm://usage")  # type: ignore[arg-type]
        updates.subscribe(alive, "glm://usage")  # type: ignore[arg-type]
        updates.changed("glm://usage")  # returns at once: the fan-out runs in the background
        await until(lambda: alive.took == ["glm://usage"])
        await until(lambda: len(updates._sessions) == 1)  # the stuck one, dropped at its send's end
        updates.changed("glm://usage")
        await until(lambda: alive.took == ["glm://usage"] * 2)
        assert stuck.took == []
