"""Load and soak: 200 concurrent calls over Streamable HTTP share a few upstream connections; 5,000
sequential calls over stdio leave the server's memory and file descriptors where they were."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from tests.conftest import server_env
from tests.fake_glm import FakeGLM
from tests.support.http import connect, http_server
from tests.support.stdio import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CONCURRENT = 200
SEQUENTIAL = 5000
WARM_UP = 500


async def test_200_concurrent_calls_over_http(fake: FakeGLM, tmp_path: Path) -> None:
    fake.latency = 0.1
    outcomes: list[bool] = []
    with http_server(server_env(fake), "streamable-http", tmp_path) as running:
        async with connect(running, "streamable-http", "auto") as client:

            async def one(number: int) -> None:
                result = await client.call_tool("web_search", {"query": f"load {number}", "count": 1})
                outcomes.append(not result.is_error)

            started = anyio.current_time()
            async with anyio.create_task_group() as group:
                for number in range(CONCURRENT):
                    group.start_soon(one, number)
            elapsed = anyio.current_time() - started
    upstream = len(fake.requests_to("web_search"))
    print(
        f"\n{CONCURRENT} concurrent calls in {elapsed:.2f} s (upstream latency 0.1 s): "
        f"{sum(outcomes)} succeeded, {upstream} upstream requests over {fake.connections} connections"
    )
    assert outcomes == [True] * CONCURRENT
    assert upstream == CONCURRENT
    # Calls share connections: 100 at most at once, 20 kept idle between bursts (more idle ones cost
    # more than they save: the pool checks each idle connection on every request).
    assert fake.connections < CONCURRENT


def test_5000_sequential_calls_keep_memory_and_descriptors_flat(fake: FakeGLM) -> None:
    session = RawSession(server_env(fake))
    try:
        for number in range(WARM_UP):
            assert session.call("web_search", {"query": f"warm {number}", "count": 1})["isError"] is False
        rss_before, fds_before = resident_mib(session.process.pid), open_fds(session.process.pid)
        for number in range(SEQUENTIAL):
            tool = "glm_chat" if number % 2 else "web_search"
            arguments = (
                {"prompt": f"soak {number}"} if number % 2 else {"query": f"soak {number}", "count": 1}
            )
            assert session.call(tool, arguments)["isError"] is False
        rss_after, fds_after = resident_mib(session.process.pid), open_fds(session.process.pid)
    finally:
        session.kill()
    print(
        f"\n{SEQUENTIAL} sequential calls over stdio: RSS {rss_before:.1f} -> {rss_after:.1f} MiB, "
        f"open descriptors {fds_before} -> {fds_after}, {fake.connections} upstream connections"
    )
    assert rss_after - rss_before < 10
    assert fds_after <= fds_before
    assert fake.connections <= 2  # streamed answers too give their connection back to the pool


def resident_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
