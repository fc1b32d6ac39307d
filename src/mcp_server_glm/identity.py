"""Who is calling: the signed-in user of an HTTP request (OAuth), carried to everything a call does.

The transport's gate verifies the token and puts a `Caller` on the request; `GLMServer` sets it here
for the call, and the store's writers (usage, jobs) read `current_user()`. No caller: '' (no sign-in).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SCOPE_KEY = "mcp_server_glm.caller"  # where the gate leaves the Caller in the ASGI scope


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified token's subject and scopes (never the token itself); `admin`: sees everyone's usage."""

    user: str
    scopes: frozenset[str]
    admin: bool = False


CALLER: ContextVar[Caller | None] = ContextVar("mcp_server_glm_caller", default=None)


def current() -> Caller | None:
    return CALLER.get()


def current_user() -> str:
    """The calling user's id, or '' when the server has no sign-in."""
    caller = CALLER.get()
    return caller.user if caller is not None else ""


def visible_to_caller(owner: str) -> bool:
    """Whether the current caller may see a record owned by `owner` (everyone, without sign-in)."""
    caller = CALLER.get()
    return caller is None or owner == caller.user


def of_request(request: Any) -> Caller | None:
    """The Caller the gate left on a Starlette request (None: no request, or no sign-in)."""
    scope = getattr(request, "scope", None)
    found = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    return found if isinstance(found, Caller) else None


@contextmanager
def acting(caller: Caller | None) -> Iterator[None]:
    """Run the block as `caller` (unchanged when None: a nested call keeps its caller)."""
    if caller is None:
        yield
        return
    token = CALLER.set(caller)
    try:
        yield
    finally:
        CALLER.reset(token)


def owner_filter() -> str | None:
    """The user whose records a read may return: the caller's, or None (every record) without sign-in."""
    caller = CALLER.get()
    return caller.user if caller is not None else None
