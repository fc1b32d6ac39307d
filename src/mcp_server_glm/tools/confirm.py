"""Asking the person before a costly paid job is submitted, when the client can ask (MCP elicitation):
which jobs need a yes is a setting (GLM_CONFIRM_VIDEOS); declining submits nothing.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult
from pydantic import BaseModel, Field

from ..calls import app_state
from ..errors import NotConfirmed

FOUR_K = "3840x2160"


class Confirm(BaseModel):
    submit: bool = Field(description="Submit the job: it is billed to the account.")


def costly_parts(
    size: str | None, fps: int | None, duration: int | None, with_audio: bool | None
) -> list[str]:
    """What makes a video cost more than the plain one."""
    parts = []
    if size == FOUR_K:
        parts.append("4K")
    if fps == 60:
        parts.append("60 fps")
    if duration is not None and duration >= 10:
        parts.append(f"{duration} s")
    if with_audio:
        parts.append("with audio")
    return parts


async def confirm_video(
    ctx: Context[Any, Any],
    prompt: str | None = None,
    model: str | None = None,
    size: str | None = None,
    fps: int | None = None,
    duration: int | None = None,
    with_audio: bool | None = None,
) -> Elicit[Confirm] | Confirm:
    """A question for the person, or a yes without asking: when the setting does not ask for this video,
    or the client cannot ask (no elicitation capability)."""
    settings = app_state(ctx).settings
    parts = costly_parts(size, fps, duration, with_audio)
    asks = settings.confirm_videos == "always" or (settings.confirm_videos == "costly" and parts)
    capabilities = ctx.client_capabilities
    if not asks or capabilities is None or capabilities.elicitation is None:
        return Confirm(submit=True)
    what = ", ".join([model or settings.video_model, *parts])
    shown = f' "{prompt[:80]}"' if prompt else ""
    return Elicit(f"Submit a paid video job{shown} ({what})? It is billed to the GLM account.", Confirm)


def require_yes(answer: ElicitationResult[Confirm]) -> None:
    """Go on only with a yes; anything else submits nothing."""
    if not (isinstance(answer, AcceptedElicitation) and answer.data.submit):
        raise NotConfirmed("Not submitted: the video job was not confirmed, so nothing was sent or billed.")
