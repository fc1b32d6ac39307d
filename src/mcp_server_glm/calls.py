"""What a tool or a job reaches through its call's MCP context: the server's state, the GLM client, the
store, progress notifications, saved media, and results that carry both readable text and structured
content. Failures are raised as they are (see errors.py); the server's `call_tool` makes them one line.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import BaseModel

from . import identity
from .errors import GLMError, NotConfigured, RateLimited, StoreError
from .settings import KEY_VARIABLES
from .state import AppState

if TYPE_CHECKING:  # files and the store load with the first tool that needs them
    from .files import MediaKind, SavedFile
    from .glm.client import GLMClient
    from .store import Store

log = logging.getLogger(__name__)

MEDIA_URI = "glm://media/"
MISSING_KEY = (
    f"No GLM API key is configured: set {KEY_VARIABLES[0]} (or {KEY_VARIABLES[1]}) in the server's "
    "environment to a key from the Z.AI or BigModel console, then restart the server."
)


# A job is followed by a call (its context) or in the background by the server itself (its state).
Caller = Context[Any, Any] | AppState


def app_state(ctx: Caller) -> AppState:
    if isinstance(ctx, AppState):
        return ctx
    return cast(AppState, ctx.request_context.lifespan_context)


def glm_client(ctx: Context[Any, Any]) -> GLMClient:
    """The server's GLM client, or NotConfigured saying how to configure the key. Its retries in this
    call are told to the caller as progress ("rate limited, retrying in 4 s")."""
    client = app_state(ctx).glm
    if client is None:
        raise NotConfigured(MISSING_KEY)
    from .glm.client import ON_RETRY

    ON_RETRY.set(progress(ctx).retrying)  # in this call's context only: each call runs in its own task
    return client


class Progress:
    """One call's progress notifications, rounded and always increasing (the protocol wants it)."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self._ctx = ctx
        self.last = 0.0

    async def __call__(self, message: str, value: float | None = None, total: float | None = None) -> None:
        """Report `value` (rounded to a tenth; just above the last one when it would not increase)."""
        shown = round(value, 1) if value is not None else self.last
        if shown <= self.last:
            shown = round(self.last + 0.01, 2)
        self.last = shown
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):  # caller gone
            await self._ctx.report_progress(
                shown, total=None if total is None else max(shown, round(total, 1)), message=message
            )

    async def retrying(self, error: GLMError, seconds: float) -> None:
        why = "rate limited" if isinstance(error, RateLimited) else "the GLM API call failed"
        await self(f"{why}, retrying in {math.ceil(seconds)} s")


_progress: ContextVar[Progress | None] = ContextVar("progress", default=None)
TICK_SECONDS = 4.0  # at most this long without a progress notification while a call waits on the API


@asynccontextmanager
async def ticking(ctx: Context[Any, Any], message: Callable[[float], str]) -> AsyncIterator[None]:
    """While the body waits (an image being generated, a piece being transcribed), a notification
    every TICK_SECONDS saying what it waits for and for how long, so hosts and people see it alive."""
    report = progress(ctx)
    started = anyio.current_time()

    async def tick() -> None:
        while True:
            await anyio.sleep(TICK_SECONDS)
            waited = anyio.current_time() - started
            await report(message(waited), waited)

    async with beside(tick):
        yield


@asynccontextmanager
async def beside(background: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    """Runs `background` (which never fails) while the body runs, and stops it after; the body's
    exception is raised as it was, not wrapped in a group."""
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(background)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as failed:
        [error] = failed.exceptions
        raise error from None


def progress(ctx: Context[Any, Any]) -> Progress:
    """This call's progress reporter (made on first use)."""
    reporter = _progress.get()
    if reporter is None or reporter._ctx is not ctx:
        reporter = Progress(ctx)
        _progress.set(reporter)
    return reporter


async def store(ctx: Caller) -> Store:
    """The task store, opened on first use."""
    return await app_state(ctx).store.get()


def result(text: str, structured: BaseModel, extra: Sequence[ContentBlock] = ()) -> CallToolResult:
    """A tool result: `text` for people and models, more content blocks (images, links) if any, and the
    model's fields (unset ones left out) as data."""
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra],
        structured_content=structured.model_dump(mode="json", exclude_none=True),
    )


