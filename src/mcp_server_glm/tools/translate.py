"""`translate`: translate text with the GLM platform's general_translation agent, or, where the platform
refuses that route (404, or codes 1220-1222), with a plain chat; the result says which was used.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import app_state, count_usage, glm_client, result
from ..errors import APIError, BadArguments, BadResponse
from ..glm.models import ChatRequest
from ..glm.platform_models import TranslationRequest, TranslationStrategy
from .spec import ToolSpec

SPEC = ToolSpec(
    name="translate",
    title="Translate text",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    purpose="translate translates text with GLM's translation agent",
    summary="Translate text with GLM's general_translation agent (languages, glossary, strategy), "
    "or with a chat model where the agent is not available.",
    settings=("chat_model",),
    default=False,
)

# The agent's language codes (Z.AI's TranslationAgentRequest, BigModel's agent reference).
SOURCE_LANGS = (
    "auto", "zh-CN", "zh-TW", "wyw", "yue", "en", "ja", "ko", "fr", "de", "es", "ru", "pt", "it", "ar", "hi",
    "bg", "cs", "da", "el", "et", "fi", "hu", "id", "lt", "lv", "nl", "no", "pl", "ro", "sk", "sl", "sv",
    "th", "tr", "uk", "vi", "my", "ms", "Pinyin", "IPA",
)  # fmt: skip
TARGET_LANGS = (*SOURCE_LANGS[1:6], "en-GB", "en-US", *SOURCE_LANGS[6:])
AGENT = "general_translation"
# How a platform says it does not serve the agent route to this key: any 404, no permission for the API
# (1220), the API offline (1221), the API does not exist (1222). Anything else (a refused key, no
# balance, a refused parameter, a busy or failing platform) is the caller's answer, not a reason to switch.
ROUTE_REFUSED = frozenset({"1220", "1221", "1222"})


class Translated(BaseModel):
    text: str
    via: Literal["agent", "chat"]
    model: str  # general_translation, or the chat model
    source: str
    target: str
    note: str | None = None


async def translate(
    ctx: Context[Any, Any],
    text: Annotated[str, Field(min_length=1, description="The text to translate.")],
    target: Annotated[str, Field(description="Language code: en, zh-CN, ja, fr, de, es, en-US, ...")],
    source: Annotated[str, Field(description="Language code, or auto.")] = "auto",
    glossary: Annotated[str | None, Field(description="A glossary's id (agent only).")] = None,
    strategy: Annotated[TranslationStrategy | None, Field(description="Agent strategy.")] = None,
) -> Annotated[CallToolResult, Translated]:
    """Translate text with GLM's general_translation agent; where the platform refuses that route, a
    chat model translates it (via: chat)."""
    check(text, source, target)
    client = glm_client(ctx)
    request = TranslationRequest.from_text(
        text, source_lang=source, target_lang=target, glossary=glossary, strategy=strategy
    )
    try:
        translation = await client.translate(request)
    except APIError as exc:
        if exc.status != 404 and exc.code not in ROUTE_REFUSED:
            raise
        refused = f"HTTP {exc.status}" + (f", code {exc.code}" if exc.code else "")
    else:
        count_usage(ctx, "translate", AGENT, translation.usage.total_tokens, "tokens")
        done = Translated(text=translation.text, via="agent", model=AGENT, source=source, target=target)
        return result(_text(done), done)
    model = app_state(ctx).settings.default_chat_model
    chat = ChatRequest(
        model=model,
        messages=[
            {"role": "system", "content": _instruction(source, target)},
            {"role": "user", "content": text},
        ],
    )
    completion = await client.chat(chat)
    if completion.usage is not None:
        count_usage(ctx, "translate", completion.model, completion.usage.total_tokens, "tokens")
    if not completion.content.strip():
        raise BadResponse(f"GLM API returned no translation from {model}", status=200)
    unused = [name for name, value in (("glossary", glossary), ("strategy", strategy)) if value]
    note = f"the agent route was refused ({refused}): translated by {completion.model}"
    if unused:
        note += f", without the agent's {' and '.join(unused)}"
    if not completion.complete:
        note += f"; cut short ({completion.interruption or completion.finish_reason})"
    done = Translated(
        text=completion.content.strip(),
        via="chat",
        model=completion.model,
        source=source,
        target=target,
        note=note,
    )
    return result(_text(done), done)


def check(text: str, source: str, target: str) -> None:
    """Refuse, in one line naming the codes, what the agent would refuse."""
    if not text.strip():
        raise BadArguments("The text is blank: give text to translate.")
    if source not in SOURCE_LANGS:
        raise BadArguments(
            f"source {source!r} is not a language code the agent takes: {', '.join(SOURCE_LANGS)}."
        )
    if target not in TARGET_LANGS:
        raise BadArguments(
            f"target {target!r} is not a language code the agent takes: {', '.join(TARGET_LANGS)}."
        )


def _instruction(source: str, target: str) -> str:
    whence = "" if source == "auto" else f" from the language coded {source}"
    return (
        f"Translate the user's text{whence} into the language coded {target}. Keep its meaning, tone and "
        "formatting. Answer with the translation only."
    )


def _text(done: Translated) -> str:
    how = f"agent {AGENT}" if done.via == "agent" else f"chat model {done.model}"
    head = f"Translation {done.source} -> {done.target} (via {how})"
    return f"{head}: {done.note}\n\n{done.text}" if done.note else f"{head}:\n\n{done.text}"
