"""The capabilities the server advertises follow what it registers: prompts only once there is one,
resource subscriptions on both eras."""

from __future__ import annotations

from pydantic import SecretStr

from mcp_server_glm.server import GLMServer, build_server
from mcp_server_glm.settings import Settings


def test_prompts_are_advertised_once_one_is_registered() -> None:
    server = GLMServer(name="capabilities")
    # The object initialize and server/discover read (the SDK keeps it on its low-level server).
    lowlevel = server._lowlevel_server
    assert lowlevel.get_capabilities().prompts is None
    assert lowlevel.create_initialization_options().capabilities.prompts is None

    @server.prompt()
    def review() -> str:
        return "Review this."

    assert lowlevel.get_capabilities(protocol_version="2026-07-28").prompts is not None
    server.remove_prompt("review")
    assert lowlevel.get_capabilities().prompts is None


def test_resource_subscriptions_are_advertised_on_both_eras() -> None:
    # 2025-11-25: resources/subscribe is served; 2026-07-28: subscriptions/listen is, and the resource
    # list's changes (new media) ride it. Both are served over stdio, Streamable HTTP and SSE
    # (tests/test_subscriptions_transports.py), so every transport advertises the same.
    lowlevel = build_server(Settings(api_key=SecretStr("x")))._lowlevel_server
    legacy = lowlevel.get_capabilities(protocol_version="2025-11-25").resources
    assert legacy is not None and legacy.subscribe is True
    assert not legacy.list_changed  # no list_changed is sent on that era
    modern = lowlevel.get_capabilities(protocol_version="2026-07-28").resources
    assert modern is not None and modern.subscribe is True and modern.list_changed is True
