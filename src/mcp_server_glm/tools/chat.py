"""`glm_chat`: ask a GLM model, with thinking, vision, JSON mode and built-in web search.

The answer is streamed from the API; progress notifications keep a long answer from looking dead,
and an answer cut short is returned marked as such, never as a clean-looking success.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from ..calls import app_state, count_usage, glm_client, result
from ..errors import BadArguments
from ..glm import catalog
from ..glm.models import ChatCompletion, ChatRequest, WebSearchOptions
from .references import chat_file, chat_image, chat_video
from .spec import ToolSpec

MB = 1024 * 1024
SPEC = ToolSpec(
    name="glm_chat",
    title="Ask a GLM model",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    purpose="glm_chat asks a GLM model (a second opinion, thinking, images, videos and documents, JSON "
    "output, an answer grounded in a web search)",
    summary="Ask a GLM model: a second opinion, a long answer with thinking, a look at images (vision "
    "models), a JSON answer, or an answer grounded in a web search with its sources.",
    settings=("chat_model", "vision_model", "chat_search_engine", "max_inline_mb", "max_tokens_per_day"),
    argument_texts={"model": "Default {default_chat_model}; {default_vision_model} with images."},
)
PROGRESS_INTERVAL = 0.25  # seconds between progress notifications while an answer streams


class Message(BaseModel):
    # One turn of an OpenAI-style conversation; extra keys (tool_calls, ...) pass through. No docstring:
    # it would become a description in every client's copy of the schema.
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class Source(BaseModel):
    ref: str
    title: str
    url: str
    snippet: str | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatResult(BaseModel):
    # Everything the text block says is here too: some hosts show the model this object only.
    note: str | None = Field(None, description="Set when the answer is partial, cut or empty: what to do.")
    content: str
    reasoning: str | None = Field(None, description="The thinking (thinking: true).")
    model: str
    finish_reason: str
    usage: Usage | None = None
    sources: list[Source] | None = Field(None, description="Pages cited as [ref] (web_search).")
    request_id: str | None = None


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


def _default_named(kind: catalog.Kind) -> str:
    """The recommended model of a kind, for descriptions: its name if every platform agrees."""
    names = {models[kind] for models in catalog.DEFAULTS.values()}
    return names.pop() if len(names) == 1 else "the platform's"


MODEL_HELP = f"Default {_default_named('chat')}; {_default_named('vision')} with images."


async def glm_chat(
    ctx: Context[Any, Any],
    prompt: Annotated[str | None, Field(description="The message to send. Or use messages.")] = None,
    messages: Annotated[
        list[Message] | None,
        Field(description="Conversation as [{role, content}]; prompt, if given, becomes the last user turn."),
    ] = None,
    system: Annotated[str | None, Field(description="System prompt.")] = None,
    model: Annotated[
        str | None,
        Field(description=MODEL_HELP),
    ] = None,
    thinking: Annotated[
        bool | None, Field(description="Turn thinking on or off (default: the model's).")
    ] = None,
    reasoning_effort: Annotated[
        Effort | None, Field(description="How hard to think (glm-5.2 and later).")
    ] = None,
    temperature: Annotated[float | None, Field(ge=0, le=1)] = None,
    top_p: Annotated[float | None, Field(ge=0.01, le=1)] = None,
    max_tokens: Annotated[int | None, Field(ge=1, le=131072)] = None,
    json_mode: Annotated[bool, Field(description="Answer with a JSON object (text models).")] = False,
    web_search: Annotated[
        bool, Field(description="Search the web first; sources are returned (text models).")
    ] = False,
    images: Annotated[
        list[str] | None,
        Field(max_length=150, description="Images (vision models): paths, file://, http(s) or data: URLs."),
    ] = None,
    videos: Annotated[
        list[str] | None, Field(max_length=2, description="Videos (mp4, mkv, mov) by http(s) URL.")
    ] = None,
    files: Annotated[
        list[str] | None,
        Field(
            max_length=50,
            description="Documents (PDF, Word, text) by URL; on Z.AI also paths, not with images.",
        ),
    ] = None,
) -> Annotated[CallToolResult, ChatResult]:
    """Ask a GLM model: a second opinion, thinking, images (vision models), a JSON answer, or an answer
    grounded in a web search with its sources. For pages to read yourself use web_search. Billed per token
    (glm-4.7-flash and glm-4.6v-flash are free); images are paths, data: or http(s) URLs, e.g. a file
    generate_image saved."""
    settings = app_state(ctx).settings
    platform = settings.platform
    chosen = model or _default_model(settings, images, videos, files)
    entry = catalog.find(chosen)
    turns = _conversation(prompt, messages, system, [*(images or ()), *(videos or ()), *(files or ())])
    vision = bool(images or videos or files) or any(
        _parts(turn, kind) for turn in turns for kind in ("image_url", "video_url", "file", "file_url")
    )
    if entry is not None and entry.kind == "chat":
        if vision:
            raise BadArguments(
                f"{chosen} cannot see images, videos or files: use a vision model such as "
                f"{settings.default_vision_model}."
            )
        turns = [_text_only(turn, chosen) for turn in turns]
    vision = vision or (entry is not None and entry.kind == "vision")
    _check(chosen, entry, vision, thinking, reasoning_effort, max_tokens, json_mode, web_search)
    if entry is not None:
        given = [*(images or ()), *(_part_url(part) for turn in turns for part in _parts(turn, "image_url"))]
        _check_images(entry, given)
        _check_media(entry, platform, turns, images or [], videos or [], files or [])
    formats = entry.image_formats if entry is not None else catalog.CHAT_IMAGE_FORMATS
    inline = _Inline(settings.max_inline_mb)
    video_parts = [chat_video(ref) for ref in videos or ()]
    image_urls = [inline.add(await chat_image(ctx, ref, formats)) for ref in images or ()]
    file_parts = [await chat_file(ctx, ref, platform) for ref in files or ()]
    for part in file_parts:
        inline.add(str(part.get("file", {}).get("file_data", "")))
    turns = [await _inline_data_urls(ctx, turn, formats, inline) for turn in turns]
    if prompt:
        turns.append({"role": "user", "content": _user_content(prompt, image_urls, video_parts, file_parts)})
    request = ChatRequest(
        model=chosen,
        messages=turns,
        thinking=None if thinking is None else {"type": "enabled" if thinking else "disabled"},
        reasoning_effort=reasoning_effort,
        # The API ignores temperature when sampling is off, which is what a temperature of 0 asks for.
        do_sample=False if temperature == 0 else None,
        temperature=temperature or None,
        top_p=top_p,
        max_tokens=max_tokens,
        response_format={"type": "json_object"} if json_mode else None,
        tools=[WebSearchOptions(search_engine=settings.default_chat_search_engine).as_tool()]
        if web_search
        else None,
    )
    client = glm_client(ctx)
    completion = await client.chat(request, on_delta=_Progress(ctx))
    if completion.usage is not None:
        count_usage(ctx, "glm_chat", completion.model, completion.usage.total_tokens, "tokens")
    answer = _structured(completion, thinking=thinking is True, max_tokens=max_tokens)
    return result(_text(answer), answer)


def _check(
    name: str,
    entry: catalog.Model | None,
    vision: bool,
    thinking: bool | None,
    effort: str | None,
    max_tokens: int | None,
    json_mode: bool,
    web_search: bool,
) -> None:
    """Refuse, in one line naming the limit, what the model's documented limits rule out."""
    if vision and (json_mode or web_search):
        what = "json_mode" if json_mode else "web_search"
        raise BadArguments(
            f"{what} does not work with images or a vision model ({name}): vision requests take neither; "
            f"drop {what}, or ask without images using a text model."
        )
    if entry is None:
        return  # an unlisted model: the API decides
    if thinking is False and entry.thinking == "only":
        raise BadArguments(
            f"{name}'s thinking cannot be turned off: leave thinking unset (or use a lower reasoning_effort)."
        )
    if effort is not None and not entry.efforts:
        raise BadArguments(f"{name} takes no reasoning_effort (glm-5.2 and later do): leave it out.")
    if effort is not None and effort not in entry.efforts:
        raise BadArguments(f"{name} takes reasoning_effort {', '.join(entry.efforts)}, not {effort}.")
    if max_tokens is not None and entry.max_output is not None and max_tokens > entry.max_output:
        raise BadArguments(
            f"max_tokens {max_tokens} is over {name}'s output limit of {entry.max_output} tokens: "
            f"ask for at most {entry.max_output}."
        )


