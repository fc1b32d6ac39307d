"""Shortcuts several test modules share: one `glm_chat` call through an in-process client, the chat body
the fake received, the fake's address, and a plain chat request for the client's own tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mcp.types import CallToolResult

from mcp_server_glm.glm.models import ChatRequest
from tests.conftest import in_process
from tests.fake_glm import FakeGLM

HELLO = ChatRequest(model="glm-4.7", messages=[{"role": "user", "content": "hello there"}])


async def chat(fake: FakeGLM, arguments: dict[str, Any], **settings: Any) -> CallToolResult:
    async with in_process(fake, **settings) as client:
        return await client.call_tool("glm_chat", arguments)


def sent(fake: FakeGLM) -> dict[str, Any]:
    [request] = fake.requests_to("chat/completions")
    body: dict[str, Any] = request.json
    return body


def fake_address(fake: FakeGLM) -> tuple[str, int]:
    parts = urlsplit(fake.root_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port
