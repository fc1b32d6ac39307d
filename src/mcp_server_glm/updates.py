"""Updates pushed to subscribers: who watches which resource (a 2025-11-25 session through
resources/subscribe, a 2026-07-28 subscriptions/listen stream), and the fan-out of their notifications.

A change is queued without waiting (`changed`) and sent in the background: a tool call never waits for
a subscriber, and a session that does not take a notification within SEND_SECONDS is dropped. Watching
a job (or glm://tasks) starts the one poller of jobs/follow.py, which follows the pending jobs watched.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.subscriptions import ResourcesListChanged, ResourceUpdated, SubscriptionBus

if TYPE_CHECKING:
    from mcp.server.session import ServerSession

    from .state import AppState

log = logging.getLogger(__name__)

TASKS_URI = "glm://tasks"
TASK_PREFIX = "glm://tasks/"
USAGE_URI = "glm://usage"
SEND_SECONDS = 5.0  # a 2025-11-25 session that takes longer to take a notification is dropped


def task_uri(task_id: str) -> str:
    return f"{TASK_PREFIX}{task_id}"


@dataclass(slots=True)
class _Subscriber:
    """A 2025-11-25 session and the resources it subscribed to."""

    session: ServerSession
    uris: set[str] = field(default_factory=set)


class Updates:
    """Subscriptions per session and the notifications owed to them; made on the state's first use."""

    def __init__(self, state: AppState, bus: SubscriptionBus) -> None:
        self._state = state
        self._bus = bus  # the SDK's subscriptions/listen streams read it
        self._sessions: dict[object, _Subscriber] = {}
        self._listening: Counter[str] = Counter()  # URI -> open listen streams that name it
        self._pending: dict[str, None] = {}
        self._list_changed = False
        self._wake = anyio.Event()
        self._sending = False
        self._polling = False
        self.send_seconds = SEND_SECONDS
        # Set whenever what is watched, or a job, changes: the poller then looks again.
        self.watch_changed = anyio.Event()

    # -- who watches what ------------------------------------------------------------------------

    def subscribe(self, session: ServerSession, uri: str) -> None:
        """resources/subscribe (2025-11-25): `session` is told of `uri`'s changes until it unsubscribes
        or goes away."""
        # The session object is made per request; the connection it wraps is the client's, and its exit
        # stack is unwound when the client goes away (the SDK gives a handler no public way to it).
        connection: Any = getattr(session, "_connection", None)
        key: object = connection if connection is not None else session
        subscriber = self._sessions.get(key)
        if subscriber is None:
            subscriber = self._sessions[key] = _Subscriber(session)
            if connection is not None:
                connection.exit_stack.callback(self.drop, key)
        subscriber.uris.add(uri)
        self._watching()

    def unsubscribe(self, session: ServerSession, uri: str) -> None:
        key: object = getattr(session, "_connection", None) or session
        subscriber = self._sessions.get(key)
        if subscriber is not None:
            subscriber.uris.discard(uri)
        self._watching()

    def drop(self, key: object) -> None:
        """Forget a session (gone, or not taking notifications)."""
        if self._sessions.pop(key, None) is not None:
            self._watching()

    @contextlib.contextmanager
    def listening(self, uris: Iterable[str]) -> Iterator[None]:
        """Held while a subscriptions/listen stream (2026-07-28) naming `uris` is open."""
        named = list(dict.fromkeys(uris))
        self._listening.update(named)
        self._watching()
        try:
            yield
        finally:
            self._listening.subtract(named)
            self._listening += Counter()  # drops the URIs nobody listens to any more
            self._watching()

    def watched(self) -> set[str]:
        """Every URI someone is subscribed to, on either era."""
        uris = set(self._listening)
        for subscriber in self._sessions.values():
            uris |= subscriber.uris
        return uris

    def _watching(self) -> None:
        self._poke()
        if not self._polling and any(uri.startswith(TASKS_URI) for uri in self.watched()):
            background = self._state.background
            if background is not None:
                from .jobs.follow import follow_watched

                self._polling = True
                background.start_soon(follow_watched, self._state)

    def _poke(self) -> None:
        self.watch_changed.set()
        self.watch_changed = anyio.Event()

    # -- what changed ----------------------------------------------------------------------------

    def changed(self, *uris: str, listed: bool = False) -> None:
        """Queue an update of `uris` (and, with `listed`, of the resource list) for their subscribers;
        returns at once. A job's URI also wakes the poller."""
        for uri in uris:
            self._pending[uri] = None
        self._list_changed |= listed
        if any(uri.startswith(TASKS_URI) for uri in uris):
            self._poke()
        if not self._sending:
            background = self._state.background
            if background is None:
                return
            self._sending = True
            background.start_soon(self._send)
        self._wake.set()

    async def _send(self) -> None:
        """Sends the queued updates, forever: to the listen streams (the SDK's bus buffers them per
        stream) and to each subscribed 2025-11-25 session."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            uris, self._pending = list(self._pending), {}
            if self._list_changed:
                self._list_changed = False
                await self._bus.publish(ResourcesListChanged())
            for uri in uris:
                await self._bus.publish(ResourceUpdated(uri=uri))
                # Side by side: a session slow to take it delays the others once, by send_seconds at most.
                async with anyio.create_task_group() as sends:
                    for key, subscriber in list(self._sessions.items()):
                        if uri in subscriber.uris:
                            sends.start_soon(self._send_one, key, subscriber.session, uri)

    async def _send_one(self, key: object, session: ServerSession, uri: str) -> None:
        with anyio.move_on_after(self.send_seconds):
            try:
                await session.send_resource_updated(uri)
            except Exception as exc:  # the session's transport failed; the type only
                log.debug("Sending the update of %s failed (%s)", uri, type(exc).__name__)
            else:
                return
        log.info("A subscriber did not take the update of %s: dropped", uri)
        self.drop(key)