def _default_model(
    settings: Any, images: list[str] | None, videos: list[str] | None, files: list[str] | None
) -> str:
    """The model a call without one goes to: the configured vision model with media, or the first
    current vision model that takes the call's videos or files on this platform."""
    if files:
        return catalog.default_for(settings.platform, "file", settings.default_vision_model)
    if videos:
        return catalog.default_for(settings.platform, "video", settings.default_vision_model)
    return str(settings.default_vision_model if images else settings.default_chat_model)


def _check_media(
    entry: catalog.Model,
    platform: str,
    turns: list[dict[str, Any]],
    images: list[str],
    videos: list[str],
    files: list[str],
) -> None:
    """Refuse, naming the rule, video and file parts the model or platform does not take (glm-api.md
    §22 row 9): how many, on which model, and which may go with images. A model of another platform is
    left to the API (it answers that the model is unknown there)."""
    if not entry.on(platform):
        return
    name = entry.name
    video_count = len(videos) + sum(len(_parts(turn, "video_url")) for turn in turns)
    file_count = len(files) + sum(len(_parts(turn, "file")) + len(_parts(turn, "file_url")) for turn in turns)
    image_count = len(images) + sum(len(_parts(turn, "image_url")) for turn in turns)
    if video_count and not entry.takes("video", platform):
        other = catalog.default_for(_platform(platform), "video", name)
        raise BadArguments(f"{name} takes no videos: use a model that does, such as {other}.")
    if video_count > entry.max_videos:
        raise BadArguments(
            f"{name} takes at most {entry.max_videos} video{'s' if entry.max_videos != 1 else ''} "
            f"per request; this one has {video_count}."
        )
    if file_count and not entry.takes("file", platform):
        other = catalog.default_for(_platform(platform), "file", name)
        raise BadArguments(f"{name} takes no files on {platform}: use a model that does, such as {other}.")
    if file_count > catalog.MAX_FILES:
        raise BadArguments(f"A request takes at most {catalog.MAX_FILES} files; this one has {file_count}.")
    if file_count and (image_count or video_count) and platform == "zai":
        raise BadArguments(
            "Z.AI takes no file parts with images or videos in the same request: ask about them in "
            "separate calls."
        )
    if entry.video_first:
        for turn in turns:
            content = turn.get("content")
            if (
                _parts(turn, "video_url")
                and isinstance(content, list)
                and content[0].get("type") != "video_url"
            ):
                raise BadArguments(f"{name} takes a video_url part only as the first part of its message.")