async def save_media(
    ctx: Caller, url: str, *, kind: MediaKind, task_id: str | None, label: str | None = None
) -> SavedFile:
    """Download media the GLM API produced into the output directory and remember it in the store.
    The file is named `<label or kind>-<time>-<task id>`."""
    from .files import Files

    state = app_state(ctx)
    saved = await state.files.download(url, kind=kind, stem=Files.output_stem(label or kind, task_id))
    await _remember(ctx, saved, task_id)
    return saved


async def save_made(
    ctx: Context[Any, Any],
    data: bytes,
    *,
    label: str,
    ext: str,
    mime_type: str,
    kind: MediaKind | None = None,
    task_id: str | None = None,
) -> SavedFile:
    """Write bytes a tool made from answers (joined speech, vectors) into the output directory, named
    `<label>-<time>-<task id or random><ext>`, and remember it in the store so that glm://media serves
    it. With `kind`, the bytes are checked to be that media in the format `ext` names."""
    from .files import Files

    state = app_state(ctx)
    saved = await state.files.save_bytes(
        data, stem=Files.output_stem(label, task_id), ext=ext, mime_type=mime_type, kind=kind
    )
    await _remember(ctx, saved, task_id)
    return saved


async def _remember(ctx: Caller, saved: SavedFile, task_id: str | None, *, source: str | None = None) -> None:
    """Record saved media in the store (`source`: where it came from, when not a download's URL), as
    the job's submitter's (whoever settles it, the background poller among them), else the caller's."""
    from .store import MediaRecord

    owner = identity.current_user()
    if task_id is not None:
        with contextlib.suppress(StoreError):
            job = await (await store(ctx)).get_task(task_id)
            owner = job.user_id if job is not None else owner
    record = MediaRecord(
        name=saved.name,
        path=str(saved.path),
        mime_type=saved.mime_type,
        size=saved.size,
        source_url=saved.source_url if source is None else source,
        task_id=task_id,
        user_id=owner,
    )
    # Paid work is saved: when the store cannot record it (or cannot be opened), the caller gets its
    # path all the same, so that nobody pays for it again.
    try:
        await (await store(ctx)).add_media(record)
    except StoreError as exc:
        log.warning("Saved %s, but the store could not record it: %s", saved.path, exc)
    else:
        app_state(ctx).changed(listed=True)  # resources/list shows the recent media


async def save_text(
    ctx: Context[Any, Any], text: str, *, label: str, source: str, ext: str = ".md"
) -> SavedFile:
    """Save text a tool produced from `source` (a page's URL, a document's name) into the output
    directory as `<label>-<time>-<tag>.md` and remember it in the store, as `save_media` does."""
    from .files import Files

    saved = await app_state(ctx).files.save_text(text, stem=Files.output_stem(label, None), ext=ext)
    await _remember(ctx, saved, None, source=source)
    return saved


async def inline_text(
    ctx: Context[Any, Any], text: str, *, label: str, source: str, ext: str = ".md"
) -> tuple[str, SavedFile | None]:
    """`text` as a result holds it: whole when within GLM_MAX_INLINE_CHARS, else its first part, the whole
    saved by `save_text` (the saved file is returned beside it)."""
    limit = app_state(ctx).settings.max_inline_chars
    if len(text) <= limit:
        return text, None
    saved = await save_text(ctx, text, label=label, source=source, ext=ext)
    return text[:limit], saved


def cut_note(shown: int, whole: int, saved: SavedFile) -> str:
    """What a result cut by `inline_text` says: how much it shows, and where the whole is."""
    where = f"{saved.path} ({MEDIA_URI}{saved.name})"
    return f"the first {shown} of {whole} characters are shown; the whole is {where}"


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
