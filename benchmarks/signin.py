"""Sign-in's cost per call: `glm_chat` over Streamable HTTP to a server checking OAuth access tokens (JWTs
of a local issuer, RS256 and ES256) against the same server with one static bearer token (the baseline).

Both servers run at once against one fake API; calls take turns between the variants in rounds, so drift
hits them alike. The verification alone (signature, claims, cached keys) is timed in process as well.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.issuer import Issuer, running_issuer

from .common import (
    Row,
    data_dirs,
    fake_api,
    free_port,
    http_process,
    interleaved,
    median,
    ms,
    p99,
    server_command,
    server_env,
)

CALLS = 400
ROUNDS = 8
WARMUP = 20
VERIFICATIONS = 2000
STATIC_TOKEN = "benchmark-static-token-0123456789abcdef"

Call = Callable[[], Awaitable[None]]


def run(quick: bool) -> list[Row]:
    return anyio.run(measure, 80 if quick else CALLS, 200 if quick else VERIFICATIONS)


async def measure(calls: int, verifications: int) -> list[Row]:
    with fake_api() as base_url, data_dirs() as root, running_issuer() as issuer:
        static_port, signed_port = free_port(), free_port()
        static_env = server_env(base_url, root, GLM_MCP_AUTH_TOKEN=STATIC_TOKEN)
        signed_url = f"http://127.0.0.1:{signed_port}"
        signed_env = server_env(base_url, root, GLM_AUTH_ISSUER=issuer.url, GLM_PUBLIC_URL=signed_url)
        http = ["--transport", "streamable-http", "--port"]
        with (
            http_process([*server_command(), *http, str(static_port)], static_env, static_port),
            http_process([*server_command(), *http, str(signed_port)], signed_env, signed_port),
        ):
            rsa = issuer.mint(f"{signed_url}/mcp", exp=int(time.time()) + 3600)
            ec = issuer.mint(f"{signed_url}/mcp", kid="ec-1", exp=int(time.time()) + 3600)
            async with AsyncExitStack() as stack:
                variants: dict[str, Call] = {}
                for name, port, token in (
                    ("static", static_port, STATIC_TOKEN),
                    ("RS256", signed_port, rsa),
                    ("ES256", signed_port, ec),
                ):
                    client = await stack.enter_async_context(_session(port, token))
                    variants[name] = partial(_chat, client)
                timings = await interleaved(variants, calls, rounds=ROUNDS, warmup=WARMUP)
        alone = await _verify_alone(issuer, verifications)
    static = timings["static"]
    rows = []
    for name in ("RS256", "ES256"):
        signed = timings[name]
        rows.append(
            Row(
                f"glm_chat over Streamable HTTP, sign-in {name}, {len(signed)} calls",
                f"{ms(median(signed))} median, {ms(p99(signed))} p99",
                f"static token {ms(median(static))} median, {ms(p99(static))} p99",
                median(signed) / median(static),
                "reported",
                None,
            )
        )
        rows.append(
            Row(
                f"  added by sign-in {name} per call",
                _signed_ms(median(signed) - median(static)) + " median",
                f"verification alone {ms(alone[name])} median",
                None,
                "reported",
                None,
            )
        )
    return rows


def _signed_ms(seconds: float) -> str:
    return ("+" if seconds >= 0 else "-") + ms(abs(seconds))


@asynccontextmanager
async def _session(port: int, token: str) -> AsyncIterator[Client]:
    headers = {"authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300), headers=headers) as http,
        Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
    ):
        yield client


async def _chat(client: Client) -> None:
    result = await client.call_tool("glm_chat", {"prompt": "Say hi."})
    if result.is_error:
        raise RuntimeError(f"glm_chat failed: {result.content}")


async def _verify_alone(issuer: Issuer, count: int) -> dict[str, float]:
    """The median time of one token's verification in this process, its keys already cached."""
    from mcp_server_glm.auth import Policy, Verifier

    resource = "http://127.0.0.1:1/mcp"
    policy = Policy(
        issuer=issuer.url,
        resource=resource,
        audiences=[resource],
        jwks_url=None,
        read_scope="glm:read",
        generate_scope="glm:generate",
        admin_scope="glm:admin",
        rate_limit=None,
    )
    verifier = Verifier(policy)
    medians: dict[str, float] = {}
    for name, kid in (("RS256", "rsa-1"), ("ES256", "ec-1")):
        token = issuer.mint(resource, kid=kid, exp=int(time.time()) + 3600)
        await verifier.verify(token)  # fetches the keys once
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await verifier.verify(token)
            times.append(time.perf_counter() - started)
        medians[name] = median(times)
    return medians
