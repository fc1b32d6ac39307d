"""What the server holds for its lifetime, handed to every tool call through the MCP lifespan.

Each part is made on first use, so start-up imports no HTTP or storage code, builds no TLS context and
touches no disk. One GLM client (one connection pool) serves every call; without an API key there is
none, the server still starts and lists its tools, and each call explains how to set the key. A broken
data directory fails only the calls that need the store, with a message saying why.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from mcp.server.subscriptions import InMemorySubscriptionBus

from . import __version__, identity
from .errors import StoreError
from .glm import catalog
from .settings import MB, Settings

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .files import Files, MediaKind
    from .glm.client import GLMClient
    from .jobs.submit import Submitted
    from .store import Store, UsageRow
    from .updates import Updates

log = logging.getLogger(__name__)

USAGE_WRITE_DELAY = 1.0  # seconds a usage row may wait in memory, to be written with the ones after it
# Input size limits per kind, as the API states them (images inline in chat and video requests).
INPUT_LIMITS: dict[MediaKind, int] = {"image": 5 * MB, "video": 200 * MB, "file": catalog.MAX_FILE_BYTES}


class LazyStore:
    """The task store, opened on first use and closed with the server.

    Usage is counted without making a call wait for the database: rows queue in memory and are written
    in the background within USAGE_WRITE_DELAY, all in one transaction; reading the totals writes the
    queue first, and so does stopping the server.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._lock = anyio.Lock()
        self._usage: list[UsageRow] = []
        self._usage_lock = anyio.Lock()
        self._background: TaskGroup | None = None
        # Why the server's background work stopped while the server runs on (read by /healthz), or None.
        self.failure: str | None = None
        self.on_usage: Callable[[], None] | None = None  # told once usage rows are written

    async def get(self) -> Store:
        async with self._lock:
            if self._store is None:
                from .store import Store

                url = self.settings.database_url
                self._store = await Store.open(
                    self.settings.store_dir, database_url=None if url is None else url.get_secret_value()
                )
            return self._store

    def count_usage(self, tool: str, model: str, units: int, unit: str) -> None:
        self._usage.append((tool, model, units, unit, time.time(), identity.current_user()))
        if self._background is not None and len(self._usage) == 1:
            self._background.start_soon(self._write_usage_in_background, USAGE_WRITE_DELAY)

    async def write_usage(self) -> None:
        """Write the queued usage rows; when it returns, every row counted before the call is stored."""
        async with self._usage_lock:
            rows, self._usage = self._usage, []
            if rows:
                # Shielded: rows taken from the queue are written, even by a server being stopped.
                with anyio.CancelScope(shield=True):
                    await (await self.get()).record_usage_rows(rows)
                if self.on_usage is not None:
                    self.on_usage()

    async def _write_usage_in_background(self, delay: float = 0.0) -> None:
        """Write the queued usage rows after `delay`; a failure is logged (nobody is waiting for it) and
        never escapes: it would end the server's task group, and with it the server."""
        await anyio.sleep(delay)
        try:
            await self.write_usage()
        except StoreError as exc:
            log.warning("Usage not recorded: %s", exc)
        except Exception as exc:  # see above; the type only, never a value
            log.error("Usage not recorded: the write failed (%s)", type(exc).__name__)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """For the server's lifetime: usage is written in the background; at the end, the rest of it,
        then the store is closed (shielded: a cancelled server still keeps what it counted). If this
        ends with an error, `failure` says so (an HTTP server's process may outlive it)."""
        try:
            async with anyio.create_task_group() as background:
                self._background = background
                try:
                    yield
                finally:
                    background.cancel_scope.cancel()  # a write waiting out its delay is done below
        except Exception as exc:
            while isinstance(exc, ExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]
            self.failure = f"the server's background work stopped ({type(exc).__name__}): restart it"
            raise
        finally:
            self._background = None
            with anyio.CancelScope(shield=True):
                await self.close()

    async def close(self) -> None:
        if self._usage:
            await self._write_usage_in_background()
        if self._store is not None:
            await self._store.close()
            self._store = None


