"""Session affinity for replicas behind a proxy: Streamable HTTP session ids carry the replica's name.

The SDK keeps a 2025-11-25 session's streams in the memory of the process that opened it, so every
request of that session must reach that replica. A session's first request carries no id, so a proxy
cannot hash on it; instead, with GLM_REPLICA_ID set, `SessionAffinity` sends every `Mcp-Session-Id` the
SDK issues as `<replica>.<id>`, and a proxy routes on the prefix (deploy/nginx.conf's map). Incoming ids
lose the prefix before the SDK reads them; an id with another replica's prefix, or with none, is
answered exactly as the SDK answers an unknown session (404): its client starts a new session.
2026-07-28 requests carry no session id and pass untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_HEADER = b"mcp-session-id"
# What an id that is not this replica's becomes before the SDK sees it: the SDK's ids are hex, so one
# starting with a dot is none of them, and the SDK answers it as it answers any unknown session.
NOT_OURS = b"."


class SessionAffinity:
    """ASGI middleware before the SDK's Streamable HTTP app: `<replica>.` before every session id it
    sends, taken off every session id it is sent."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.prefix = replica.encode("ascii") + b"."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [
            (name, self.incoming(value) if name.lower() == SESSION_HEADER else value)
            for name, value in scope["headers"]
        ]

        async def prefixed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        (name, self.prefix + value if name.lower() == SESSION_HEADER else value)
                        for name, value in message.get("headers", [])
                    ],
                }
            await send(message)

        await self.app({**scope, "headers": headers}, receive, prefixed)

    def incoming(self, value: bytes) -> bytes:
        """The id the SDK issued, from the one a client sent; a foreign or bare one made unknown."""
        if value.startswith(self.prefix):
            return value[len(self.prefix) :]
        return NOT_OURS + value
