"""Cold start and context cost: spawn -> `tools/list` answered over stdio, ours against the bare server,
runs alternating so both see the same machine; spawn -> the first chat answered (`glm_chat`, or the bare
server's `ask`), which adds what a tool's first call loads; then the size of our `tools/list` answer.

Wall time on a shared machine swings by a third from run to run, so the CPU time the process used until
its answer is reported beside it: it measures the same work with less noise.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.stdio import RawSession

from .common import Row, bare_command, data_dirs, fake_api, median, server_command, server_env, succeeded

RUNS = 20
RATIO_TARGET = 1.10
RSS_TARGET_MIB = 75.0
TOOLS_LIST_TARGET = 14336  # the default tools of either platform within 14 KiB: descriptions for a model
FULL_LIST_TARGET = 18432  # every tool, the opt-in ones included (GLM_TOOLS naming them all)


@dataclass(frozen=True)
class Start:
    seconds: float  # wall time from spawning to the `tools/list` answer
    cpu: float  # CPU seconds the process used by then
    peak_mib: float  # peak RSS by then
    answer: str  # the `tools/list` result as compact JSON


def spawn_to_tools_list(command: list[str], env: dict[str, str]) -> Start:
    started = time.perf_counter()
    session = RawSession(env, command=command)  # spawns, then initialize
    try:
        tools = session.request("tools/list", {})
        elapsed = time.perf_counter() - started
        answer = json.dumps(tools, separators=(",", ":"), ensure_ascii=False)
        return Start(elapsed, cpu_seconds(session.process.pid), session.peak_rss_mib(), answer)
    finally:
        session.kill()


def spawn_to_first_answer(command: list[str], env: dict[str, str], tool: str) -> float:
    """Wall time from spawning to the first chat's answer, as a client starting a session sees it."""
    started = time.perf_counter()
    session = RawSession(env, command=command)
    try:
        session.request("tools/list", {})
        succeeded(session.call(tool, {"prompt": "Say hi."}), tool)
        return time.perf_counter() - started
    finally:
        session.kill()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run(quick: bool) -> list[Row]:
    runs = 5 if quick else RUNS
    starts: dict[str, list[Start]] = {"ours": [], "bare": []}
    with data_dirs() as root:
        # A configured key and an API nobody listens on: start-up must not touch the network.
        env = server_env("http://127.0.0.1:9/api/paas/v4", root)
        commands = {"ours": server_command(), "bare": bare_command()}
        for command in commands.values():  # warm the page cache and .pyc files for both
            spawn_to_tools_list(command, env)
        for index in range(runs):
            for name in ("ours", "bare") if index % 2 else ("bare", "ours"):
                starts[name].append(spawn_to_tools_list(commands[name], env))
    firsts = _first_answers(runs)
    ours, bare = starts["ours"], starts["bare"]
    wall = [median([start.seconds for start in group]) for group in (ours, bare)]
    cpu = [median([start.cpu for start in group]) for group in (ours, bare)]
    peak = [max(start.peak_mib for start in group) for group in (ours, bare)]
    sizes = _list_sizes(env)
    return [
        Row(
            "cold start (spawn -> tools/list, stdio)",
            f"{wall[0] * 1000:.0f} ms median of {runs}",
            f"{wall[1] * 1000:.0f} ms bare MCPServer",
            wall[0] / wall[1],
            f"<= {RATIO_TARGET:.2f}x",
            wall[0] / wall[1] <= RATIO_TARGET,
        ),
        Row(
            "  CPU time by then",
            f"{cpu[0] * 1000:.0f} ms median",
            f"{cpu[1] * 1000:.0f} ms bare",
            cpu[0] / cpu[1],
            "reported",
            None,
        ),
        Row(
            "first chat answered (spawn -> tools/list -> call)",
            f"{firsts[0] * 1000:.0f} ms median of {runs}",
            f"{firsts[1] * 1000:.0f} ms bare MCPServer",
            firsts[0] / firsts[1],
            "reported",
            None,
        ),
        Row(
            "peak RSS at tools/list",
            f"{peak[0]:.1f} MiB (max of {runs})",
            f"{peak[1]:.1f} MiB bare",
            peak[0] / peak[1],
            f"<= {RSS_TARGET_MIB:.0f} MiB",
            peak[0] <= RSS_TARGET_MIB,
        ),
        *(
            Row(
                f"tools/list size, {what} ({count} tools, compact JSON)",
                f"{size:,} B",
                "",
                None,
                f"<= {target:,} B",
                size <= target,
            )
            for what, (count, size, target) in sizes.items()
        ),
    ]


def _list_sizes(env: dict[str, str]) -> dict[str, tuple[int, int, int]]:
    """The `tools/list` answer's tool count and bytes: the default tools on each platform, and every
    tool (opt-in ones included) on each, with the target each is held to."""
    from mcp_server_glm.tools import listing

    every = ",".join(listing.load())
    cases = {
        "default tools, Z.AI": ({"GLM_PLATFORM": "zai"}, TOOLS_LIST_TARGET),
        "default tools, BigModel": ({"GLM_PLATFORM": "bigmodel"}, TOOLS_LIST_TARGET),
        "every tool, Z.AI": ({"GLM_PLATFORM": "zai", "GLM_TOOLS": every}, FULL_LIST_TARGET),
        "every tool, BigModel": ({"GLM_PLATFORM": "bigmodel", "GLM_TOOLS": every}, FULL_LIST_TARGET),
    }
    sizes = {}
    for what, (extra, target) in cases.items():
        answer = spawn_to_tools_list(server_command(), {**env, **extra}).answer
        sizes[what] = (len(json.loads(answer)["tools"]), len(answer.encode()), target)
    return sizes


def _first_answers(runs: int) -> tuple[float, float]:
    """Median spawn -> first chat answer of ours and of the bare server, runs alternating."""
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    with fake_api() as base_url, data_dirs() as root:
        env = server_env(base_url, root)
        calls = {"ours": (server_command(), "glm_chat"), "bare": (bare_command(), "ask")}
        for index in range(runs):
            for name in ("ours", "bare") if index % 2 else ("bare", "ours"):
                command, tool = calls[name]
                times[name].append(spawn_to_first_answer(command, env, tool))
    return median(times["ours"]), median(times["bare"])
