"""Over SSE every connection is a session of its own, and the SDK enters the server's lifespan once per
connection: one client leaving must not close what the others are using (the GLM client, the store,
the usage writer). The installed server, two real SSE clients."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp.types import TextResourceContents

from tests.conftest import server_env, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.support.http import connect, http_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_one_sse_client_leaving_does_not_break_another_ones_call(fake: FakeGLM, tmp_path: Path) -> None:
    fake.script("chat/completions", Fault(delay=2.0))  # the second client's call is under way meanwhile
    with http_server(server_env(fake), "sse", tmp_path) as running:
        async with connect(running, "sse", "legacy") as staying:
            results = []
            async with anyio.create_task_group() as group:

                async def slow_call() -> None:
                    results.append(await staying.call_tool("glm_chat", {"prompt": "a slow answer"}))

                group.start_soon(slow_call)
                with anyio.fail_after(20):
                    while not fake.requests_to("chat/completions"):  # noqa: ASYNC110 - another thread
                        await anyio.sleep(0.02)
                async with connect(running, "sse", "legacy") as leaving:
                    assert not (await leaving.call_tool("web_search", {"query": "q"})).is_error
                # `leaving` is gone while the slow call still waits for its answer.
            [answer] = results
            assert not answer.is_error, text_of(answer)
            [contents] = (await staying.read_resource("glm://usage")).contents
            assert isinstance(contents, TextResourceContents)
            tools = {row["tool"] for row in json.loads(contents.text)}
    assert tools == {"glm_chat", "web_search"}
