"""What every tool shares: reaching the GLM client, turning adapter failures into tool errors,
and shaping a result that carries both readable text and structured content.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import BaseModel

from ..errors import Refusal
from ..glm.errors import AuthenticationFailed, GLMError
from ..settings import KEY_VARIABLES
from ..state import AppState

if TYPE_CHECKING:  # files and the store load with the first tool that needs them
    from ..files import MediaKind, SavedFile
    from ..glm.client import GLMClient
    from ..store import Store

MEDIA_URI = "glm://media/"
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


async def store(ctx: Context[Any, Any]) -> Store:
    """The task store, opened on first use."""
    with upstream_errors():
        return await app_state(ctx).store.get()


@contextmanager
def upstream_errors() -> Iterator[None]:
    """Turn an adapter, file or store failure into a one-line tool error the model can act on."""
    try:
        yield
    except GLMError as exc:
        message = str(exc)
        if isinstance(exc, AuthenticationFailed):
            message += " Settings to check: the key, GLM_PLATFORM (zai or bigmodel) and GLM_CODING_PLAN."
        raise ToolError(message) from exc
    except Refusal as exc:
        raise ToolError(str(exc)) from exc


def result(text: str, structured: BaseModel, extra: Sequence[ContentBlock] = ()) -> CallToolResult:
    """A tool result: `text` for people and models, more content blocks (images, links) if any, and the
    model's fields (unset ones left out) as data."""
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra],
        structured_content=structured.model_dump(mode="json", exclude_none=True),
    )


async def save_media(
    ctx: Context[Any, Any], url: str, *, kind: MediaKind, task_id: str | None, label: str | None = None
) -> SavedFile:
    """Download media the GLM API produced into the output directory and remember it in the store.
    The file is named `<label or kind>-<time>-<task id>`."""
    from ..files import Files
    from ..store import MediaRecord

    state = app_state(ctx)
    with upstream_errors():
        saved = await state.files.download(url, kind=kind, stem=Files.output_stem(label or kind, task_id))
    records = await store(ctx)
    with upstream_errors():
        await records.add_media(
            MediaRecord(
                name=saved.name,
                path=str(saved.path),
                mime_type=saved.mime_type,
                size=saved.size,
                source_url=url,
                task_id=task_id,
            )
        )
    return saved


def media_link(saved: SavedFile) -> ResourceLink:
    """A link the client can open or read as a resource: glm://media/{name}."""
    return link(saved.name, saved.mime_type, saved.size)


def link(name: str, mime_type: str | None, size: int | None = None) -> ResourceLink:
    return ResourceLink(
        type="resource_link", uri=f"{MEDIA_URI}{name}", name=name, mime_type=mime_type, size=size
    )


def count_usage(ctx: Context[Any, Any], tool: str, model: str, units: int, unit: str) -> None:
    """Add to the usage totals, in the background: accounting never delays or fails a call."""
    app_state(ctx).store.count_usage(tool, model, units, unit)


async def image_for_api(ctx: Context[Any, Any], ref: str) -> str:
    """An image reference as the API takes it: http(s) URLs as they are (the API fetches them), local
    files and data URLs checked (confined, sniffed, size-capped) and inlined as a data URL."""
    from ..files import check_remote_url

    with upstream_errors():
        url = check_remote_url(ref)  # None if it is not an http(s) URL; refused if it names no public host
    if url is not None:
        return url
    with upstream_errors():
        picture = await app_state(ctx).files.read_input(ref, "image")
    return picture.data_url()
