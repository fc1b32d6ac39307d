"""The capabilities the server advertises follow what it registers: prompts only once there is one."""

from __future__ import annotations

from mcp_server_glm.server import GLMServer


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
