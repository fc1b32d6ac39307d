"""Prompts and completions in process, on both eras: which prompts the enabled tools list, what each
renders, the -32602 refusals, and completion/complete for every kind of argument (model ids of the
platform, sizes per model, task ids from the store, saved media names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver.prompts import Prompt
from mcp.shared.exceptions import MCPError
from mcp.types import Completion, PromptReference, ResourceTemplateReference, TextContent

from mcp_server_glm import completions, prompts
from mcp_server_glm.glm import catalog
from mcp_server_glm.store import TaskRecord
from mcp_server_glm.tools import listing
from tests.conftest import in_process, settings_for, text_of
from tests.fake_glm import FakeGLM
from tests.support.stores import open_store, unopenable

pytestmark = pytest.mark.anyio

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]
ALL = ["make_video", "second_opinion", "research", "transcribe_and_summarize"]
TASKS = "glm://tasks/{task_id}"
MEDIA = "glm://media/{name}"


def prompt_ref(name: str) -> PromptReference:
    return PromptReference(type="ref/prompt", name=name)


def template_ref(uri: str) -> ResourceTemplateReference:
    return ResourceTemplateReference(type="ref/resource", uri=uri)


def rendered(messages: list[Any]) -> str:
    [message] = messages
    assert message.role == "user"
    assert isinstance(message.content, TextContent)
    text: str = message.content.text
    return text


@pytest.mark.parametrize(
    ("tools", "listed"),
    [
        (None, ALL),
        (["glm_chat"], ["second_opinion"]),
        (["glm_chat", "web_search"], ["second_opinion", "research"]),
        (["generate_video"], []),  # make_video needs get_task too
        (["generate_video", "get_task", "transcribe"], ["make_video", "transcribe_and_summarize"]),
        (["web_search"], []),
    ],
)
@pytest.mark.parametrize("mode", ERAS)
async def test_the_prompts_listed_follow_the_enabled_tools(
    fake: FakeGLM, mode: str, tools: list[str] | None, listed: list[str]
) -> None:
    overrides = {} if tools is None else {"tools": tools}
    async with in_process(fake, mode=mode, **overrides) as client:
        capabilities = client.server_capabilities
        names = [prompt.name for prompt in (await client.list_prompts()).prompts]
    assert names == listed
    # No prompt, no prompts capability; completions are served either way (resource templates).
    assert (capabilities.prompts is not None) == bool(listed)
    assert capabilities.completions is not None


async def test_every_argument_has_a_description_and_the_required_ones_are_marked(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        listed = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    required = {name: [a.name for a in p.arguments or [] if a.required] for name, p in listed.items()}
    assert required == {
        "make_video": ["brief"],
        "second_opinion": ["text"],
        "research": ["question"],
        "transcribe_and_summarize": ["file"],
    }
    for prompt in listed.values():
        assert prompt.title
        assert prompt.description
        assert all(argument.description for argument in prompt.arguments or [])
    # The defaults the descriptions name are this server's.
    [model] = [a for a in listed["make_video"].arguments or [] if a.name == "model"]
    assert model.description == "Video model (default cogvideox-3)."


@pytest.mark.parametrize("mode", ERAS)
async def test_each_prompt_renders_the_calls_to_make(fake: FakeGLM, mode: str) -> None:
    async with in_process(fake, mode=mode, video_model="viduq1-text") as client:
        video = await client.get_prompt(
            "make_video", {"brief": "a paper boat in the rain", "model": "cogvideox-3", "size": "1920x1080"}
        )
        plain_video = await client.get_prompt("make_video", {"brief": "a fox"})
        review = await client.get_prompt(
            "second_opinion", {"text": "-x = 1\n+x = 2\n", "focus": "off-by-one errors"}
        )
        research = await client.get_prompt("research", {"question": "Who won the 2026 Turing award?"})
        notes = await client.get_prompt(
            "transcribe_and_summarize", {"file": "/tmp/meeting.mp3", "focus": "the budget"}
        )

    text = rendered(video.messages)
    assert text.startswith("Make me a short video of this shot: a paper boat in the rain")
    assert "generate_video once" in text
    assert ', model "cogvideox-3", size "1920x1080"' in text
    assert "get_task with its task_id" in text
    assert "never call generate_video again" in text
    assert "512 characters). A video" in rendered(plain_video.messages)  # no options left empty
    assert video.description == prompts.PROMPTS[0].description

    text = rendered(review.messages)
    assert f'glm_chat with model "{settings_for(fake).default_chat_model}"' in text
    assert "mostly on off-by-one errors" in text
    assert text.endswith("The text:\n\n-x = 1\n+x = 2\n")  # verbatim, at the end

    text = rendered(research.messages)
    assert "Who won the 2026 Turing award?" in text
    assert text.index("web_search") < text.index("glm_chat")
    assert "[n]" in text
    assert "70 characters" not in text  # Z.AI's search takes longer queries

    text = rendered(notes.messages)
    assert 'Call transcribe with file "/tmp/meeting.mp3"' in text
    assert "with a focus on the budget" in text


async def test_research_on_bigmodel_names_its_query_limit(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        research = await client.get_prompt("research", {"question": "q", "model": "glm-4.6"})
    text = rendered(research.messages)
    assert "a short query of at most 70 characters" in text
    assert 'glm_chat with model "glm-4.6"' in text


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("no_such_prompt", {}, "Unknown prompt: no_such_prompt"),
        ("make_video", {}, "Prompt make_video: missing argument brief; it takes brief, image, model, size."),
        ("research", {"question": "q", "depth": "3"}, "Prompt research: unknown argument depth; it takes"),
    ],
)
@pytest.mark.parametrize("mode", ERAS)
async def test_a_wrong_prompt_or_arguments_is_invalid_params(
    fake: FakeGLM, mode: str, name: str, arguments: dict[str, str], message: str
) -> None:
    async with in_process(fake, mode=mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt(name, arguments)
        # The server keeps serving.
        assert (await client.get_prompt("research", {"question": "q"})).messages
    assert raised.value.error.code == -32602
    assert raised.value.error.message.startswith(message)


async def test_a_prompt_of_a_disabled_tool_is_unknown(fake: FakeGLM) -> None:
    async with in_process(fake, tools=["glm_chat"]) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("research", {"question": "q"})
    assert raised.value.error.code == -32602


# -- completions ----------------------------------------------------------------------------------


async def complete(
    client: Client,
    ref: PromptReference | ResourceTemplateReference,
    name: str,
    value: str,
    given: dict[str, str] | None = None,
) -> Completion:
    result = await client.complete(ref, {"name": name, "value": value}, given)
    completion: Completion = result.completion
    return completion


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
@pytest.mark.parametrize("mode", ERAS)
async def test_model_ids_complete_per_kind_and_platform(fake: FakeGLM, mode: str, platform: str) -> None:
    fake.platform = platform
    async with in_process(fake, mode=mode) as client:
        chat = await complete(client, prompt_ref("second_opinion"), "model", "")
        research = await complete(client, prompt_ref("research"), "model", "GLM-4.5")
        video = await complete(client, prompt_ref("make_video"), "model", "")

    chat_models = [m.name for m in catalog.MODELS if m.kind == "chat" and m.on(platform)]
    assert sorted(chat.values) == sorted(chat_models)
    assert chat.values[0] == catalog.DEFAULTS["zai" if platform == "zai" else "bigmodel"]["chat"]
    legacy = [m.name for m in catalog.MODELS if m.legacy and m.kind == "chat" and m.on(platform)]
    assert chat.values[len(chat.values) - len(legacy) :] == legacy  # legacy ones last
    assert chat.total == len(chat_models)
    assert chat.has_more is False
    assert all(value.startswith("glm-4.5") for value in research.values)  # prefix, any case
    assert ("glm-4.5-x" in research.values) == (platform == "zai")
    assert ("glm-5-turbo" in chat.values) == (platform == "bigmodel")
    assert {m.name for m in catalog.MODELS if m.kind == "video" and m.on(platform)} == set(video.values)
    assert ("viduq1-text" in video.values) == (platform == "bigmodel")
    assert video.values[0] == "cogvideox-3"


async def test_sizes_complete_for_the_model_the_prompt_names(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake) as client:
        default = await complete(client, prompt_ref("make_video"), "size", "")
        vidu = await complete(client, prompt_ref("make_video"), "size", "", {"model": "vidu2-start-end"})
        tall = await complete(client, prompt_ref("make_video"), "size", "1080", {"model": "cogvideox-3"})
        unlisted = await complete(client, prompt_ref("make_video"), "size", "", {"model": "cogvideox-9"})

    assert default.values == list(catalog.COGVIDEOX_SIZES)  # the configured video model's
    assert vidu.values == ["1280x720", "480x360"]
    assert tall.values == ["1080x1920"]
    assert set(unlisted.values) == {s for m in catalog.MODELS if m.kind == "video" for s in m.sizes}


async def test_an_argument_without_completions_gets_none(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        brief = await complete(client, prompt_ref("make_video"), "brief", "a")
        usage = await complete(client, template_ref(MEDIA), "other", "")
    assert brief.values == []
    assert usage.values == []


@pytest.mark.parametrize("mode", ERAS)
async def test_task_ids_and_media_names_complete_from_the_store(fake: FakeGLM, mode: str) -> None:
    async with in_process(fake, mode=mode) as client:
        empty = await complete(client, template_ref(TASKS), "task_id", "")
        video = await client.call_tool("generate_video", {"prompt": "a cat", "wait_seconds": 0})
        image = await client.call_tool("generate_image", {"prompt": "a red fox"})
        assert not video.is_error, text_of(video)
        assert not image.is_error, text_of(image)
        task_id = str((video.structured_content or {})["task_id"])
        saved = str((image.structured_content or {})["path"]).rsplit("/", 1)[-1]
        tasks = await complete(client, template_ref(TASKS), "task_id", task_id[:3])
        media = await complete(client, template_ref(MEDIA), "name", "image-")
        none = await complete(client, template_ref(MEDIA), "name", "video-")

    assert empty.values == []
    assert task_id in tasks.values
    assert media.values == [saved]
    assert none.values == []


async def test_task_ids_are_the_newest_hundred(fake: FakeGLM) -> None:
    settings = settings_for(fake)
    store = await open_store(settings)
    try:
        for number in range(120):
            record = TaskRecord(
                f"task-{number:03}", "video", "cogvideox-3", {}, "SUCCESS", created_at=1000.0 + number
            )
            await store.record_task(record)
        newest = await store.task_ids("TASK-", 101)
        some = await store.task_ids("task-11", 101)
        odd = await store.task_ids("%", 101)
    finally:
        await store.close()
    assert newest[:2] == ["task-119", "task-118"]
    assert len(newest) == 101
    assert some == [f"task-11{digit}" for digit in range(9, -1, -1)]
    assert odd == []  # not a LIKE pattern

    async with in_process(fake) as client:
        all_tasks = await complete(client, template_ref(TASKS), "task_id", "")
    assert len(all_tasks.values) == completions.MAX_VALUES
    assert all_tasks.values[0] == "task-119"
    assert all_tasks.has_more is True
    assert all_tasks.total is None  # not counted past the cut


def test_bounded_cuts_at_a_hundred_and_counts_the_matches() -> None:
    values = [f"v{number}" for number in range(150)]
    cut = completions.bounded(values, "V")
    assert len(cut.values) == 100
    assert cut.total == 150
    assert cut.has_more is True
    few = completions.bounded(values, "v14")
    assert few.values == ["v14", *[f"v14{digit}" for digit in range(10)]]
    assert few.has_more is False


@pytest.mark.parametrize("mode", ERAS)
async def test_completing_an_unknown_prompt_or_template_is_invalid_params(fake: FakeGLM, mode: str) -> None:
    async with in_process(fake, mode=mode, tools=["glm_chat"]) as client:
        for ref in (prompt_ref("research"), template_ref("glm://nothing/{x}")):
            with pytest.raises(MCPError) as raised:
                await complete(client, ref, "model", "")
            assert raised.value.error.code == -32602


async def test_a_store_that_cannot_open_is_one_line_and_the_server_keeps_serving(
    fake: FakeGLM, tmp_path: Path
) -> None:
    store = unopenable(tmp_path)
    async with in_process(fake, allowed_dirs=[tmp_path], **store.settings) as client:
        with pytest.raises(MCPError) as raised:
            await complete(client, template_ref(TASKS), "task_id", "")
        models = await complete(client, prompt_ref("research"), "model", "glm-5.3")
    assert raised.value.error.code == -32603, raised.value.error.message
    assert "\n" not in raised.value.error.message
    assert store.where in raised.value.error.message
    assert models.values


def test_every_prompt_names_registered_tools_and_its_own_arguments(fake: FakeGLM) -> None:
    registered = set(listing.load())
    for spec in prompts.PROMPTS:
        assert set(spec.tools) <= registered, spec.name
        assert spec.tools[0] in spec.description  # says what it calls
        made = Prompt.from_function(spec.make(settings_for(fake)), name=spec.name)
        assert set(spec.completes) <= {argument.name for argument in made.arguments or []}, spec.name
