"""What the benchmarks share: the processes they measure (our server, the bare baseline, the fake API),
the calls they time, the statistics, and the row every result is reported as. Raw stdio sessions are
the tests' own `RawSession` (tests/support/stdio.py).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parent.parent
BARE_SERVER = Path(__file__).with_name("bare_server.py")
KEY = "bench-key-7d41c9e05a3b"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    """One line of the results table; `ratio` is ours over the baseline, `met` whether the target holds."""

    name: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def server_command() -> list[str]:
    """The installed `mcp-server-glm` of the environment running the benchmarks."""
    found = shutil.which("mcp-server-glm", path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit("mcp-server-glm is not installed in this environment: pip install -e '.[dev]'")
    return [found]


def bare_command(*args: str) -> list[str]:
    return [sys.executable, str(BARE_SERVER), *args]


@contextmanager
def data_dirs() -> Iterator[Path]:
    """A throwaway data directory (store, media) and input directory for one benchmark."""
    with tempfile.TemporaryDirectory(prefix="glm-bench-") as name:
        root = Path(name)
        (root / "inputs").mkdir()
        yield root


def server_env(base_url: str, root: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a measured server: nothing inherited from GLM settings of the shell, and
    bytecode cached as an installed package has it (a source checkout run with PYTHONDONTWRITEBYTECODE
    would compile every module at every start)."""
    inherited = ("ZAI_", "ZHIPUAI_", "GLM_", "PYTHONDONTWRITEBYTECODE")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    env.update(
        {
            "ZAI_API_KEY": KEY,
            "ZAI_BASE_URL": base_url,
            "GLM_DATA_DIR": str(root / "data"),
            "GLM_ALLOWED_DIRS": str(root / "inputs"),
        }
    )
    env.update(extra)
    return env


@contextmanager
def fake_api(*args: str) -> Iterator[str]:
    """The fake GLM API in its own process, taking no CPU from the measuring one; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_glm", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError("the fake GLM API did not start")
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def http_process(command: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    """A server listening on `port`, running until the block ends."""
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, env=env, stdin=quiet, stdout=quiet, stderr=quiet, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not listen on port {port}")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


@asynccontextmanager
async def stdio_session(command: list[str], env: dict[str, str]) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    with open(os.devnull, "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


@asynccontextmanager
async def http_session(port: int) -> AsyncIterator[Client]:
    # Idle connections are dropped before the bare server's uvicorn closes them (5 s), so that no request
    # goes out on a connection being closed under it.
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300), limits=limits) as http,
        Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
    ):
        yield client


def succeeded(result: dict[str, Any], tool: str) -> dict[str, Any]:
    """A `tools/call` result, or an error if the call failed: a failed call must not count as measured."""
    if result.get("isError"):
        raise RuntimeError(f"{tool} failed: {result['content'][0]['text']}")
    return result


async def direct_chat(client: httpx2.AsyncClient, base_url: str) -> None:
    """The baseline call: the streamed chat POST made directly."""
    from .bare_server import ask_glm

    if not await ask_glm(client, base_url, KEY, "Say hi."):
        raise RuntimeError("the direct POST got no answer")


async def tool_chat(client: Client, tool: str) -> None:
    """One chat through MCP: `glm_chat` of ours, or `ask` of the bare server."""
    result = await client.call_tool(tool, {"prompt": "Say hi."})
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")


async def interleaved(
    variants: dict[str, Callable[[], Awaitable[None]]], calls: int, *, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Each variant's call times: `warmup` calls each first, then `calls` in `rounds` that take turns
    (the starting variant shifting each round), so drift hits every variant alike."""
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for call in variants.values():
        for _ in range(warmup):
            await call()
    names = list(variants)
    per_round = max(1, calls // rounds)
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            for _ in range(per_round):
                started = time.perf_counter()
                await variants[name]()
                timings[name].append(time.perf_counter() - started)
    return timings
