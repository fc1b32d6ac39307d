"""Concurrency: 100 `glm_chat` calls at once, the fake API answering each after 200 ms, against 100
direct httpx2 POSTs at once, and against the bare server's tool over the same transport; wall time of
each burst, bursts taking turns, median of the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import anyio
import httpx2

from .common import (
    Row,
    bare_command,
    data_dirs,
    direct_chat,
    fake_api,
    free_port,
    http_process,
    http_session,
    median,
    server_command,
    server_env,
    stdio_session,
    tool_chat,
)

CONCURRENT = 100
LATENCY = 0.2
ROUNDS = 7
RATIO_TARGET = 1.2


def run(quick: bool) -> list[Row]:
    return anyio.run(measure, 3 if quick else ROUNDS)


async def measure(rounds: int) -> list[Row]:
    with fake_api("--latency", str(LATENCY)) as base_url, data_dirs() as root:
        env = server_env(base_url, root)
        port, bare_port = free_port(), free_port()
        command = [*server_command(), "--transport", "streamable-http", "--port", str(port)]
        with (
            http_process(command, env, port),
            http_process(bare_command("streamable-http", str(bare_port)), env, bare_port),
        ):
            async with (
                httpx2.AsyncClient(timeout=60) as direct,
                stdio_session(server_command(), env) as over_stdio,
                http_session(port) as over_http,
                stdio_session(bare_command(), env) as bare_stdio,
                http_session(bare_port) as bare_http,
            ):
                bursts: dict[str, Callable[[], Awaitable[None]]] = {
                    "direct": partial(_burst, partial(direct_chat, direct, base_url)),
                    "stdio": partial(_burst, partial(tool_chat, over_stdio, "glm_chat")),
                    "http": partial(_burst, partial(tool_chat, over_http, "glm_chat")),
                    "bare stdio": partial(_burst, partial(tool_chat, bare_stdio, "ask")),
                    "bare http": partial(_burst, partial(tool_chat, bare_http, "ask")),
                }
                walls: dict[str, list[float]] = {name: [] for name in bursts}
                for burst in bursts.values():  # warm-up: connections, first-call imports
                    await burst()
                for round_number in range(rounds):
                    names = list(bursts)
                    shift = round_number % len(names)
                    for name in names[shift:] + names[:shift]:
                        started = time.perf_counter()
                        await bursts[name]()
                        walls[name].append(time.perf_counter() - started)
    direct_wall = median(walls["direct"])
    rows = []
    for name, label in (("stdio", "stdio"), ("http", "Streamable HTTP")):
        wall, bare_wall = median(walls[name]), median(walls[f"bare {name}"])
        rows.append(
            Row(
                f"{CONCURRENT} concurrent glm_chat, {label}, {LATENCY * 1000:.0f} ms upstream",
                f"{wall * 1000:.0f} ms wall, median of {rounds}",
                f"direct {direct_wall * 1000:.0f} ms; bare MCPServer {bare_wall * 1000:.0f} ms",
                wall / direct_wall,
                f"<= {RATIO_TARGET:.2f}x direct",
                wall / direct_wall <= RATIO_TARGET,
            )
        )
    return rows


async def _burst(call: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENT):
            group.start_soon(call)
