"""Tool-call overhead: `glm_chat` through MCP against (a) the bare server whose tool makes the same POST
and (b) that POST made directly with httpx2, all to one fake API, over stdio and Streamable HTTP.

Calls go one at a time, in rounds that take turns between the variants, so drift hits them all alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial

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
    interleaved,
    median,
    ms,
    p99,
    server_command,
    server_env,
    stdio_session,
    tool_chat,
)

CALLS = 500
ROUNDS = 10
WARMUP = 20
RATIO_TARGET = 1.15

Call = Callable[[], Awaitable[None]]


def run(quick: bool) -> list[Row]:
    return anyio.run(measure, 100 if quick else CALLS)


async def measure(calls: int) -> list[Row]:
    with fake_api() as base_url, data_dirs() as root:
        env = server_env(base_url, root)
        ours_port, bare_port = free_port(), free_port()
        ours_http = [*server_command(), "--transport", "streamable-http", "--port", str(ours_port)]
        with (
            http_process(ours_http, env, ours_port),
            http_process(bare_command("streamable-http", str(bare_port)), env, bare_port),
        ):
            async with AsyncExitStack() as stack:
                direct = await stack.enter_async_context(httpx2.AsyncClient(timeout=60))
                variants: dict[str, Call] = {"direct POST": partial(direct_chat, direct, base_url)}
                for transport, ours_session, bare_session in (
                    ("stdio", stdio_session(server_command(), env), stdio_session(bare_command(), env)),
                    ("http", http_session(ours_port), http_session(bare_port)),
                ):
                    ours_client = await stack.enter_async_context(ours_session)
                    bare_client = await stack.enter_async_context(bare_session)
                    variants[f"ours {transport}"] = partial(tool_chat, ours_client, "glm_chat")
                    variants[f"bare {transport}"] = partial(tool_chat, bare_client, "ask")
                timings = await interleaved(variants, calls, rounds=ROUNDS, warmup=WARMUP)
    direct_times = timings["direct POST"]
    rows: list[Row] = []
    for transport, label in (("stdio", "stdio"), ("http", "Streamable HTTP")):
        ours, bare = timings[f"ours {transport}"], timings[f"bare {transport}"]
        ratio = median(ours) / median(bare)
        rows += [
            Row(
                f"glm_chat call, {label}, {len(ours)} calls",
                f"{ms(median(ours))} median, {ms(p99(ours))} p99",
                f"bare {ms(median(bare))} median, {ms(p99(bare))} p99",
                ratio,
                f"<= {RATIO_TARGET:.2f}x bare",
                ratio <= RATIO_TARGET,
            ),
            Row(
                f"  overhead over the direct POST, {label}",
                f"+{ms(median(ours) - median(direct_times))} median, "
                f"+{ms(p99(ours) - p99(direct_times))} p99",
                f"direct {ms(median(direct_times))} median, {ms(p99(direct_times))} p99",
                median(ours) / median(direct_times),
                "reported",
                None,
            ),
        ]
    return rows
