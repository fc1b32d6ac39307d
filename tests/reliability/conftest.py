"""The fault matrix's servers: the installed server over stdio or over Streamable HTTP, one process per
module and transport, each in directories of its own, pointing at the session's fake GLM API with a 1 s
read timeout, 3 retries and fast backoff. A stdio server is one client session, shared by the module's
tests (a module using it overrides `anyio_backend` with module scope); an HTTP server gets a new client
session per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import over_stdio, server_env
from tests.fake_glm import FakeGLM
from tests.support.http import Running, connect, http_server

TRANSPORTS = ["stdio", "streamable-http"]
READ_TIMEOUT = 1.0  # GLM_TIMEOUT of every server here; a Fault(delay=SLOW) outlasts it
SLOW = 1.8
MAX_RETRIES = 3


def reliability_env(fake: FakeGLM, data: Path, **extra: str) -> dict[str, str]:
    media = data / "media"
    inputs = data.parent / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    settings = {
        "GLM_DATA_DIR": str(data),
        "GLM_ALLOWED_DIRS": os.pathsep.join([str(inputs), str(media)]),
        "GLM_TIMEOUT": str(READ_TIMEOUT),
        "GLM_MAX_RETRIES": str(MAX_RETRIES),
    }
    return server_env(fake, **{**settings, **extra})


@dataclass
class Target:
    """Where a test's server runs and keeps its files; `session()` opens an MCP client to it."""

    transport: str
    data_dir: Path
    env: dict[str, str]
    stderr: Path
    running: Running | None = None
    client: Client | None = None

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Client]:
        if self.client is not None:
            yield self.client
        else:
            assert self.running is not None
            async with connect(self.running, "streamable-http", "auto") as client:
                yield client


@pytest.fixture(scope="module")
def http_target(fake_server: FakeGLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One Streamable HTTP server for the whole module (it must also stop cleanly at the end)."""
    base = tmp_path_factory.mktemp("http-server")
    env = reliability_env(fake_server, base / "data")
    with http_server(env, "streamable-http", base) as running:
        yield Target("streamable-http", base / "data", env, running.stderr, running)


@pytest.fixture(scope="module")
async def stdio_target(
    fake_server: FakeGLM, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    """One stdio server and its client session for the whole module."""
    base = tmp_path_factory.mktemp("stdio-server")
    env = reliability_env(fake_server, base / "data")
    stderr = base / "stdio.log"
    async with over_stdio(env, stderr) as client:
        yield Target("stdio", base / "data", env, stderr, client=client)
    assert "Traceback" not in stderr.read_text()


@pytest.fixture(params=TRANSPORTS)
def target(request: pytest.FixtureRequest, fake: FakeGLM) -> Target:
    """The module's server of one transport (started by its first test)."""
    name = "stdio_target" if request.param == "stdio" else "http_target"
    chosen: Target = request.getfixturevalue(name)
    return chosen


def media_files(directory: Path, task_id: str | None = None) -> list[str]:
    """Names in the output directory: every `.part` file, and the files of one task when given."""
    if not directory.is_dir():
        return []
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.endswith(".part") or (task_id is not None and task_id in p.name)
    )


def structured(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None, result
    content: dict[str, Any] = result.structured_content
    return content
