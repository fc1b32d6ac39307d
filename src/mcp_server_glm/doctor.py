"""`mcp-server-glm doctor`: the effective configuration, the directories, a one-token chat that tells
whether the API accepts the key, and one at the general endpoint that tells which tools it can use.

Chat may go to the GLM Coding Plan's endpoint; every other tool goes to the general one and is paid from
the account balance, so a paid model's one-token answer there says whether they work. Exit code 0 only
when the chat check passes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

from . import __version__
from .errors import (
    AuthenticationFailed,
    ConnectionFailed,
    GLMError,
    InvalidRequest,
    QuotaExhausted,
    RateLimited,
)
from .glm import catalog
from .glm.client import GLMClient
from .glm.models import ChatRequest
from .settings import API_ROOTS, KEY_VARIABLES, Platform, Settings
from .store.where import describe
from .tools.listing import defaults, load

FREE_MODEL = "glm-4.7-flash"
PAID_MODEL = "glm-4.7"  # the balance check's model: only account balance pays for it


def run_doctor(settings: Settings) -> int:
    say(f"mcp-server-glm {__version__}: doctor\n")
    say("Configuration")
    key = settings.api_key.get_secret_value() if settings.api_key else None
    rows = [
        ("API key", f"...{key[-4:]}" if key and len(key) > 8 else ("set (short)" if key else "not set")),
        ("platform", settings.platform),
        ("coding plan", "yes (chat only)" if settings.on_coding_plan else "no"),
        ("API base URL", settings.api_base_url + (" (set explicitly)" if settings.base_url else "")),
        *([("other tools", settings.general_base_url)] if settings.on_coding_plan else []),
        (
            "models",
            f"chat {settings.default_chat_model}{_platform_default(settings.chat_model)}, "
            f"vision {settings.default_vision_model}{_platform_default(settings.vision_model)}, "
            f"image {settings.image_model}, "
            f"video {settings.video_model}, speech {settings.asr_model}",
        ),
        ("tools", ", ".join(settings.tools) if settings.tools else "the default ones (no opt-in tool)"),
        (
            "transport",
            settings.transport
            if settings.transport == "stdio"
            else f"{settings.transport} on {settings.host}:{settings.port}",
        ),
    ]
    for name, value in rows:
        say(f"  {name:<14}{value}")
    say("\nDirectories")
    say(f"  {'data':<14}{settings.store_dir} ({writable(settings.store_dir)})")
    url = settings.database_url
    say(f"  {'store':<14}{describe(settings.store_dir, None if url is None else url.get_secret_value())}")
    say(f"  {'output':<14}{settings.media_dir} ({writable(settings.media_dir)})")
    say(f"  {'inputs from':<14}{', '.join(str(path) for path in settings.input_dirs)}")
    say("")
    if key is None:
        say(
            f"FAILED: no API key. Set {KEY_VARIABLES[0]} (or {KEY_VARIABLES[1]}) to a key from the Z.AI "
            "console (z.ai) or the BigModel console (open.bigmodel.cn)."
        )
        return 1
    model = settings.default_chat_model if settings.coding_plan else FREE_MODEL
    say(f"Checking the key with a one-token answer from {model} at {settings.api_base_url} ...")
    accepted, explanation = anyio.run(check_key, settings, key, model, settings.api_base_url)
    say(("OK: " if accepted else "FAILED: ") + explanation)
    if accepted and settings.on_coding_plan:
        show_plan_quota(settings)
    if accepted:
        check_tools(settings, key)
    return 0 if accepted else 1


def show_plan_quota(settings: Settings) -> None:
    """The Coding Plan's quota, or why it is not available (never a failure of the check)."""
    from .plan import lines, plan_quota

    say("\nGLM Coding Plan quota")
    for line in lines(anyio.run(plan_quota, settings)):
        say(f"  {line}")


def check_tools(settings: Settings, key: str) -> None:
    """Say which tools the key can use: the ones beside chat need the general endpoint and balance."""
    registered = load()
    chosen = settings.tools or defaults(registered, settings.platform)
    others = [name for name in registered if name != "glm_chat" and name in chosen]
    if not others:
        return
    model = PAID_MODEL  # a paid model whose thinking can be switched off: one token, a known price
    url = settings.general_base_url
    say(f"\nChecking the general endpoint ({', '.join(others)}) with a one-token answer from {model}")
    say(f"at {url} ...")
    usable, explanation = anyio.run(check_general, settings, key, model)
    say(("OK: " if usable else "NOT AVAILABLE: ") + explanation)
    chat = ["glm_chat"] if "glm_chat" in chosen else []
    say(f"Tools this key can use: {', '.join(chat + others) if usable else ', '.join(chat) or 'none'}.")


