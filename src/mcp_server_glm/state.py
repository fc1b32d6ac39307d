"""What the server holds for its lifetime, handed to every tool call through the MCP lifespan.

One GLM client (one connection pool) serves every call; it is absent when no API key is configured,
so the server still starts and lists its tools, and each call explains how to set the key. The store
is opened on first use, so start-up touches no disk and a broken data directory fails only the calls
that need it, with a message saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from .files import Files
from .glm import GLMClient
from .settings import Settings
from .store import Store


@dataclass(slots=True)
class LazyStore:
    settings: Settings
    _store: Store | None = None
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def get(self) -> Store:
        async with self._lock:
            if self._store is None:
                self._store = await Store.open(self.settings.store_dir)
            return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    glm: GLMClient | None
    files: Files
    store: LazyStore
