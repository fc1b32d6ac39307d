"""Replicas: `web_search` calls per second through nginx (the shipped deploy/nginx.conf) to two replicas,
against the same through nginx to one replica, and against one replica reached directly; the fake API
answers each search after 50 ms.

A call is the one POST a 2026-07-28 client sends for tools/call (sessionless, so nginx may send each to
either replica), made with httpx2 rather than an MCP client so that the measuring process is not what
limits the rate. Each burst is CLIENTS clients making CALLS calls each, one after another; the bursts
take turns, and each figure is the median of the rounds. The replicas share one SQLite store.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from functools import partial
from pathlib import Path

import anyio
import httpx2

from tests.support.nginx import nginx_binary, running_nginx

from .common import (
    Row,
    data_dirs,
    fake_api,
    free_port,
    http_process,
    median,
    server_command,
    server_env,
)

CLIENTS = 32
CALLS = 20
LATENCY = 0.05
ROUNDS = 5
SHIPPED = ("127.0.0.1:8101", "127.0.0.1:8102")  # the replicas' addresses in deploy/nginx.conf

# tools/call as a 2026-07-28 client sends it: the envelope in _meta, the routing headers.
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "web_search", "arguments": {"query": "replicas"}, "_meta": ENVELOPE},
}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "web_search",
}

Burst = Callable[[], Awaitable[None]]


def run(quick: bool) -> list[Row]:
    if nginx_binary() is None:
        return [
            Row(
                "replicas behind nginx",
                "skipped: nginx not found",
                "apt-get install -y nginx",
                None,
                "",
                None,
            )
        ]
    return anyio.run(measure, 2 if quick else ROUNDS, 5 if quick else CALLS)


async def measure(rounds: int, calls: int) -> list[Row]:
    with fake_api("--latency", str(LATENCY)) as base_url, data_dirs() as root, ExitStack() as stack:
        env = server_env(base_url, root)
        ports = [free_port(), free_port()]
        pids = []
        for name, port in zip(("r1", "r2"), ports, strict=True):
            command = [*server_command(), "--transport", "streamable-http", "--port", str(port)]
            pids.append(stack.enter_context(http_process([*command, "--replica-id", name], env, port)).pid)
        one, two = (Path(tempfile.mkdtemp(dir=root, prefix=f"nginx-{n}-")) for n in ("one", "two"))
        # One replica: both of the site's replica addresses lead to r1.
        to_one = {f"server {shipped};": f"server 127.0.0.1:{ports[0]};" for shipped in SHIPPED}
        to_two = {
            f"server {shipped};": f"server 127.0.0.1:{port};"
            for shipped, port in zip(SHIPPED, ports, strict=True)
        }
        front_one = stack.enter_context(running_nginx(one, to_one))
        front_two = stack.enter_context(running_nginx(two, to_two))
        async with AsyncExitStack() as clients:
            targets = {
                "direct": ports[0],
                "nginx, 1 replica": front_one.port,
                "nginx, 2 replicas": front_two.port,
            }
            bursts: dict[str, Burst] = {}
            for label, port in targets.items():
                limits = httpx2.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
                http = await clients.enter_async_context(httpx2.AsyncClient(timeout=60, limits=limits))
                bursts[label] = partial(_burst, http, f"http://127.0.0.1:{port}/mcp", calls)
            for burst in bursts.values():  # warm-up: connections, first-call imports
                await burst()
            rates: dict[str, list[float]] = {label: [] for label in bursts}
            costs: dict[str, list[float]] = {label: [] for label in bursts}  # replicas' CPU s per call
            logged = len(front_two.logged())
            for round_number in range(rounds):
                names = list(bursts)
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    cpu, started = _cpu(pids), time.perf_counter()
                    await bursts[name]()
                    rates[name].append(CLIENTS * calls / (time.perf_counter() - started))
                    costs[name].append((_cpu(pids) - cpu) / (CLIENTS * calls))
            spread = Counter(line.upstream for line in front_two.logged()[logged:] if line.path == "/mcp")
    direct, one_rate, two_rate = (median(rates[label]) for label in targets)
    one_cost, two_cost = (median(costs[label]) for label in ("nginx, 1 replica", "nginx, 2 replicas"))
    shares = " / ".join(
        f"{name} {100 * spread[f'127.0.0.1:{port}'] / max(1, sum(spread.values())):.0f}%"
        for name, port in zip(("r1", "r2"), ports, strict=True)
    )
    what = f"web_search calls/s, {CLIENTS} clients, {LATENCY * 1000:.0f} ms upstream"
    return [
        Row(
            f"{what}, nginx to 2 replicas",
            f"{two_rate:.0f} calls/s, median of {rounds} ({shares} of calls)",
            f"nginx to 1 replica {one_rate:.0f} calls/s",
            two_rate / one_rate,
            "reported",
            None,
        ),
        Row(
            f"{what}, nginx to 1 replica",
            f"{one_rate:.0f} calls/s, median of {rounds}",
            f"1 replica direct {direct:.0f} calls/s",
            one_rate / direct,
            "reported",
            None,
        ),
        Row(
            "  replicas' CPU per call, nginx to 2 replicas",
            f"{two_cost * 1000:.2f} ms, median of {rounds}",
            f"nginx to 1 replica {one_cost * 1000:.2f} ms",
            two_cost / one_cost if one_cost else None,
            "reported",
            None,
        ),
    ]


def _cpu(pids: list[int]) -> float:
    """CPU seconds the processes have used so far (Linux's /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _burst(http: httpx2.AsyncClient, url: str, calls: int) -> None:
    async def client() -> None:
        for _ in range(calls):
            answer = await http.post(url, json=CALL, headers=HEADERS)
            result = answer.json().get("result") if answer.status_code == 200 else None
            if result is None or result.get("isError"):
                raise RuntimeError(f"web_search failed: {answer.status_code} {answer.text[:200]}")

    async with anyio.create_task_group() as group:
        for _ in range(CLIENTS):
            group.start_soon(client)
