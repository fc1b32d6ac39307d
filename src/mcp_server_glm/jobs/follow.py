"""The server's one background poller: while anyone watches a pending job (glm://tasks/{id}, or
glm://tasks for all of them), it polls the job on get_task's schedule and settles it when it ends.

Settling records the job, saves its media once (the store's claim, as for get_task) and so tells the
subscribers (jobs/settle.py). Of replicas sharing a database whose subscribers watch one job, only the
holder of its poll lease asks GLM; the others read its row on the same schedule and tell their own
subscribers when it ends. Nobody watching, nothing is polled; the server's lifespan stops it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import anyio

from ..calls import beside
from ..errors import GLMError, JobError, JobFailed, StoreError
from ..glm.client import ON_RETRY
from ..glm.jobs import DONE, PollSchedule
from ..state import AppState
from ..updates import TASK_PREFIX, TASKS_URI
from .outcome import age
from .settle import settle

log = logging.getLogger(__name__)

POLLS_AT_ONCE = 4  # requests the poller has in flight at most, however many jobs it follows
RECENT = 50  # the jobs glm://tasks shows, of which the pending ones are followed for its subscribers
ATTEMPTS = 3  # polls or saves in a row that may fail before a job is left until the watch changes
# A job's poll lease lasts this many GLM_POLL_MAX_INTERVAL (the longest gap between two polls), renewed
# at each poll: of replicas watching the job one polls GLM, and a holder gone is replaced within it.
LEASE_POLLS = 3
DROP_SECONDS = 5.0  # the most a stopping follower waits for the store to take back its lease

if TYPE_CHECKING:
    from ..store import Store


async def follow_watched(state: AppState) -> None:
    """Follows the pending jobs someone watches, each in its own task, until the server stops."""
    # Started from a request's task, whose context it copied: its polls' retries are told to no call.
    ON_RETRY.set(None)
    updates = state.updates
    limiter = anyio.CapacityLimiter(POLLS_AT_ONCE)
    followed: dict[str, anyio.CancelScope] = {}
    async with anyio.create_task_group() as group:
        while True:
            changed = updates.watch_changed  # set by any change from here on
            try:
                wanted = await _wanted(state)
            except Exception as exc:  # it would end the server; the type only
                log.error("Watched jobs not followed (%s)", type(exc).__name__)
                wanted = set()
            for task_id in [task_id for task_id in followed if task_id not in wanted]:
                followed.pop(task_id).cancel()
            for task_id in wanted - followed.keys():
                followed[task_id] = scope = anyio.CancelScope()
                group.start_soon(_follow, state, task_id, scope, limiter, followed)
            await changed.wait()


async def _wanted(state: AppState) -> set[str]:
    """The ids of the jobs the store holds as processing that someone watches."""
    watched = state.updates.watched()
    if state.glm is None:
        return set()  # no key: nothing can be polled (each call says how to set one)
    try:
        records = await state.store.get()
        pending: set[str] = set()
        if TASKS_URI in watched:
            pending |= {job.id for job in await records.recent_tasks(RECENT) if job.status == "PROCESSING"}
        for uri in watched:
            if uri.startswith(TASK_PREFIX) and (task_id := uri.removeprefix(TASK_PREFIX)) not in pending:
                job = await records.get_task(task_id)
                if job is not None and job.status == "PROCESSING":
                    pending.add(task_id)
    except StoreError as exc:
        log.warning("Watched jobs not followed: %s", exc)
        return set()
    return pending


async def _follow(
    state: AppState,
    task_id: str,
    scope: anyio.CancelScope,
    limiter: anyio.CapacityLimiter,
    followed: dict[str, anyio.CancelScope],
) -> None:
    """Follows one job until it ends. Never raises: a failure is logged and, after ATTEMPTS in a row,
    the job is left until what is watched changes. Its poll lease is given up at the end."""
    settings = state.settings
    schedule = PollSchedule(floor=settings.poll_interval, cap=settings.poll_max_interval)
    with scope:
        try:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await _track(state, task_id, schedule, limiter)
                    return
                except JobFailed:  # recorded as failed, and told
                    return
                except (GLMError, StoreError, JobError) as exc:  # not polled, or its media not saved
                    log.warning("Watched task %s not checked (attempt %d): %s", task_id, attempt, exc)
                await anyio.sleep(schedule.cap)
            log.warning("Watched task %s left after %d failures; get_task follows it", task_id, ATTEMPTS)
        except Exception as exc:  # it would end the poller, and the server with it; the type only
            log.error("Following task %s failed (%s)", task_id, type(exc).__name__)
        finally:
            if followed.get(task_id) is scope:
                del followed[task_id]
            # Another replica watching the job then takes the polls over at once, not at the lease's end.
            with anyio.move_on_after(DROP_SECONDS, shield=True), contextlib.suppress(StoreError):
                await (await state.store.get()).drop_lease(poll_key(task_id), state.owner)
    if scope.cancelled_caught:
        log.info("Task %s is no longer watched: the server stopped polling it", task_id)


async def _track(
    state: AppState, task_id: str, schedule: PollSchedule, limiter: anyio.CapacityLimiter
) -> None:
    """At each of the job's polling ages: the server holding its poll lease asks GLM and settles the job
    when it ends; any other reads the store row, and tells its own subscribers once the holder settled it.
    A holder that stops renewing (a replica gone) loses the lease within LEASE_POLLS polls, and the
    next server to look takes it over."""
    records = await state.store.get()
    key, lease = poll_key(task_id), LEASE_POLLS * schedule.cap
    record = await records.get_task(task_id)
    born = anyio.current_time() - (age(record) or 0.0)
    due = born + schedule.floor  # a job younger than the first polling age waits for it; any other not
    while True:
        await anyio.sleep(max(0.0, due - anyio.current_time()))
        record = await records.get_task(task_id)
        if record is None or record.status != "PROCESSING":
            state.task_changed(task_id)  # settled meanwhile, by another replica or a call
            return
        client = state.glm
        if client is None:
            return
        if await records.take_lease(key, state.owner, lease):
            async with beside(lambda: _renew(records, key, state.owner, lease)):
                async with limiter:
                    found = await client.task_result(task_id)
                if found.task_status in DONE:
                    await settle(state, task_id, record, found)
                    log.info(
                        "The %s task %s watched by a subscriber is %s",
                        record.kind,
                        task_id,
                        found.task_status,
                    )
                    return
        now = anyio.current_time()
        due = born + schedule.next_after(now - born)


async def _renew(records: Store, key: str, owner: str, seconds: float) -> None:
    """Keeps a poll lease while its holder polls and saves the job (a download may outlast it)."""
    while True:
        await anyio.sleep(seconds / 3)
        with contextlib.suppress(StoreError):
            await records.take_lease(key, owner, seconds)


def poll_key(task_id: str) -> str:
    """The lease whose holder polls GLM for the job (this poller's, and MCP tasks' tasks/get)."""
    return f"poll:{task_id}"
