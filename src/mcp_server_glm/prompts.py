"""The server's prompts: requests a person would make, each naming the tools to call, with which arguments,
and how to follow a job; a prompt is listed only when every tool it needs is enabled.

Each prompt declares its tools (`PromptSpec.tools`) and which of its arguments complete how
(`PromptSpec.completes`, read by completions.py), so enabling follows the tool registry and GLM_TOOLS.
"""

# No `from __future__ import annotations`: the SDK reads each prompt's argument descriptions from its
# signature, and they are built per settings inside the closures below.

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts import Prompt
from pydantic import Field

from .settings import Settings

# What completes a prompt argument (completions.py): a model id of a catalogue kind, or a size of the
# model the `model` argument names (of that kind).
CHAT_MODEL = "model:chat"
VIDEO_MODEL = "model:video"
VIDEO_SIZE = "size:video"

PromptFunction = Callable[..., Awaitable[str]]


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    tools: tuple[str, ...]  # every one must be enabled for the prompt to be listed
    make: Callable[[Settings], PromptFunction]  # the prompt's function, for these settings
    completes: Mapping[str, str] = field(default_factory=dict)  # argument -> CHAT_MODEL, VIDEO_SIZE, ...


def _clause(text: str, value: str) -> str:
    """`text` with `value` filled in, or nothing when the argument was left empty."""
    return text.format(value.strip()) if value.strip() else ""


def _make_video(settings: Settings) -> PromptFunction:
    async def make_video(
        brief: Annotated[str, Field(description="The shot: subject, action, camera, light, style.")],
        image: Annotated[str, Field(description="A start image (path or URL), if any.")] = "",
        model: Annotated[str, Field(description=f"Video model (default {settings.video_model}).")] = "",
        size: Annotated[str, Field(description="WIDTHxHEIGHT the model takes, e.g. 1920x1080.")] = "",
    ) -> str:
        options = (
            _clause(', image "{}"', image) + _clause(', model "{}"', model) + _clause(', size "{}"', size)
        )
        return (
            f"Make me a short video of this shot: {brief.strip()}\n\n"
            "Call generate_video once, with prompt set to the shot as one vivid paragraph (subject, action, "
            f"camera, light; at most 512 characters){options}. A video takes minutes: when the result "
            "says it is still processing, call get_task with its task_id (again if it is still not done) "
            "and never call generate_video again for the same shot, which would pay twice. When it is "
            "done, show me the video and tell me where it was saved."
        )

    return make_video


def _second_opinion(settings: Settings) -> PromptFunction:
    async def second_opinion(
        text: Annotated[str, Field(description="The text or diff to review.")],
        focus: Annotated[str, Field(description="What to look at: correctness, security, style...")] = "",
        model: Annotated[
            str, Field(description=f"GLM model that reviews (default {settings.default_chat_model}).")
        ] = "",
    ) -> str:
        chosen = model.strip() or settings.default_chat_model
        return (
            "I'd like a second opinion from another model on the text below"
            f"{_clause(', mostly on {}', focus)}.\n\n"
            f'Call glm_chat with model "{chosen}", system "You are a careful, blunt reviewer. List '
            "concrete problems (errors, bugs, unclear or missing parts), most serious first, each with "
            'a fix; say so when you find none.", and prompt set to that request followed by the text '
            "exactly as given. Then tell me what it found, where you agree and where you don't, and why."
            f"\n\nThe text:\n\n{text}"
        )

    return second_opinion


def _research(settings: Settings) -> PromptFunction:
    limit = " of at most 70 characters" if settings.platform == "bigmodel" else ""

    async def research(
        question: Annotated[str, Field(description="The question to research.")],
        model: Annotated[
            str,
            Field(description=f"GLM model that writes the answer (default {settings.default_chat_model})."),
        ] = "",
    ) -> str:
        chosen = model.strip() or settings.default_chat_model
        return (
            f"Research this for me: {question.strip()}\n\n"
            f"1. Call web_search with a short query{limit} for it; search again with other words if the "
            "results miss part of the question (three searches at most).\n"
            f'2. Call glm_chat with model "{chosen}" and a prompt holding the question and every result '
            "(number, title, link, summary), asking for a short answer that cites the results as [n] "
            "after each claim and lists the cited links at the end.\n"
            "3. Give me that answer; drop any claim no result supports, and say what stayed unclear."
        )

    return research


def _transcribe_and_summarize(settings: Settings) -> PromptFunction:
    async def transcribe_and_summarize(
        file: Annotated[str, Field(description="The recording (WAV or MP3): a path or URL.")],
        focus: Annotated[str, Field(description="What the summary should bring out, if anything.")] = "",
    ) -> str:
        return (
            f"Transcribe {file.strip()} and summarise it for me"
            f"{_clause(', with a focus on {}', focus)}.\n\n"
            f'Call transcribe with file "{file.strip()}". Then write the summary from the transcript: the '
            "main points as a short list, any decisions and action items (who, what, by when, if said), "
            "and a few quotes worth keeping, word for word. Say where the transcript looks garbled."
        )

    return transcribe_and_summarize


PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec(
        "make_video",
        "Make a video",
        "Turn a shot brief into a video: generate_video, then get_task until it is ready.",
        ("generate_video", "get_task"),
        _make_video,
        {"model": VIDEO_MODEL, "size": VIDEO_SIZE},
    ),
    PromptSpec(
        "second_opinion",
        "Second opinion",
        "Ask another model (glm_chat) to review a text or a diff.",
        ("glm_chat",),
        _second_opinion,
        {"model": CHAT_MODEL},
    ),
    PromptSpec(
        "research",
        "Research a question",
        "Search the web (web_search), then have glm_chat write an answer that cites its sources.",
        ("web_search", "glm_chat"),
        _research,
        {"model": CHAT_MODEL},
    ),
    PromptSpec(
        "transcribe_and_summarize",
        "Transcribe and summarise",
        "Transcribe a recording (transcribe) and summarise it: points, decisions, action items.",
        ("transcribe",),
        _transcribe_and_summarize,
    ),
)


def enabled(tools: Collection[str]) -> list[PromptSpec]:
    """The prompts whose tools are all in `tools` (the enabled tools' names)."""
    return [spec for spec in PROMPTS if set(spec.tools) <= set(tools)]


def register(server: MCPServer[Any], settings: Settings, tools: Collection[str]) -> list[PromptSpec]:
    """Add the prompts the enabled `tools` can serve; returns them."""
    chosen = enabled(tools)
    for spec in chosen:
        server.add_prompt(
            Prompt.from_function(
                spec.make(settings), name=spec.name, title=spec.title, description=spec.description
            )
        )
    return chosen
