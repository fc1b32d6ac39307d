"""Shared fixtures: the loopback fake GLM API, in-process MCP clients, and the installed server over stdio.

Every test uses a canary API key; `tests/test_secrets.py` checks it never leaks. Every test is also a
contract check: a request our client sent to a fake during the test that the platform's reference
refuses fails the test (`pytest_runtest_call` below). A test that starts a process (the installed
server, the CLI, a fresh interpreter) must be marked `slow`, or it fails: the fast loop
(`pytest -m "not slow"`) stays in process.
"""

from __future__ import annotations

import io
import os
import sys
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import is_hypothesis_test
from mcp import Client, StdioServerParameters
from mcp.client.session import MessageHandlerFnT
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from mcp_server_glm.server import build_server
from mcp_server_glm.settings import Settings
from tests.fake_glm import FakeGLM, reference
from tests.support import stores
from tests.support.postgres import Unavailable, cluster, database_url, postgres_cluster, stop_cluster  # noqa: F401 (fixtures)
from tests.support.stdio import installed_server

OUR_AGENT = "mcp-server-glm"  # how our client's User-Agent starts (the doctor's too)

CANARY_KEY = "canary-glm-key-5f0c7e2a9b14d8e3a6c1f4b7d2e9a0c3"


def contract_violations(fake: FakeGLM, since: int = 0, *, names: bool = False) -> list[str]:
    """One line per way a request our client sent to `fake` (from its `since`-th record on) breaks the
    reference of the platform the fake plays. Requests of other clients (tests that send bad requests
    on purpose use their own) and bodiless GETs (async-result, media) are not checked; nor, unless
    `names`, is an unknown model or engine: the client passes names it does not know through to the API
    by design (tests/test_contract.py holds the names it offers to the references)."""
    records = fake.requests
    problems: list[str] = []
    for recorded in records[since if since <= len(records) else 0 :]:
        if recorded.method != "POST" or not recorded.headers.get("user-agent", "").startswith(OUR_AGENT):
            continue
        payload = reference.payload_of(recorded.route, recorded.json, recorded.form, recorded.files)
        problems += [
            f"POST {recorded.route} ({fake.platform}): {found.message} -> {found.status}/{found.code}"
            for found in reference.violations(fake.platform, recorded.route, payload)
            if names or found.kind != "model"
        ]
    return problems


# ffmpeg (on PATH, or imageio-ffmpeg's `ffmpeg-<platform>`) is the transcribe tool's own MP3 decoder and
# the samples' encoder: in-process tests run it too
ALLOWED_PROGRAM = "ffmpeg"
_spawned: list[str] = []  # the programs started by the test running now (the audit hook's record)


def _record_spawn(event: str, args: tuple[Any, ...]) -> None:
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        program = (
            executable if executable is not None else (argv if isinstance(argv, str | bytes) else argv[0])
        )
        _spawned.append(os.fsdecode(program))
    elif event in {"os.posix_spawn", "os.spawn", "os.exec"}:
        _spawned.append(os.fsdecode(args[0]))


sys.addaudithook(_record_spawn)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With GLM_TEST_STORE=postgresql, the cluster and the migrated template are made before any test
    (so no test is charged with starting a process); without PostgreSQL the switch is a usage error."""
    if stores.suite_engine() != "postgresql":
        return
    try:
        stores.databases(cluster())
    except Unavailable as exc:
        raise pytest.UsageError(f"{stores.SWITCH}=postgresql: {exc}") from exc


def pytest_sessionfinish(session: pytest.Session) -> None:
    stores.close_databases()
    stop_cluster()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests decorated with hypothesis's `@given`, the fault matrix (its servers are processes) and the
    PostgreSQL runs (the cluster is a process) are slow wherever they are; the other slow tests are
    marked in their modules. A test kept on SQLite says why."""
    for item in items:
        kept = item.get_closest_marker("sqlite_only")
        if kept is not None and not (kept.args and isinstance(kept.args[0], str) and kept.args[0]):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.sqlite_only needs the reason, a string")
        fixtures = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        on_postgres = "postgres_cluster" in fixtures or (
            callspec is not None and callspec.params.get("database_url") == "postgres"
        )
        if (
            is_hypothesis_test(getattr(item, "obj", None))
            or any(name in fixtures for name in ("target", "stdio_target", "http_target"))
            or on_postgres
        ):
            item.add_marker(pytest.mark.slow)


