"""The few answers the HTTP layer writes itself, before or instead of the SDK: a JSON document, or a
JSON-RPC error, sent straight through ASGI by the guards, the body limit and the sign-in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.types import Send

Headers = Sequence[tuple[bytes, bytes]]


async def send_json(send: Send, status: int, document: Any, headers: Headers = ()) -> None:
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def json_rpc_error(
    send: Send, status: int, code: int, message: str, headers: Headers = (), request_id: Any = None
) -> None:
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    await send_json(send, status, error, headers)
