"""OAuth sign-in end to end: the installed server on Streamable HTTP with GLM_AUTH_ISSUER set, a local
issuer made here; what crosses the wire (401/403/429 and their WWW-Authenticate, the metadata), each
user's own jobs and usage, and no token nor key in any answer or in the server's log."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceTemplateReference

from tests.conftest import CANARY_KEY, server_env, text_of
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.http import INITIALIZE, Running, connect, http_server
from tests.support.issuer import Issuer, running_issuer, unsigned
from tests.support.stdio import installed_server
from tests.tasks_client import TasksClient, cancel_task, get_task

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
TASK_TEMPLATE = ResourceTemplateReference(uri="glm://tasks/{task_id}")
MEDIA_TEMPLATE = ResourceTemplateReference(uri="glm://media/{name}")
JSON_SSE = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


def call(name: str, arguments: dict[str, Any], request_id: int = 7) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def post(running: Running, body: dict[str, Any], token: str | None = None) -> httpx2.Response:
    headers = {**JSON_SSE, **({"authorization": f"Bearer {token}"} if token else {})}
    return httpx2.post(f"{running.root}/mcp", headers=headers, content=json.dumps(body), timeout=30)


def audience(running: Running) -> str:
    return f"{running.root}/mcp"


async def test_tokens_are_checked_on_the_wire_and_the_metadata_is_published(
    fake: FakeGLM, issuer: Issuer, tmp_path: Path
) -> None:
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url)
    tokens: list[str] = []
    with http_server(env, "streamable-http", tmp_path) as running:
        metadata_url = f"{running.root}/.well-known/oauth-protected-resource/mcp"
        for url in (metadata_url, f"{running.root}/.well-known/oauth-protected-resource"):
            document = httpx2.get(url, timeout=10)
            assert document.status_code == 200
            assert document.json() == {
                "resource": audience(running),
                "authorization_servers": [issuer.url],
                "scopes_supported": ["glm:read", "glm:generate", "glm:admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "mcp-server-glm",
            }
        assert httpx2.get(f"{running.root}/healthz", timeout=10).status_code == 200  # for supervisors

        anonymous = post(running, INITIALIZE)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
        assert anonymous.json()["error"]["message"].startswith("Unauthorized: sign in with")

        now = int(time.time())
        bad = {
            "expired": issuer.mint(audience(running), exp=now - 3600),
            "not valid yet": issuer.mint(audience(running), nbf=now + 3600),
            "not for this server": issuer.mint("http://127.0.0.1:1/mcp"),
            "another issuer": issuer.mint(audience(running), iss="http://127.0.0.1:1"),
            "not among the issuer's keys": issuer.mint(audience(running), kid="rsa-9", key=issuer.stranger),
            "signature does not verify": issuer.mint(audience(running), key=issuer.stranger),
            "'none' are not accepted": unsigned(
                {"iss": issuer.url, "aud": audience(running), "sub": "eve", "exp": now + 60}
            ),
        }
        for reason, token in bad.items():
            tokens.append(token)
            refused = post(running, INITIALIZE, token)
            assert refused.status_code == 401, reason
            challenge = refused.headers["www-authenticate"]
            assert challenge.startswith('Bearer error="invalid_token", error_description="'), reason
            assert reason in challenge
            assert challenge.endswith(f'resource_metadata="{metadata_url}"')
            assert token not in refused.text

        reader = issuer.mint(audience(running), sub="reader", scope="glm:read")
        tokens.append(reader)
        assert post(running, INITIALIZE, reader).status_code == 200
        paid = post(running, call("generate_video", {"prompt": "a fox"}), reader)
        assert paid.status_code == 403
        assert paid.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", error_description="generate_video needs glm:generate", '
            f'scope="glm:generate", resource_metadata="{metadata_url}"'
        )
        assert paid.json()["id"] == 7
        assert "needs the scope glm:generate" in paid.json()["error"]["message"]
        assert fake.requests_to("videos/generations") == []  # refused before anything was sent

        async with connect(running, "streamable-http", "legacy", token=reader) as client:
            chat = await client.call_tool("glm_chat", {"prompt": "hello"})
            assert not chat.is_error
            for answer in (text_of(chat), json.dumps(chat.structured_content)):
                assert reader not in answer
                assert CANARY_KEY not in answer
    # The user's token never goes to the GLM API: every request there carries our key only.
    for request in fake.requests:
        assert request.headers.get("authorization") == f"Bearer {CANARY_KEY}"
        assert all(token not in json.dumps(request.json) for token in tokens if request.json is not None)
    log = running.stderr.read_text()
    assert all(token not in log for token in tokens)


async def test_each_user_sees_only_their_own_jobs_and_usage(
    fake: FakeGLM, issuer: Issuer, tmp_path: Path
) -> None:
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url, GLM_CONFIRM_VIDEOS="never")
    with http_server(env, "streamable-http", tmp_path) as running:
        alice = issuer.mint(audience(running), sub="alice")
        bob = issuer.mint(audience(running), sub="bob", kid="ec-1")
        admin = issuer.mint(audience(running), sub="root", scope="glm:read glm:admin")
        async with connect(running, "streamable-http", "legacy", token=alice) as client:
            made = await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
            assert not made.is_error, text_of(made)
            assert made.structured_content is not None
            task_id = made.structured_content["task_id"]
            mine = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 0})
            assert not mine.is_error, text_of(mine)
            usage = json.loads((await client.read_resource("glm://usage")).contents[0].text)  # type: ignore[union-attr]
            assert [row["tool"] for row in usage] == ["generate_video"]
            offered = await client.complete(TASK_TEMPLATE, {"name": "task_id", "value": ""})
            assert offered.completion.values == [task_id]
        polled = len(fake.requests)
        for mode in ("legacy", "auto"):
            async with connect(running, "streamable-http", mode, token=bob) as client:
                theirs = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 0})
                assert theirs.is_error
                assert text_of(theirs) == (
                    f"Error executing tool get_task: No task {task_id} of yours is recorded: check the "
                    "task_id (get_task without one lists your jobs)."
                )
                listed = await client.call_tool("get_task", {})
                assert task_id not in text_of(listed)
                with pytest.raises(MCPError):
                    await client.read_resource(f"glm://tasks/{task_id}")
                jobs = json.loads((await client.read_resource("glm://tasks")).contents[0].text)  # type: ignore[union-attr]
                assert jobs == []
                usage = json.loads((await client.read_resource("glm://usage")).contents[0].text)  # type: ignore[union-attr]
                assert usage == []
                offered = await client.complete(TASK_TEMPLATE, {"name": "task_id", "value": ""})
                assert offered.completion.values == []
        assert len(fake.requests) == polled  # another's id is never asked of the API either
        async with connect(running, "streamable-http", "legacy", token=admin) as client:
            everyone = json.loads((await client.read_resource("glm://usage")).contents[0].text)  # type: ignore[union-attr]
            assert [(row["tool"], row["user"]) for row in everyone] == [("generate_video", "alice")]


async def test_the_per_user_rate_limit_is_one_line(fake: FakeGLM, issuer: Issuer, tmp_path: Path) -> None:
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url, GLM_USER_RATE_LIMIT="2")
    with http_server(env, "streamable-http", tmp_path) as running:
        alice = issuer.mint(audience(running), sub="alice")
        bob = issuer.mint(audience(running), sub="bob")
        count = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "count_tokens", "arguments": {"text": "hi"}},
        }
        answers = [post(running, count, alice).status_code for _ in range(2)]
        assert 429 not in answers
        limited = post(running, count, alice)
        assert limited.status_code == 429
        assert limited.json()["error"]["message"].startswith(
            "Too many calls: at most 2 tool calls a minute per user (GLM_USER_RATE_LIMIT); retry in "
        )
        assert int(limited.headers["retry-after"]) >= 1
        assert post(running, count, bob).status_code != 429  # each user has their own budget


async def test_daily_caps_are_per_user(fake: FakeGLM, issuer: Issuer, tmp_path: Path) -> None:
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url, GLM_MAX_SEARCHES_PER_DAY="1")
    with http_server(env, "streamable-http", tmp_path) as running:
        alice = issuer.mint(audience(running), sub="alice")
        bob = issuer.mint(audience(running), sub="bob")
        async with connect(running, "streamable-http", "legacy", token=alice) as client:
            first = await client.call_tool("web_search", {"query": "glm"})
            assert not first.is_error, text_of(first)
            capped = await client.call_tool("web_search", {"query": "glm again"})
            assert capped.is_error
            assert text_of(capped).startswith(
                "You have used web_search's daily cap of 1 searches per "
                "user (GLM_MAX_SEARCHES_PER_DAY): 1 today; it resets at 00:00 UTC, in "
            )
        async with connect(running, "streamable-http", "legacy", token=bob) as client:
            theirs = await client.call_tool("web_search", {"query": "glm"})
            assert not theirs.is_error, text_of(theirs)  # alice's searches are not bob's
    assert len(fake.requests_to("web_search")) == 2


async def test_saved_media_is_its_owners_only(fake: FakeGLM, issuer: Issuer, tmp_path: Path) -> None:
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url, GLM_CONFIRM_VIDEOS="never")
    with http_server(env, "streamable-http", tmp_path) as running:
        alice = issuer.mint(audience(running), sub="alice")
        bob = issuer.mint(audience(running), sub="bob")
        async with connect(running, "streamable-http", "legacy", token=alice) as client:
            made = await client.call_tool("generate_image", {"prompt": "a red fox"})
            assert not made.is_error, text_of(made)
            assert made.structured_content is not None
            path = made.structured_content["path"]
            name = Path(path).name
            listed = [str(resource.uri) for resource in (await client.list_resources()).resources]
            assert f"glm://media/{name}" in listed
            assert (await client.read_resource(f"glm://media/{name}")).contents
            own = await client.call_tool(
                "generate_video", {"prompt": "it runs", "image": path, "wait_seconds": 0}
            )
            assert not own.is_error, text_of(own)  # one's own saved image goes on to the next tool
        submitted = len(fake.requests_to("videos/generations"))
        async with connect(running, "streamable-http", "legacy", token=bob) as client:
            listed = [str(resource.uri) for resource in (await client.list_resources()).resources]
            assert not any(uri.startswith("glm://media/") for uri in listed)
            with pytest.raises(MCPError):
                await client.read_resource(f"glm://media/{name}")
            offered = await client.complete(MEDIA_TEMPLATE, {"name": "name", "value": ""})
            assert offered.completion.values == []
            theirs = await client.call_tool(
                "generate_video", {"prompt": "it runs", "image": path, "wait_seconds": 0}
            )
            assert theirs.is_error
            assert "with sign-in, a local file must be one this server saved for you" in text_of(theirs)
            home = await client.call_tool(
                "generate_video", {"prompt": "x", "image": str(Path.home() / "a.png")}
            )
            assert home.is_error  # the server's home directory is no input with sign-in
        assert len(fake.requests_to("videos/generations")) == submitted


def test_static_token_and_issuer_together_refuse_to_start(tmp_path: Path) -> None:
    env = server_env(None, GLM_AUTH_ISSUER="https://id.example.com", GLM_MCP_AUTH_TOKEN="s3cret-static-token")
    done = subprocess.run(
        [installed_server(), "--transport", "streamable-http", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "GLM_AUTH_ISSUER and GLM_MCP_AUTH_TOKEN are both set" in done.stderr
    assert "s3cret-static-token" not in done.stderr


@asynccontextmanager
async def tasks_client(running: Running, token: str, ext: TasksClient) -> AsyncIterator[Client]:
    """A 2026-07-28 client with the tasks extension, signed in with `token`."""
    async with (
        httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30)) as http,
        Client(streamable_http_client(f"{running.root}/mcp", http_client=http), extensions=[ext]) as client,
    ):
        yield client


async def test_an_mcp_task_is_its_submitters_only(fake: FakeGLM, issuer: Issuer, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(seconds=120)
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url, GLM_CONFIRM_VIDEOS="never")
    with http_server(env, "streamable-http", tmp_path) as running:
        alice = issuer.mint(audience(running), sub="alice")
        bob = issuer.mint(audience(running), sub="bob")
        async with tasks_client(running, alice, TasksClient()) as client:
            handle = await client.session.call_tool("generate_video", {"prompt": "slow"}, allow_claimed=True)
            task_id = handle.task_id  # type: ignore[union-attr]
            assert (await get_task(client.session, task_id)).status == "working"
        async with tasks_client(running, bob, TasksClient()) as client:
            for ask in (get_task, cancel_task):
                with pytest.raises(MCPError) as unknown:
                    await ask(client.session, task_id)
                assert unknown.value.error.code == -32602
                assert "Unknown task id" in unknown.value.error.message
        async with tasks_client(running, alice, TasksClient()) as client:
            assert (await get_task(client.session, task_id)).status == "working"  # bob cancelled nothing


async def test_sse_is_signed_in_too_and_a_session_is_its_openers(
    fake: FakeGLM, issuer: Issuer, tmp_path: Path
) -> None:
    env = server_env(fake, GLM_AUTH_ISSUER=issuer.url, GLM_USER_RATE_LIMIT="3")
    with http_server(env, "sse", tmp_path) as running:
        resource = f"{running.root}/sse"
        metadata_url = f"{running.root}/.well-known/oauth-protected-resource/sse"
        assert httpx2.get(metadata_url, timeout=10).json()["resource"] == resource
        anonymous = httpx2.get(resource, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
        reader = issuer.mint(resource, scope="glm:read")
        async with connect(running, "sse", "legacy", token=reader) as client:
            assert not (await client.call_tool("glm_chat", {"prompt": "hi"})).is_error
            # Over SSE a POST's status never reaches the call: the call boundary refuses, in one line.
            paid = await client.call_tool("generate_video", {"prompt": "a fox"})
            assert paid.is_error
            assert text_of(paid) == "generate_video needs the scope glm:generate: sign in again asking for it"
            for _ in range(2):
                assert not (await client.call_tool("glm_chat", {"prompt": "hi"})).is_error
            limited = await client.call_tool("glm_chat", {"prompt": "hi"})
            assert limited.is_error
            assert "at most 3 tool calls a minute per user (GLM_USER_RATE_LIMIT); retry in" in text_of(
                limited
            )
    assert fake.requests_to("videos/generations") == []
    with http_server(server_env(fake, GLM_AUTH_ISSUER=issuer.url), "streamable-http", tmp_path) as running:
        alice = issuer.mint(audience(running), sub="alice")
        bob = issuer.mint(audience(running), sub="bob")
        opened = post(running, INITIALIZE, alice)
        session = opened.headers["mcp-session-id"]
        headers = {**JSON_SSE, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        for token, status in ((bob, 404), (alice, 200)):
            answer = httpx2.post(
                f"{running.root}/mcp",
                headers={**headers, "authorization": f"Bearer {token}"},
                content=json.dumps(listing),
                timeout=30,
            )
            assert answer.status_code == status