async def check_general(settings: Settings, key: str, model: str) -> tuple[bool, str]:
    try:
        await ping(settings, key, model, settings.general_base_url)
    except QuotaExhausted as exc:
        plan = (
            "the GLM Coding Plan covers chat only, and these tools need account balance: top it up"
            if settings.on_coding_plan
            else "these tools and paid chat models need account balance: top it up (free models still answer)"
        )
        return False, f"the account cannot pay for them (code {exc.code}: {exc.api_message}): {plan}."
    except AuthenticationFailed as exc:
        return False, (
            f"the general endpoint refused the key ({exc.api_message or 'no message'}): every tool but "
            "chat goes there, also on the GLM Coding Plan."
        )
    except RateLimited:
        return True, "the general endpoint accepted the key but is rate limiting right now."
    except InvalidRequest as exc:
        if exc.code == "1211":
            return True, "the general endpoint accepted the key (the test model is not offered there)."
        return False, f"the check failed: {exc}"
    except GLMError as exc:
        return False, f"the check failed: {exc}"
    return True, "the general endpoint accepted the key and the account can pay: every tool can be used."


async def check_key(settings: Settings, key: str, model: str, url: str) -> tuple[bool, str]:
    try:
        await ping(settings, key, model, url)
    except GLMError as exc:
        return explain(exc, settings)
    return True, "the API accepted the key and answered."


async def ping(settings: Settings, key: str, model: str, url: str) -> None:
    """A one-token answer from `model` at `url` (chat's route, whichever endpoint it is)."""
    request = ChatRequest(
        model=model,
        messages=[{"role": "user", "content": "ping"}],
        max_tokens=1,
        thinking=None if _thinks_always(model) else {"type": "disabled"},
    )
    async with GLMClient(
        key,
        url,
        timeout=min(settings.timeout, 30),
        connect_timeout=settings.connect_timeout,
        max_retries=1,
        retry_backoff=settings.retry_backoff,
        user_agent=f"mcp-server-glm/{__version__} doctor",
    ) as client:
        await client.chat(request)


def explain(error: GLMError, settings: Settings) -> tuple[bool, str]:
    """Whether the key was accepted despite the error, and what the error means for the user."""
    if isinstance(error, AuthenticationFailed):
        other: Platform = "bigmodel" if settings.platform == "zai" else "zai"
        other_host = API_ROOTS[other].split("/")[2]
        return False, (
            f"the API refused the key ({error.api_message or 'no message'}). A key works only on its own "
            f"platform and endpoint: if it comes from {other_host}, set GLM_PLATFORM={other}; "
            f"if it is a GLM Coding Plan key, set GLM_CODING_PLAN={'0' if settings.on_coding_plan else '1'}; "
            "otherwise check for a typo or a revoked key."
        )
    if isinstance(error, QuotaExhausted) and error.code == "1311":
        return True, "the key works, but the plan does not include the test model; use a model it covers."
    if isinstance(error, QuotaExhausted):
        hint = (
            " A Coding Plan key used on the general endpoint reports this too: try GLM_CODING_PLAN=1."
            if error.code == "1113" and not settings.on_coding_plan
            else ""
        )
        return False, f"the key was accepted, but the account cannot be used now: {error}.{hint}"
    if isinstance(error, RateLimited):
        return True, "the API accepted the key but is rate limiting right now; calls will be retried."
    if isinstance(error, InvalidRequest) and error.code == "1211":
        return True, "the key works; the test model is not offered on this endpoint."
    if isinstance(error, ConnectionFailed):
        return False, (
            f"the API could not be reached ({error}). Check the network, a proxy (HTTPS_PROXY), a firewall, "
            "and ZAI_BASE_URL if you set it."
        )
    return False, f"the check failed: {error}"


def _platform_default(setting: str | None) -> str:
    return "" if setting else " (platform default)"


def _thinks_always(model: str) -> bool:
    """True for a model whose thinking cannot be disabled (the API refuses the switch)."""
    entry = catalog.find(model)
    return entry is not None and entry.thinking == "only"


def writable(directory: Path) -> str:
    """Whether the server can write there (the directory, or the nearest existing parent to create it in)."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return "cannot be created"
        probe = probe.parent
    if not probe.is_dir():
        return f"cannot be created: {probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return "not writable" if probe == directory else f"cannot be created: {probe} is not writable"
    return "writable" if probe == directory else "will be created"


def say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