def _platform(name: str) -> catalog.Platform:
    return "bigmodel" if name == "bigmodel" else "zai"


def _check_images(entry: catalog.Model, refs: list[str]) -> None:
    """Refuse more images than the model takes, or inline ones where it takes URLs only."""
    if entry.max_images is not None and len(refs) > entry.max_images:
        raise BadArguments(
            f"{entry.name} takes at most {entry.max_images} image{'s' if entry.max_images != 1 else ''} "
            f"per request; this one has {len(refs)}."
        )
    if not entry.base64_images and any(not ref.startswith(("https://", "http://")) for ref in refs):
        raise BadArguments(
            f"{entry.name} takes images by http(s) URL only, not as local files or data URLs: give a URL, "
            "or use another vision model."
        )


def _conversation(
    prompt: str | None, messages: list[Message] | None, system: str | None, media: list[str]
) -> list[dict[str, Any]]:
    """The turns before the prompt (which the caller appends, with its images, videos and files)."""
    if not prompt and not messages:
        raise BadArguments("Give prompt (a single message) or messages (a conversation).")
    if media and not prompt:
        raise BadArguments(
            "images go with prompt (videos and files too): say in prompt what to do with them."
        )
    turns: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    given = [message.model_dump(exclude_none=True) for message in messages or ()]
    for number, turn in enumerate(given):
        # Only an assistant turn may go without content (the API refuses the others with 1214).
        if turn["role"] != "assistant" and turn.get("content") in (None, "", []):
            raise BadArguments(
                f"messages[{number}] ({turn['role']}) has no content: give it text or drop it."
            )
    turns += given
    if not prompt and not any(turn["role"] == "user" for turn in turns):
        raise BadArguments("messages need at least one user turn.")
    return turns


