"""Builds the MCP server: its tools, and a lifespan that owns the GLM client for the server's lifetime.

`build_server(settings)` is the one factory; transports (stdio today) run what it returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import unquote

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import AnyUrl, ValidationError

from . import __version__, resources, schemas
from .files import Files, MediaKind
from .glm import GLMClient
from .settings import MB, ConfigError, Settings
from .state import AppState, LazyStore
from .tools import audio, chat, images, search, tasks, videos

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools of the GLM platform (Z.AI / BigModel). glm_chat asks a GLM model (second opinion, thinking, "
    "vision, JSON output, answers grounded in a web search); web_search returns current web results; "
    "generate_image and generate_video create media (saved to files); a video takes minutes: when "
    "generate_video returns a task id still processing, call get_task with it later; transcribe turns "
    "WAV/MP3 speech into text."
)
# Input size limits per kind, as the API states them (images inline in chat and video requests).
INPUT_LIMITS: dict[MediaKind, int] = {"image": 5 * MB, "video": 200 * MB}


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

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[AppState, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        # Saved media is served with each file's own MIME type, which a resource template cannot vary.
        text = str(uri)
        if text.startswith(resources.MEDIA_PREFIX) and context is not None:
            name = unquote(text.removeprefix(resources.MEDIA_PREFIX))
            state: AppState = context.request_context.lifespan_context
            data, mime_type = await resources.read_media(state.settings, state.store, name)
            return [ReadResourceContents(content=data, mime_type=mime_type)]
        return await super().read_resource(uri, context)


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


def _lifespan(
    settings: Settings, store: LazyStore
) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
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
            files = await stack.enter_async_context(
                Files(
                    allowed_dirs=settings.input_dirs,
                    output_dir=settings.media_dir,
                    input_limits={**INPUT_LIMITS, "audio": settings.max_audio_mb * MB},
                    max_download_bytes=settings.max_download_mb * MB,
                    connect_timeout=settings.connect_timeout,
                    read_timeout=settings.timeout,
                )
            )
            stack.push_async_callback(store.close)
            yield AppState(settings=settings, glm=glm, files=files, store=store)

    return lifespan


# Every tool the server has: name -> (function, title, annotations).
TOOLS: dict[str, tuple[Callable[..., Any], str, ToolAnnotations]] = {
    "glm_chat": (chat.glm_chat, chat.TITLE, chat.ANNOTATIONS),
    "web_search": (search.web_search, search.TITLE, search.ANNOTATIONS),
    "generate_image": (images.generate_image, images.TITLE, images.ANNOTATIONS),
    "generate_video": (videos.generate_video, videos.TITLE, videos.ANNOTATIONS),
    "get_task": (tasks.get_task, tasks.TITLE, tasks.ANNOTATIONS),
    "transcribe": (audio.transcribe, audio.TITLE, audio.ANNOTATIONS),
}


def build_server(settings: Settings) -> GLMServer:
    """The MCP server with the tools `settings` selects (all by default) and every resource."""
    names = settings.tools or list(TOOLS)
    unknown = [name for name in names if name not in TOOLS]
    if unknown:
        raise ConfigError(
            f"unknown tools in GLM_TOOLS / --tools: {', '.join(unknown)}; valid: {', '.join(TOOLS)}"
        )
    tools = [
        _tool(TOOLS[name][0], title=TOOLS[name][1], annotations=TOOLS[name][2])
        for name in dict.fromkeys(names)
    ]
    store = LazyStore(settings)
    server = GLMServer(
        name="mcp-server-glm",
        title="GLM",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=_lifespan(settings, store),
        tools=tools,
        log_level=settings.log_level,
    )
    resources.register(server, settings, store)
    return server
