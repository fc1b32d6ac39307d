"""Polling: video jobs that finish after 5, 20, 60 and 180 s, in time scaled down (the server's poll
settings and the fake's job lengths divided alike), each through `generate_video` over stdio.

The fake API records when every poll arrived, so how late a job was seen and how many polls it took are
read off the wire. A sweep of the schedule itself (a fake clock) gives the worst case over all lengths.
"""

from __future__ import annotations

from mcp_server_glm.glm.jobs import PollSchedule
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.stdio import RawSession

from .common import Row, data_dirs, server_env, succeeded

LENGTHS = (5, 20, 60, 180)
SCALE = 20  # 180 s of job time pass in 9 s
MAX_POLLS_180 = 25


def allowed_delay(length: float) -> float:
    return max(1.0, 0.1 * length)


def run(quick: bool) -> list[Row]:
    scale = 60 if quick else SCALE
    schedule = PollSchedule()
    rows = []
    with FakeGLM() as fake, data_dirs() as root:
        env = server_env(
            fake.base_url,
            root,
            GLM_POLL_INTERVAL=str(schedule.floor / scale),
            GLM_POLL_MAX_INTERVAL=str(schedule.cap / scale),
            GLM_RETRY_BACKOFF="0.01",
        )
        session = RawSession(env)
        try:
            for length in LENGTHS:
                fake.task_plan = TaskPlan(seconds=length / scale)
                wait = (2 * length + 60) / scale
                arguments = {"prompt": "a lighthouse", "wait_seconds": wait}
                job = succeeded(session.call("generate_video", arguments), "generate_video")[
                    "structuredContent"
                ]
                if job["status"] != "SUCCESS":
                    raise RuntimeError(f"the {length} s job was not seen done: {job}")
                delay, polls = _seen(fake, job["task_id"], length / scale)
                delay *= scale
                target = f"<= {allowed_delay(length):.0f} s late"
                met = delay <= allowed_delay(length)
                if length == 180:
                    target += f", <= {MAX_POLLS_180} polls"
                    met = met and polls <= MAX_POLLS_180
                rows.append(
                    Row(
                        f"video job of {length} s (time scaled 1/{scale})",
                        f"seen {delay:.2f} s late, {polls} polls",
                        "",
                        None,
                        target,
                        met,
                    )
                )
        finally:
            session.kill()
    rows.append(_sweep(schedule))
    return rows


def _seen(fake: FakeGLM, task_id: str, length: float) -> tuple[float, int]:
    """How long after finishing the job was polled, and how many polls that took."""
    created = fake.tasks[task_id].created
    ages = [request.time - created for request in fake.requests_to(f"async-result/{task_id}")]
    done = [age for age in ages if age >= length]
    if not done:
        raise RuntimeError(f"task {task_id} was never polled after it finished")
    return done[0] - length, ages.index(done[0]) + 1


def _sweep(schedule: PollSchedule) -> Row:
    """The schedule alone, for every job length from 1 s to 10 min in 0.1 s steps."""
    worst_ratio, worst_at, within = 0.0, 0.0, 0
    lengths = [step / 10 for step in range(10, 6001)]
    for length in lengths:
        delay = schedule.next_after(length - 1e-9) - length
        ratio = delay / length
        within += delay <= allowed_delay(length) + 1e-9
        if length >= 10 and ratio > worst_ratio:
            worst_ratio, worst_at = ratio, length
    return Row(
        "schedule sweep, jobs of 1 s to 10 min (fake clock)",
        f"worst {worst_ratio:.0%} of the job late (at {worst_at:.1f} s); "
        f"{within / len(lengths):.0%} of lengths within the target",
        "",
        None,
        "reported",
        None,
    )
