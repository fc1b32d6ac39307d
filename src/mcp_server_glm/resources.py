"""MCP resources: the model catalogue, the jobs this server submitted, the media it saved, usage totals.

`glm://media/{name}` is served with each file's own MIME type (see `read_media`); the others are JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import Resource

from . import identity
from .errors import StoreError
from .glm import catalog
from .settings import Settings
from .state import AppState, LazyStore
from .updates import TASKS_URI, USAGE_URI

if TYPE_CHECKING:
    from .store import Store, TaskRecord

MEDIA_TEMPLATE = "glm://media/{name}"
MEDIA_PREFIX = "glm://media/"
MB = 1024 * 1024
MAX_RESOURCE_BYTES = 100 * MB
RECENT_MEDIA = 20  # saved files resources/list shows, newest first
log = logging.getLogger(__name__)


def register(server: MCPServer[AppState], settings: Settings, lazy_store: LazyStore) -> None:
    """Add the resources; they reach the store through `lazy_store`, which the lifespan closes."""

    async def open_store(*, counted: bool = False) -> Store:
        """The store; with `counted`, once the usage counted so far is written to it."""
        try:
            if counted:
                await lazy_store.write_usage()
            return await lazy_store.get()
        except StoreError as exc:
            raise ResourceError(str(exc)) from exc

    @server.resource(
        "glm://models",
        name="models",
        title="GLM models",
        description="The GLM model catalogue: id, kind, platforms, limits (output tokens, images, formats), "
        "thinking and reasoning_effort, free, legacy, and which models this server uses by default.",
        mime_type="application/json",
    )
    def models() -> str:
        defaults = {
            settings.default_chat_model,
            settings.default_vision_model,
            settings.image_model,
            settings.video_model,
            settings.asr_model,
        }
        return _json([{**model.as_dict(), "default": model.name in defaults} for model in catalog.MODELS])

    @server.resource(
        TASKS_URI,
        name="tasks",
        title="Recent jobs",
        description="The 50 most recent video and image jobs this server submitted, newest first.",
        mime_type="application/json",
    )
    async def tasks() -> str:
        store = await open_store()
        return _json([_task(task) for task in await store.recent_tasks(50, identity.owner_filter())])

    @server.resource(
        "glm://tasks/{task_id}",
        name="task",
        title="A job",
        description="One job this server submitted: its request, status and result.",
        mime_type="application/json",
    )
    async def task(task_id: str) -> str:
        record = await (await open_store()).get_task(task_id)
        if record is None or not identity.visible_to_caller(record.user_id):  # another's reads as unknown
            raise ResourceNotFoundError(f"No task {task_id} is recorded (get_task asks the API for any id)")
        return _json(_task(record))

    @server.resource(
        MEDIA_TEMPLATE,
        name="media",
        title="Generated media",
        description="An image or video this server generated and saved, by file name.",
        mime_type="application/octet-stream",
    )
    async def media(name: str) -> bytes:
        data, _ = await read_media(settings, lazy_store, name)
        return data

    @server.resource(
        USAGE_URI,
        name="usage",
        title="Usage",
        description="Calls and units (tokens, images, videos, seconds) per tool and model; on a GLM Coding "
        "Plan key, {usage, plan_quota}: the 5-hour token window and the monthly tool calls.",
        mime_type="application/json",
    )
    async def usage() -> str:
        caller = identity.current()
        everyone = caller is not None and caller.admin
        store = await open_store(counted=True)
        totals = await store.usage_totals(identity.owner_filter() if not everyone else None, by_user=everyone)
        # Signed in, each caller sees their own usage; an admin (GLM_AUTH_ADMIN_SCOPE) everyone's, by user.
        rows = [{**dataclasses.asdict(total)} for total in totals]
        if not everyone:
            for row in rows:
                del row["user"]
        if not settings.on_coding_plan:
            return _json(rows)
        from .plan import plan_quota

        return _json({"usage": rows, "plan_quota": await plan_quota(settings)})


async def recent_media(lazy_store: LazyStore) -> list[Resource]:
    """The files saved last, as resources/list shows them (none when the store cannot be read: the
    listing still serves the rest)."""
    try:
        saved = await (await lazy_store.get()).recent_media(RECENT_MEDIA, identity.owner_filter())
    except StoreError as exc:
        log.warning("Recent media not listed: %s", exc)
        return []
    return [
        Resource(
            uri=MEDIA_PREFIX + quote(record.name, safe=""),
            name=record.name,
            title=f"{record.mime_type.split('/')[0].capitalize()} saved {_when(record.created_at)}",
            mime_type=record.mime_type,
            size=record.size,
        )
        for record in saved
    ]


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def read_media(settings: Settings, lazy_store: LazyStore, name: str) -> tuple[bytes, str]:
    """A saved file's bytes and MIME type, only if the store knows it and it is in the output directory."""
    try:
        record = await (await lazy_store.get()).get_media(name)
    except StoreError as exc:
        raise ResourceError(str(exc)) from exc
    if record is None or not identity.visible_to_caller(record.user_id):  # another's reads as unknown
        raise ResourceNotFoundError(f"No media named {name!r} was saved by this server")
    from .files.outputs import open_saved

    media_dir = await anyio.Path(settings.media_dir).resolve()
    opened = await anyio.to_thread.run_sync(open_saved, Path(media_dir), record.path)  # Files' confinement
    if opened is None:
        raise ResourceNotFoundError(f"Media {name!r} is no longer in the output directory ({media_dir})")
    file, size = opened
    with file:
        if size > MAX_RESOURCE_BYTES:
            raise ResourceError(
                f"{record.path} is {size // MB} MiB, too large to send as a resource: open the file instead"
            )
        return await anyio.to_thread.run_sync(file.read), record.mime_type


def _task(record: TaskRecord) -> dict[str, Any]:
    """A job as the resources show it: times in ISO 8601 (UTC), as a person and a model read them."""
    shown = dataclasses.asdict(record)
    for key in ("created_at", "updated_at"):
        shown[key] = datetime.fromtimestamp(shown[key], UTC).isoformat(timespec="seconds")
    return shown


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)