class AppState:
    def __init__(self, settings: Settings, store: LazyStore) -> None:
        self.settings = settings
        self.store = store
        self._glm: GLMClient | None = None
        self._files: Files | None = None
        # This server's name in the store's claims and leases: each server sharing a database (replicas,
        # or two servers built in one process) signs with its own.
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        # This process's per-job state: a lock per job being saved or request being submitted, with the
        # number of calls holding or awaiting it (jobs.outcome.one_at_a_time); and the jobs the API
        # accepted that the store could not take yet, by task id (jobs.submit).
        self.job_locks: dict[str, tuple[anyio.Lock, int]] = {}
        self.unrecorded: dict[str, Submitted] = {}
        # True while one owner serves the state for the whole process (the SSE app's lifespan): the
        # per-connection lifespans then neither start nor close anything.
        self.hosted = False
        # The subscriptions/listen streams' fan-out (2026-07-28), handed to the MCP server; who watches
        # what, and the notifications owed, in `updates` (made on first use).
        self.listeners = InMemorySubscriptionBus()
        self._updates: Updates | None = None
        # While the server runs: its background work started on first use (updates, the job poller).
        self.background: TaskGroup | None = None
        store.on_usage = self._usage_written

    @property
    def updates(self) -> Updates:
        """Subscriptions to resources and the updates pushed to them."""
        if self._updates is None:
            from .updates import Updates

            self._updates = Updates(self, self.listeners)
        return self._updates

    def changed(self, *uris: str, listed: bool = False) -> None:
        """Tell the subscribers of `uris` (with `listed`, of the resource list) that they changed; a
        no-op until anyone subscribed. Never waits."""
        if self._updates is not None:
            self._updates.changed(*uris, listed=listed)

    def task_changed(self, task_id: str | None = None) -> None:
        """A job's record changed (submitted, settled, failed): glm://tasks and glm://tasks/{id}."""
        from .updates import TASKS_URI, task_uri

        self.changed(TASKS_URI, *([task_uri(task_id)] if task_id else []))

    def _usage_written(self) -> None:
        from .updates import USAGE_URI

        self.changed(USAGE_URI)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """For the server's lifetime: a task group for the background work started on first use
        (updates to subscribers, the job poller), cancelled at the end. That work never raises."""
        async with anyio.create_task_group() as background:
            self.background = background
            try:
                yield
            finally:
                self.background = None
                background.cancel_scope.cancel()

    @property
    def glm(self) -> GLMClient | None:
        """The GLM client, or None when no API key is configured."""
        settings = self.settings
        if self._glm is None and settings.api_key is not None:
            from .glm.client import GLMClient

            self._glm = GLMClient(
                settings.api_key.get_secret_value(),
                settings.api_base_url,
                general_url=settings.general_base_url,
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
                max_retries=settings.max_retries,
                deadline=settings.deadline,
                retry_backoff=settings.retry_backoff,
                user_agent=f"mcp-server-glm/{__version__}",
            )
        return self._glm

    @property
    def files(self) -> Files:
        """Inputs read from allowed directories and URLs; downloads saved to the output directory."""
        if self._files is None:
            from .files import Files

            settings = self.settings
            self._files = Files(
                allowed_dirs=settings.input_dirs,
                output_dir=settings.media_dir,
                input_limits={**INPUT_LIMITS, "audio": settings.max_audio_mb * MB},
                max_download_bytes=settings.max_download_mb * MB,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.timeout,
                allow_hard_links=settings.allow_hard_links,
                temp_dir=settings.store_dir,
                owned=self._own_input if settings.auth_issuer else None,
            )
        return self._files

    async def _own_input(self, path: Path) -> None:
        """With sign-in, a local input is a file this server saved for the caller, or lies in a directory
        the operator shares with every user (GLM_ALLOWED_DIRS set explicitly; the output directory is never
        one of those): never another's media."""
        from .errors import InputRefused

        files = self.files
        caller = identity.current()
        if path.is_relative_to(files.output_dir):  # the saved media: each file its owner's, even if listed
            record = await (await self.store.get()).get_media(path.name)
            owned = caller is not None and record is not None and record.user_id == caller.user
            if owned and record is not None and Path(await anyio.Path(record.path).resolve()) == path:
                return
        elif self.settings.allowed_dirs and any(path.is_relative_to(root) for root in files.allowed_dirs):
            return
        raise InputRefused(
            "with sign-in, a local file must be one this server saved for you, or lie in GLM_ALLOWED_DIRS"
        )

    async def aclose(self) -> None:
        """Close the HTTP clients that were opened (the store closes itself, see LazyStore.serving)."""
        glm, files, self._glm, self._files = self._glm, self._files, None, None
        if glm is not None:
            await glm.aclose()
        if files is not None:
            await files.aclose()
