"""What every tool shares: reaching the GLM client, turning adapter failures into tool errors,
and shaping a result that carries both readable text and structured content.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from ..glm import GLMClient, GLMError
from ..glm.errors import AuthenticationFailed
from ..settings import KEY_VARIABLES
from ..state import AppState

MISSING_KEY = (
    f"No GLM API key is configured: set {KEY_VARIABLES[0]} (or {KEY_VARIABLES[1]}) in the server's "
    "environment to a key from the Z.AI or BigModel console, then restart the server."
)


def app_state(ctx: Context[Any, Any]) -> AppState:
    return cast(AppState, ctx.request_context.lifespan_context)


def glm_client(ctx: Context[Any, Any]) -> GLMClient:
    """The server's GLM client, or a tool error saying how to configure the key."""
    client = app_state(ctx).glm
    if client is None:
        raise ToolError(MISSING_KEY)
    return client


@contextmanager
def upstream_errors() -> Iterator[None]:
    """Turn a GLM adapter failure into a one-line tool error the model can act on."""
    try:
        yield
    except GLMError as exc:
        message = str(exc)
        if isinstance(exc, AuthenticationFailed):
            message += " Settings to check: the key, GLM_PLATFORM (zai or bigmodel) and GLM_CODING_PLAN."
        raise ToolError(message) from exc


def result(text: str, structured: BaseModel) -> CallToolResult:
    """A tool result: `text` for people and models, the model's fields (unset ones left out) as data."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured.model_dump(mode="json", exclude_none=True),
    )