def _parts(turn: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = turn.get("content")
    if not isinstance(content, list):
        return []
    return [part for part in content if isinstance(part, dict) and part.get("type") == kind]


def _text_only(turn: dict[str, Any], name: str) -> dict[str, Any]:
    """A turn for a text model, whose content is a string only: text parts are joined."""
    content = turn.get("content")
    if not isinstance(content, list):
        return turn
    others = {
        str(part.get("type"))
        for part in content
        if not (isinstance(part, dict) and part.get("type") == "text")
    }
    if others:
        raise BadArguments(
            f"{name} takes text only: a {turn['role']} turn has {', '.join(sorted(others))} parts."
        )
    return {**turn, "content": "".join(str(part.get("text", "")) for part in content)}


async def _inline_data_urls(
    ctx: Context[Any, Any], turn: dict[str, Any], formats: tuple[str, ...], inline: _Inline
) -> dict[str, Any]:
    """A turn whose image parts given as data URLs are checked and sent as the chat API takes them;
    every inline image counts towards the request's total."""
    if not _parts(turn, "image_url"):
        return turn
    content: list[Any] = []
    for part in turn["content"]:
        url = _part_url(part) if isinstance(part, dict) and part.get("type") == "image_url" else ""
        if url.startswith("data:"):
            content.append(
                {"type": "image_url", "image_url": {"url": inline.add(await chat_image(ctx, url, formats))}}
            )
        else:
            inline.add(url)
            content.append(part)
    return {**turn, "content": content}


class _Inline:
    """The images and files one request carries inline (base64), refused as soon as they pass the
    setting's total: a call with many large ones is stopped before they are all read and encoded."""

    def __init__(self, limit_mb: int) -> None:
        self.limit = limit_mb * MB
        self.total = 0

    def add(self, url: str) -> str:
        if url and not url.lower().startswith(("https://", "http://")):
            self.total += len(url) * 3 // 4  # bytes behind the base64 text
            if self.total > self.limit:
                raise BadArguments(
                    f"The images and files inlined into this request pass {self.limit // MB} MiB in all "
                    "(GLM_MAX_INLINE_MB): send fewer or smaller ones, or give them as http(s) URLs."
                )
        return url


def _part_url(part: dict[str, Any]) -> str:
    inner = part.get("image_url")
    url = inner.get("url") if isinstance(inner, dict) else None
    return url if isinstance(url, str) else ""


def _user_content(
    prompt: str, images: list[str], videos: list[dict[str, Any]], files: list[dict[str, Any]]
) -> str | list[dict[str, Any]]:
    """The prompt's turn: videos first (glm-4v-plus-0111 takes them there only), then images, files, text."""
    if not (images or videos or files):
        return prompt
    pictures: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return [*videos, *pictures, *files, {"type": "text", "text": prompt}]


class _Progress:
    """Reports streaming progress at most every PROGRESS_INTERVAL seconds, always increasing."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self._ctx = ctx
        self._last_time = -PROGRESS_INTERVAL
        self._last_value = 0

    async def __call__(self, completion: ChatCompletion) -> None:
        now = time.monotonic()
        received = completion.received
        if now - self._last_time < PROGRESS_INTERVAL or received <= self._last_value:
            return
        self._last_time, self._last_value = now, received
        phase = "answering" if completion.content else "thinking"
        await self._ctx.report_progress(received, message=f"{phase}: {received} characters received")


def _structured(completion: ChatCompletion, *, thinking: bool, max_tokens: int | None) -> ChatResult:
    """The result: the reasoning only when thinking was asked for, a note when the answer needs one."""
    usage = completion.usage
    return ChatResult(
        note=_note(completion, thinking=thinking, max_tokens=max_tokens),
        content=completion.content,
        reasoning=(completion.reasoning.strip() or None) if thinking else None,
        model=completion.model,
        finish_reason=completion.finish_reason or "incomplete",
        usage=Usage(**usage.model_dump()) if usage else None,
        sources=[
            Source(
                ref=item.refer or str(index), title=item.title, url=item.link, snippet=item.content or None
            )
            for index, item in enumerate(completion.web_search, 1)
        ]
        or None,
        request_id=completion.request_id,
    )


def _note(completion: ChatCompletion, *, thinking: bool, max_tokens: int | None) -> str | None:
    """What the model must know beyond the answer: it is partial, cut off or empty, and what to do."""
    reason = completion.finish_reason
    if not completion.complete:
        return (
            f"INCOMPLETE ANSWER: {completion.interruption}. Only the part that arrived is here; "
            "ask again for the whole answer."
        )
    if reason == "length":
        advice = _raise_max_tokens(completion.model, max_tokens)
        return f"The answer was cut off (finish_reason length): {advice}"
    if reason == "model_context_window_exceeded":
        return (
            "The answer was cut off (finish_reason model_context_window_exceeded): the conversation and the "
            "answer filled the model's context window; shorten the conversation or ask for a shorter answer."
        )
    if not completion.content.strip():
        only = " (only its reasoning)" if completion.reasoning and thinking else ""
        return f"The model returned no answer text{only}: ask again, or rephrase the request."
    if reason != "stop":
        return f"The answer ended with finish_reason {reason}, not stop: it may be incomplete."
    return None


def _raise_max_tokens(model: str, max_tokens: int | None) -> str:
    """What to do about an answer cut at its output limit, given the model's documented one."""
    entry = catalog.find(model)
    limit = entry.max_output if entry is not None else None
    if max_tokens is None:
        most = f" (up to {limit})" if limit else ""
        return f"it reached the default output limit; set max_tokens{most} or ask for a shorter answer."
    if limit is not None and max_tokens >= limit:
        return (
            f"max_tokens {max_tokens} is already {model}'s limit; ask for a shorter answer, "
            "or for the rest in a second call."
        )
    most = f" ({model} takes up to {limit})" if limit else ""
    return f"max_tokens was {max_tokens}; raise it{most} or ask for a shorter answer."


def _text(answer: ChatResult) -> str:
    """The text block: what the structured result says, for hosts that show the model text."""
    parts: list[str] = []
    if answer.reasoning:
        parts += [f"Reasoning:\n{answer.reasoning}", "Answer:"]
    parts.append(answer.content)
    if answer.note:
        parts.append(f"[{answer.note}]")
    if answer.sources:
        lines = [f"[{source.ref}] {source.title} - {source.url}" for source in answer.sources]
        parts.append("Sources:\n" + "\n".join(lines))
    return "\n\n".join(part for part in parts if part)
