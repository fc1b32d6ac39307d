"""How long a call waits for its job: the default wait, or the one asked for, cut to GLM_MAX_WAIT (hosts
drop a call near 60 s; get_task picks the job up).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..calls import Caller, app_state

WaitSeconds = Annotated[
    float | None,
    Field(
        ge=0,
        description="Seconds to wait (0: none). Cut to GLM_MAX_WAIT (55 s): hosts drop calls near 60 s; "
        "get_task resumes.",
    ),
]


def wait_budget(ctx: Caller, wait_seconds: float | None) -> tuple[float, str | None]:
    """The seconds a call waits for its job (the default or `wait_seconds`, at most GLM_MAX_WAIT), and
    a note when `wait_seconds` was lowered."""
    settings = app_state(ctx).settings
    cap = settings.max_wait
    if wait_seconds is None:
        return min(settings.video_wait, cap), None
    if wait_seconds <= cap:
        return wait_seconds, None
    return cap, (
        f"wait_seconds {wait_seconds:g} was lowered to {cap:g} (GLM_MAX_WAIT): many hosts cut a call at "
        "about 60 s. The job goes on: get_task picks it up."
    )