def _fail_unmarked_spawns(item: pytest.Item) -> None:
    programs = sorted({Path(p).name for p in _spawned if not Path(p).name.startswith(ALLOWED_PROGRAM)})
    _spawned.clear()
    if programs and item.get_closest_marker("slow") is None:
        pytest.fail(
            f"this test started {', '.join(programs)}: mark it @pytest.mark.slow"
            " (the fast loop, -m 'not slow', runs in process)",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """A test not marked `slow` that starts a process (here in its fixtures' setup) fails."""
    _spawned.clear()
    outcome = yield
    _fail_unmarked_spawns(item)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    _fail_unmarked_spawns(item)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a test passes, fail it if our client sent a fake a request its platform's reference
    refuses. Done here rather than in a fixture's teardown, so it fails the test itself (a teardown
    error would escape an xfail mark)."""
    fakes = list(
        {id(v): v for v in getattr(item, "funcargs", {}).values() if isinstance(v, FakeGLM)}.values()
    )
    marks = [len(fake.requests) for fake in fakes]
    _spawned.clear()
    outcome = yield
    _fail_unmarked_spawns(item)
    problems = [
        line for fake, mark in zip(fakes, marks, strict=True) for line in contract_violations(fake, mark)
    ]
    if problems:
        pytest.fail("our client sent requests the reference refuses:\n" + "\n".join(problems), pytrace=False)
    return outcome


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """Every test gets its own data, output and allowed input directories, and with
    GLM_TEST_STORE=postgresql a database of its own for that data directory (tests/support/stores.py);
    returns the input directory."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_ALLOWED_DIRS", os.pathsep.join([str(inputs), str(tmp_path / "data" / "media")]))
    monkeypatch.delenv("GLM_DATABASE_URL", raising=False)
    if stores.suite_engine() == "postgresql":
        if request.node.get_closest_marker("sqlite_only") is None:
            test_stores = stores.begin_test(stores.databases(cluster()), tmp_path)
            monkeypatch.setenv("GLM_DATABASE_URL", test_stores.url_for(tmp_path / "data"))
        else:
            stores.begin_sqlite_test()
    try:
        yield inputs
    finally:
        stores.end_test()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeGLM]:
    with FakeGLM() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeGLM) -> FakeGLM:
    """The fake GLM API, reset for each test, accepting only the canary key."""
    fake_server.reset()
    fake_server.api_keys = {CANARY_KEY}
    return fake_server


def settings_for(fake: FakeGLM, **overrides: Any) -> Settings:
    """Settings pointing at the fake (on the platform it plays), with retries fast enough for tests."""
    values: dict[str, Any] = {
        "api_key": CANARY_KEY,
        "base_url": fake.base_url,
        "platform": fake.platform,
        "retry_backoff": 0.01,
        "timeout": 5.0,
        "poll_interval": 0.05,
        "poll_max_interval": 0.2,
    }
    values.update(overrides)
    if "data_dir" in overrides and "database_url" not in overrides:
        # The store of that data directory: its own database on PostgreSQL (GLM_TEST_STORE).
        url = stores.database_url_for(overrides["data_dir"])
        if url is not None:
            values["database_url"] = url
    return Settings(**values)


@asynccontextmanager
async def in_process(fake: FakeGLM, mode: str = "auto", **overrides: Any) -> AsyncIterator[Client]:
    """An MCP client talking to a server built in this process (no transport)."""
    async with Client(build_server(settings_for(fake, **overrides)), mode=mode) as client:
        yield client


def server_env(fake: FakeGLM | None, **extra: str) -> dict[str, str]:
    """A clean environment for the server subprocess: no inherited GLM settings; the platform is the
    one the fake plays (set `fake.platform` first). Another GLM_DATA_DIR in `extra` gets that
    directory's store (its own database with GLM_TEST_STORE=postgresql)."""
    kept = ("GLM_DATA_DIR", "GLM_ALLOWED_DIRS", "GLM_DATABASE_URL")  # the test's own directories and store
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ZAI_", "ZHIPUAI_", "GLM_")) or key in kept
    }
    if fake is not None:
        env.update(
            {
                "ZAI_API_KEY": CANARY_KEY,
                "ZAI_BASE_URL": fake.base_url,
                "GLM_PLATFORM": fake.platform,
                "GLM_RETRY_BACKOFF": "0.01",
                "GLM_POLL_INTERVAL": "0.05",
                "GLM_POLL_MAX_INTERVAL": "0.2",
            }
        )
    if "GLM_DATA_DIR" in extra and "GLM_DATABASE_URL" not in extra:
        url = stores.database_url_for(extra["GLM_DATA_DIR"])
        if url is not None:
            env["GLM_DATABASE_URL"] = url
    env.update(extra)
    return env


@asynccontextmanager
async def over_stdio(
    env: dict[str, str],
    stderr_path: Path,
    mode: str = "auto",
    args: list[str] | None = None,
    message_handler: MessageHandlerFnT | None = None,
) -> AsyncIterator[Client]:
    """An MCP client talking to the installed server, spawned as a subprocess, over stdio; the server's
    notifications go to `message_handler` when given."""
    params = StdioServerParameters(command=installed_server(), args=args or [], env=env)
    with stderr_path.open("w") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog), mode=mode, message_handler=message_handler
        ) as client:
            yield client


def text_of(result: CallToolResult) -> str:
    """The text block every tool result starts with."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def wav_file(frames: bytes, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV file holding `frames`, as the stdlib `wave` module writes it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(frames)
    return out.getvalue()
