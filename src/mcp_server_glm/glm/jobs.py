"""Waiting for the GLM API's async jobs (video, async image): poll with growing intervals, within a budget.

Polling only reads, so it is safe to repeat; the job itself was submitted once, elsewhere. A cancelled
wait stops at once: the job goes on upstream and can be picked up again by its id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from .client import GLMClient
from .models import TaskResult

DONE = frozenset({"SUCCESS", "FAIL"})

OnPoll = Callable[[TaskResult, int, float], Awaitable[None]]  # (result, polls so far, seconds waited)


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Fast at first, then slower: `first` seconds, growing by `growth`, never more than `cap`."""

    first: float = 1.0
    growth: float = 1.5
    cap: float = 10.0

    def intervals(self) -> Callable[[], float]:
        current = self.first

        def next_interval() -> float:
            nonlocal current
            interval, current = current, min(current * self.growth, self.cap)
            return min(interval, self.cap)

        return next_interval


async def wait_for(
    client: GLMClient, task_id: str, *, budget: float, schedule: PollSchedule, on_poll: OnPoll | None = None
) -> TaskResult:
    """Poll until the job succeeds or fails, or `budget` seconds pass; returns the last state seen.

    Always polls at least once, so a budget of 0 reports the state right now.
    """
    started = anyio.current_time()
    next_interval = schedule.intervals()
    polls = 0
    while True:
        result = await client.task_result(task_id)
        polls += 1
        waited = anyio.current_time() - started
        if on_poll is not None:
            await on_poll(result, polls, waited)
        remaining = budget - waited
        if result.task_status in DONE or remaining <= 0:
            return result
        await anyio.sleep(min(next_interval(), remaining))
