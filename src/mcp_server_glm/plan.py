"""The GLM Coding Plan's quota (the 5-hour token window, the monthly tool calls) as `doctor` and
glm://usage show it: read from the plan's undocumented query, so every part may be missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import __version__
from .errors import GLMError
from .glm.client import GLMClient
from .glm.platform_models import PlanQuota
from .settings import Settings


async def plan_quota(settings: Settings, client: GLMClient | None = None) -> dict[str, Any]:
    """The plan's quota as plain data; `{"available": False, "reason": ...}` when the query does not
    exist, has nothing to say, or fails: the quota is shown, never a reason for a failure."""
    if client is None and settings.api_key is None:
        return {"available": False, "reason": "no API key is set"}
    try:
        if client is not None:
            quota = await client.plan_quota()
        else:
            async with _client(settings) as own:
                quota = await own.plan_quota()
    except GLMError as exc:
        return {"available": False, "reason": str(exc)}
    if quota is None:
        return {"available": False, "reason": "the platform does not report it for this key"}
    return {"available": True, **_shown(quota)}


def lines(shown: dict[str, Any]) -> list[str]:
    """`plan_quota`'s answer as doctor's lines."""
    if not shown.get("available"):
        return [f"not available ({shown.get('reason', 'unknown')})"]
    out: list[str] = []
    if (level := shown.get("level")) is not None:
        out.append(f"plan level {level}")
    if (tokens := shown.get("token_window_5h")) is not None:
        used = tokens.get("used_percent")
        out.append(
            "5-hour token window: "
            + (f"{used:g}% used" if used is not None else "use not reported")
            + (f", resets at {tokens['resets_at']}" if tokens.get("resets_at") else "")
        )
    if (calls := shown.get("monthly_tool_calls")) is not None:
        parts = [
            f"{calls[name]} {name}" for name in ("used", "total", "remaining") if calls.get(name) is not None
        ]
        out.append(
            "monthly tool calls: "
            + (", ".join(parts) or "counts not reported")
            + (f", resets at {calls['resets_at']}" if calls.get("resets_at") else "")
        )
    return out


def _shown(quota: PlanQuota) -> dict[str, Any]:
    shown: dict[str, Any] = {"level": quota.level}
    if quota.tokens is not None:
        shown["token_window_5h"] = {
            "used_percent": quota.tokens.percentage,
            "resets_at": _utc(quota.tokens.next_reset),
        }
    if quota.calls is not None:
        shown["monthly_tool_calls"] = {
            "used": quota.calls.used,
            "total": quota.calls.total,
            "remaining": quota.calls.remaining,
            "resets_at": _utc(quota.calls.next_reset),
            "per_tool": quota.calls.details or None,
        }
    return shown


def _utc(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when is not None else None


def _client(settings: Settings) -> GLMClient:
    assert settings.api_key is not None
    return GLMClient(
        settings.api_key.get_secret_value(),
        settings.api_base_url,
        general_url=settings.general_base_url,
        timeout=min(settings.timeout, 30),
        connect_timeout=settings.connect_timeout,
        max_retries=1,
        retry_backoff=settings.retry_backoff,
        user_agent=f"mcp-server-glm/{__version__}",
    )
