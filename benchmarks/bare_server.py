"""The baseline every benchmark compares against: a bare one-tool MCPServer and nothing else.

Its tool `ask` makes the same streamed chat completion POST as glm_chat (one pooled httpx2 client,
ZAI_BASE_URL and ZAI_API_KEY from the environment) and returns the answer's text.
Run: `python benchmarks/bare_server.py` (stdio) or `python benchmarks/bare_server.py streamable-http PORT`.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import httpx2
from mcp.server.mcpserver import MCPServer


async def ask_glm(client: httpx2.AsyncClient, base_url: str, key: str, prompt: str) -> str:
    """One streamed chat completion, read to the end of the body so the connection goes back to the pool."""
    body = {
        "model": "glm-4.7",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "request_id": uuid.uuid4().hex,
    }
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    parts: list[str] = []
    async with client.stream("POST", f"{base_url}/chat/completions", json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            data = line.removeprefix("data:").strip()
            if not line.startswith("data:") or data == "[DONE]":
                continue
            for choice in json.loads(data).get("choices", ()):
                parts.append(choice.get("delta", {}).get("content") or "")
    return "".join(parts)


def main() -> None:
    server = MCPServer("bare")
    base_url, key = os.environ["ZAI_BASE_URL"].rstrip("/"), os.environ["ZAI_API_KEY"]
    clients: list[httpx2.AsyncClient] = []

    @server.tool()
    async def ask(prompt: str) -> str:
        """Ask the model."""
        if not clients:
            clients.append(httpx2.AsyncClient(timeout=60))
        return await ask_glm(clients[0], base_url, key, prompt)

    if len(sys.argv) > 2:
        server.run(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]))  # type: ignore[call-overload]
    else:
        server.run()


if __name__ == "__main__":
    main()
