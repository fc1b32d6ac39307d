"""A tool registered only in tests: BigModel's alone, the way a platform's own tool (e.g. speech) is
declared, to check how the server lists and answers a tool of one platform and an opt-in one."""

from __future__ import annotations

from typing import Annotated

from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_server_glm.tools.spec import ToolSpec

SPEC = ToolSpec(
    name="registry_echo",
    title="Echo",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    purpose="registry_echo says a text back",
    summary="Say a text back.",
    platforms=("bigmodel",),
    settings=("asr_model",),
    argument_texts={"voice": "Default {asr_model} on {platform}."},
)


def registry_echo(
    text: Annotated[str, Field(description="What to say.")],
    voice: Annotated[str | None, Field(description="Voice.")] = None,
) -> str:
    """Say a text back."""
    return f"{text} ({voice or 'default voice'})"
