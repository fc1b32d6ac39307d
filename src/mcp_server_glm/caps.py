"""Daily caps on what the paid tools may spend (GLM_MAX_IMAGES_PER_DAY, ...), counted from the store's
usage since midnight UTC (per user with sign-in); a call past its tool's cap is refused before anything
is sent."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import identity
from .errors import CapReached

if TYPE_CHECKING:
    from .state import AppState

# tool: (the setting that caps it, the unit its usage counts, the variable a person sets)
CAPS: dict[str, tuple[str, str, str]] = {
    "generate_image": ("max_images_per_day", "images", "GLM_MAX_IMAGES_PER_DAY"),
    "generate_video": ("max_videos_per_day", "videos", "GLM_MAX_VIDEOS_PER_DAY"),
    "web_search": ("max_searches_per_day", "searches", "GLM_MAX_SEARCHES_PER_DAY"),
    "transcribe": ("max_speech_seconds_per_day", "seconds of audio", "GLM_MAX_SPEECH_SECONDS_PER_DAY"),
    "glm_chat": ("max_tokens_per_day", "tokens", "GLM_MAX_TOKENS_PER_DAY"),
}
DAY = 86400


async def check(state: AppState, tool: str) -> None:
    """Refuse a call of `tool` when its daily cap (if set) is used up: the caller's own, with sign-in
    (each user has the whole cap), else the server's."""
    capped = CAPS.get(tool)
    if capped is None:
        return
    field, unit, variable = capped
    cap: int | None = getattr(state.settings, field)
    if cap is None:
        return
    now = time.time()
    midnight = now - now % DAY
    await state.store.write_usage()  # what was counted in memory so far, then the day's total
    user = identity.owner_filter()
    used = await (await state.store.get()).units_since(tool, midnight, user)
    if used >= cap:
        left = midnight + DAY - now
        whose = f"{tool} has used its daily cap" if user is None else f"You have used {tool}'s daily cap"
        raise CapReached(
            f"{whose} of {cap} {unit}{'' if user is None else ' per user'} ({variable}): {used} today; "
            f"it resets at 00:00 UTC, in {int(left // 3600)} h {int(left % 3600 // 60)} min."
        )
