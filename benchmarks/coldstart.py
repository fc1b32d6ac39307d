"""Cold start and context cost: spawn -> `tools/list` answered over stdio, ours against the bare server,
runs alternating so both see the same machine; then the size of our `tools/list` answer.
"""

from __future__ import annotations

import json
import time

from .common import RawStdio, Row, bare_command, data_dirs, median, rss_mib, server_command, server_env

RUNS = 15
RATIO_TARGET = 1.10
RSS_TARGET_MIB = 75.0
TOOLS_LIST_TARGET = 9 * 1024


def spawn_to_tools_list(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds from spawning to the `tools/list` answer, peak RSS in MiB by then, and that answer's line."""
    started = time.perf_counter()
    session = RawStdio(command, env)
    try:
        session.initialize()
        session.request("tools/list", {})
        elapsed = time.perf_counter() - started
        return elapsed, rss_mib(session.process.pid), session.last_line
    finally:
        session.close()


def run(quick: bool) -> list[Row]:
    runs = 5 if quick else RUNS
    ours_times: list[float] = []
    bare_times: list[float] = []
    ours_rss: list[float] = []
    bare_rss: list[float] = []
    with data_dirs() as root:
        # A configured key and an API nobody listens on: start-up must not touch the network.
        env = server_env("http://127.0.0.1:9/api/paas/v4", root)
        spawn_to_tools_list(server_command(), env)  # warm the page cache and .pyc files for both
        spawn_to_tools_list(bare_command(), env)
        line = ""
        for index in range(runs):
            order = [("ours", server_command()), ("bare", bare_command())]
            for name, command in order if index % 2 else reversed(order):
                seconds, peak, answer = spawn_to_tools_list(command, env)
                if name == "ours":
                    ours_times.append(seconds)
                    ours_rss.append(peak)
                    line = answer
                else:
                    bare_times.append(seconds)
                    bare_rss.append(peak)
    ours, bare = median(ours_times), median(bare_times)
    peak = max(ours_rss)
    tools = json.loads(line)["result"]
    size = len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False).encode())
    return [
        Row(
            "cold start (spawn -> tools/list, stdio)",
            f"{ours * 1000:.0f} ms median of {runs}",
            f"{bare * 1000:.0f} ms bare MCPServer",
            ours / bare,
            f"<= {RATIO_TARGET:.2f}x",
            ours / bare <= RATIO_TARGET,
        ),
        Row(
            "peak RSS at tools/list",
            f"{peak:.1f} MiB (max of {runs})",
            f"{max(bare_rss):.1f} MiB bare",
            peak / max(bare_rss),
            f"<= {RSS_TARGET_MIB:.0f} MiB",
            peak <= RSS_TARGET_MIB,
        ),
        Row(
            f"tools/list size ({len(tools['tools'])} tools, compact JSON)",
            f"{size:,} B",
            "",
            None,
            f"<= {TOOLS_LIST_TARGET:,} B",
            size <= TOOLS_LIST_TARGET,
        ),
    ]
