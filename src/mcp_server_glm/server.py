"""Builds the MCP server: its tools, and a lifespan that owns the GLM client for the server's lifetime.

`build_server(settings)` is the one factory; transports (stdio today) run what it returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import ValidationError

from . import __version__, schemas
from .glm import GLMClient
from .settings import Settings
from .state import AppState
from .tools import chat, search

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools of the GLM platform (Z.AI / BigModel). glm_chat asks a GLM model (second opinion, thinking, "
    "vision, JSON output, answers grounded in a web search); web_search returns current web results."
)


class GLMServer(MCPServer[AppState]):
    """MCPServer whose tool failures always read as one actionable line."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            log.error("Tool %r crashed", name, exc_info=exc.__cause__)
            raise ToolError(
                f"Error executing tool {name}: internal error in mcp-server-glm "
                f"({type(exc.__cause__).__name__}); the server log has the details."
            ) from exc.__cause__
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"Error executing tool {name}: {_describe(exc.__cause__)}") from exc.__cause__
            raise


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'arguments'}: {item['msg']}"
        for item in error.errors(include_url=False)
    ]
    return "invalid arguments: " + "; ".join(problems)


def _tool(fn: Callable[..., Any], *, title: str, annotations: ToolAnnotations) -> Tool:
    tool = Tool.from_function(fn, title=title, annotations=annotations)
    tool.parameters = schemas.compact(tool.parameters)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = schemas.compact(tool.fn_metadata.output_schema)
    return tool


def _lifespan(settings: Settings) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            glm = None
            if settings.api_key is not None:
                glm = await stack.enter_async_context(
                    GLMClient(
                        settings.api_key.get_secret_value(),
                        settings.api_base_url,
                        timeout=settings.timeout,
                        connect_timeout=settings.connect_timeout,
                        max_retries=settings.max_retries,
                        deadline=settings.deadline,
                        retry_backoff=settings.retry_backoff,
                        user_agent=f"mcp-server-glm/{__version__}",
                    )
                )
            else:
                log.warning("No GLM API key configured: tools will answer with how to set ZAI_API_KEY")
            yield AppState(settings=settings, glm=glm)

    return lifespan


def build_server(settings: Settings) -> GLMServer:
    tools = [
        _tool(chat.glm_chat, title=chat.TITLE, annotations=chat.ANNOTATIONS),
        _tool(search.web_search, title=search.TITLE, annotations=search.ANNOTATIONS),
    ]
    return GLMServer(
        name="mcp-server-glm",
        title="GLM",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=_lifespan(settings),
        tools=tools,
        log_level=settings.log_level,
    )
