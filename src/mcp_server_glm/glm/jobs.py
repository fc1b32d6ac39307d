"""Waiting for the GLM API's async jobs (video, async image): poll on a schedule set by the job's age,
within a budget.

Polling only reads, so it is safe to repeat; the job itself was submitted once, elsewhere. A cancelled
wait stops at once: the job goes on upstream and can be picked up again by its id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from .client import GLMClient
from .models import TaskResult

DONE = frozenset({"SUCCESS", "FAIL"})

OnPoll = Callable[[TaskResult, int, float], Awaitable[None]]  # (result, polls so far, seconds waited)


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to look at a job, by its age: every `floor` seconds at first, then each time it is `growth`
    times as old, never more than `cap` apart. A job is seen done at most max(floor, (growth - 1) x its
    age, cap) after it finishes, whenever that is; with the defaults, one that takes 3 minutes costs 25
    polls. The poll times are fixed by age alone, so slow answers and resumed waits do not shift them."""

    floor: float = 1.0
    growth: float = 1.2
    cap: float = 30.0

    def ages(self) -> Iterator[float]:
        """The ages at which the job is polled: floor, 2 x floor, ... growing, forever."""
        age = self.floor
        while True:
            yield age
            age += min(max(age * (self.growth - 1), self.floor), self.cap)

    def next_after(self, age: float) -> float:
        """The first polling age later than `age`."""
        return next(planned for planned in self.ages() if planned > age)


async def wait_for(
    client: GLMClient,
    task_id: str,
    *,
    budget: float,
    schedule: PollSchedule,
    age: float = 0.0,
    on_poll: OnPoll | None = None,
    limiter: anyio.CapacityLimiter | None = None,
) -> TaskResult:
    """Poll a job submitted `age` seconds ago until it succeeds or fails, or `budget` seconds pass;
    returns the last state seen.

    A job younger than the schedule's first age is first polled at that age; any other is polled at
    once. Always polls at least once, so a budget of 0 reports the state right now.
    """
    started = anyio.current_time()
    submitted = started - age
    deadline = started + budget
    if age < schedule.floor:
        await anyio.sleep(min(submitted + schedule.floor, deadline) - started)
    polls = 0
    while True:
        if limiter is None:
            result = await client.task_result(task_id)
        else:
            async with limiter:
                result = await client.task_result(task_id)
        polls += 1
        now = anyio.current_time()
        if on_poll is not None:
            await on_poll(result, polls, now - started)
        if result.task_status in DONE or now >= deadline:
            return result
        next_poll = submitted + schedule.next_after(now - submitted)
        await anyio.sleep(max(0.0, min(next_poll, deadline) - now))
