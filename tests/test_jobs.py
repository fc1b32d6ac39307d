"""The poll schedule of async jobs: fixed by the job's age, bounded gaps, few polls for long jobs, and the
times the fake API actually saw the polls arrive."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from mcp_server_glm.glm.client import GLMClient
from mcp_server_glm.glm.jobs import PollSchedule, wait_for
from mcp_server_glm.glm.models import AsyncImageRequest, VideoRequest
from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM, TaskPlan

pytestmark = pytest.mark.anyio

SLACK = 0.005  # a sleep may end this much early by the event loop's clock


def ages_until(schedule: PollSchedule, age: float) -> list[float]:
    """The polling ages up to and including the first at or past `age`."""
    ages = list(itertools.takewhile(lambda planned: planned < age, schedule.ages()))
    return [*ages, schedule.next_after(ages[-1] if ages else 0.0)]


def test_default_schedule_polls_every_second_then_by_a_fifth_of_the_age() -> None:
    schedule = PollSchedule()
    assert ages_until(schedule, 5) == [1, 2, 3, 4, 5]
    assert len(ages_until(schedule, 180)) == 25
    ages = list(itertools.islice(schedule.ages(), 200))
    for earlier, later in itertools.pairwise(ages):
        assert later - earlier <= max(1.0, 0.2 * earlier, 30.0) + 1e-9
        assert later - earlier <= 30.0 + 1e-9
    assert ages[-1] > 3600  # polling goes on, at most 30 s apart


def test_next_after_is_the_first_planned_age_later_than_the_given_one() -> None:
    schedule = PollSchedule(floor=1, growth=1.2, cap=30)
    assert schedule.next_after(0) == 1
    assert schedule.next_after(5) == 6
    assert schedule.next_after(6.5) == pytest.approx(7.2)


@pytest.fixture
async def glm(fake: FakeGLM) -> AsyncIterator[GLMClient]:
    async with GLMClient(CANARY_KEY, fake.base_url, retry_backoff=0.01, timeout=5) as client:
        yield client


async def _poll_ages(fake: FakeGLM, task_id: str) -> list[float]:
    created = fake.tasks[task_id].created
    return [request.time - created for request in fake.requests_to(f"async-result/{task_id}")]


async def test_a_new_job_is_polled_at_the_planned_ages(fake: FakeGLM, glm: GLMClient) -> None:
    schedule = PollSchedule(floor=0.05, growth=1.2, cap=1.0)
    fake.task_plan = TaskPlan(seconds=0.6)
    task = await glm.submit_video(VideoRequest(model="cogvideox-3", prompt="a cat"))
    assert task.id is not None
    result = await wait_for(glm, task.id, budget=10, schedule=schedule)
    assert result.task_status == "SUCCESS"
    seen = await _poll_ages(fake, task.id)
    planned = ages_until(schedule, 0.6)
    assert len(seen) <= len(planned)
    for arrived, due in zip(seen, planned, strict=False):
        assert arrived >= due - SLACK
    assert seen[-1] >= 0.6


async def test_a_resumed_job_is_polled_at_once_then_by_its_age(fake: FakeGLM, glm: GLMClient) -> None:
    schedule = PollSchedule(floor=0.05, growth=1.2, cap=1.0)
    fake.task_plan = TaskPlan(seconds=60)
    task = await glm.submit_video(VideoRequest(model="cogvideox-3", prompt="a cat"))
    assert task.id is not None
    polled: list[float] = []

    async def on_poll(_: object, polls: int, waited: float) -> None:
        polled.append(waited)

    # Waited for as if submitted 0.5 s ago: the first poll is at once, the next at the age after 0.5 s.
    result = await wait_for(glm, task.id, budget=0.3, schedule=schedule, age=0.5, on_poll=on_poll)
    assert result.task_status == "PROCESSING"
    assert polled[0] < 0.05
    assert polled[1] >= schedule.next_after(0.5) - 0.5 - SLACK
    assert polled[-1] >= 0.3 - SLACK  # the budget's end is looked at too


async def test_a_budget_of_zero_polls_once_at_once(fake: FakeGLM, glm: GLMClient) -> None:
    task = await glm.submit_video(VideoRequest(model="cogvideox-3", prompt="a cat"))
    assert task.id is not None
    result = await wait_for(glm, task.id, budget=0, schedule=PollSchedule(floor=5))
    assert result.task_status == "PROCESSING"
    assert len(fake.requests_to(f"async-result/{task.id}")) == 1


async def test_an_async_image_job_is_submitted_once_and_polled_like_a_video(
    fake: FakeGLM, glm: GLMClient
) -> None:
    fake.task_plan = TaskPlan(polls=1)
    task = await glm.submit_image(AsyncImageRequest(model="glm-image", prompt="a fox", quality="hd"))
    assert task.id is not None
    assert task.task_status == "PROCESSING"
    result = await wait_for(glm, task.id, budget=10, schedule=PollSchedule(floor=0.05, cap=0.1))
    assert result.task_status == "SUCCESS"
    assert result.image_result[0].url.endswith(f"image-{task.id}.png")
    [submit] = fake.requests_to("async/images/generations")
    assert submit.json == {"model": "glm-image", "prompt": "a fox", "quality": "hd"}  # no request_id
    assert fake.tasks[task.id].kind == "image"
