"""`glm_chat` through an in-process MCP client: what goes on the wire, what comes back, how it fails."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.support.calls import chat, sent

pytestmark = pytest.mark.anyio

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def test_prompt_answer_and_wire_body(fake: FakeGLM) -> None:
    result = await chat(fake, {"prompt": "What is 2+2?", "system": "Be brief."})
    assert not result.is_error
    structured = result.structured_content
    assert structured is not None
    assert structured["content"] == "Fake GLM answer to: What is 2+2?"
    assert "reasoning" not in structured  # glm-5.3 thought, but thinking was not asked for
    assert "note" not in structured  # a whole answer needs none
    assert structured["model"] == "glm-5.3"  # the platform's recommended model
    assert structured["finish_reason"] == "stop"
    assert (
        structured["usage"]["total_tokens"]
        == structured["usage"]["prompt_tokens"] + structured["usage"]["completion_tokens"]
    )
    assert structured["request_id"].startswith("mcp-")
    assert "sources" not in structured  # unset fields are left out, not null
    assert text_of(result) == "Fake GLM answer to: What is 2+2?"
    body = sent(fake)
    assert body["model"] == "glm-5.3"
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    for absent in (
        "thinking",
        "reasoning_effort",
        "temperature",
        "top_p",
        "max_tokens",
        "response_format",
        "tools",
        "do_sample",
    ):
        assert absent not in body


async def test_settings_choose_the_default_model(fake: FakeGLM) -> None:
    await chat(fake, {"prompt": "hi"}, chat_model="glm-4.5-air")
    assert sent(fake)["model"] == "glm-4.5-air"


@pytest.mark.parametrize(("thinking", "wire"), [(True, "enabled"), (False, "disabled")])
async def test_thinking_switch(fake: FakeGLM, thinking: bool, wire: str) -> None:
    result = await chat(fake, {"prompt": "why?", "thinking": thinking}, chat_model="glm-5.1")
    assert sent(fake)["thinking"] == {"type": wire}
    assert result.structured_content is not None
    if thinking:
        assert result.structured_content["reasoning"] == "Thinking about: why?"
        assert text_of(result).startswith("Reasoning:\nThinking about: why?\n\nAnswer:\n\nFake GLM answer")
    else:
        assert "reasoning" not in result.structured_content
        assert "Reasoning" not in text_of(result)


async def test_sampling_parameters_reach_the_wire(fake: FakeGLM) -> None:
    await chat(fake, {"prompt": "hi", "temperature": 0.3, "top_p": 0.9, "max_tokens": 500, "json_mode": True})
    body = sent(fake)
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 500
    assert body["response_format"] == {"type": "json_object"}


async def test_temperature_zero_turns_sampling_off(fake: FakeGLM) -> None:
    await chat(fake, {"prompt": "hi", "temperature": 0})
    body = sent(fake)
    assert body["do_sample"] is False
    assert "temperature" not in body


async def test_json_mode_answer(fake: FakeGLM) -> None:
    result = await chat(fake, {"prompt": "give json", "json_mode": True})
    assert result.structured_content is not None
    assert result.structured_content["content"].startswith("{")


@pytest.mark.parametrize(("platform", "engine"), [("zai", "search_pro_jina"), ("bigmodel", "search_std")])
async def test_web_search_returns_sources(fake: FakeGLM, platform: str, engine: str) -> None:
    fake.platform = platform
    result = await chat(fake, {"prompt": "news today", "web_search": True}, platform=platform)
    [tool] = sent(fake)["tools"]
    assert tool == {
        "type": "web_search",
        "web_search": {"enable": True, "search_engine": engine, "search_result": True},
    }
    assert result.structured_content is not None
    sources = result.structured_content["sources"]
    assert len(sources) == 2
    assert all(source["url"].startswith("https://") and source["title"] for source in sources)
    text = text_of(result)
    assert "Sources:\n[ref_1]" in text
    assert sources[0]["url"] in text


async def test_images_use_the_vision_model(fake: FakeGLM) -> None:
    images = ["https://example.com/cat.png", "data:image/png;base64," + base64.b64encode(PNG).decode()]
    result = await chat(fake, {"prompt": "what is this?", "images": images})
    assert not result.is_error, text_of(result)
    body = sent(fake)
    assert body["model"] == "glm-5.3-flashx"  # the platform's recommended vision model
    assert body["messages"][-1]["content"] == [
        {"type": "image_url", "image_url": {"url": images[0]}},
        {"type": "image_url", "image_url": {"url": base64.b64encode(PNG).decode()}},  # bare base64
        {"type": "text", "text": "what is this?"},
    ]


async def test_local_image_is_checked_and_inlined(fake: FakeGLM, isolated_dirs: Path) -> None:
    picture = isolated_dirs / "chart.png"
    picture.write_bytes(PNG)
    result = await chat(fake, {"prompt": "describe", "images": [str(picture)]})
    assert not result.is_error, text_of(result)
    [part, _] = sent(fake)["messages"][-1]["content"]
    assert part["image_url"]["url"] == base64.b64encode(PNG).decode()  # bare: no data: prefix


async def test_multi_turn_messages(fake: FakeGLM) -> None:
    messages = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
    ]
    result = await chat(fake, {"messages": messages, "prompt": "What is my name?"})
    assert not result.is_error
    assert sent(fake)["messages"] == [*messages, {"role": "user", "content": "What is my name?"}]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({}, "Give prompt (a single message) or messages"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "at least one user turn"),
        ({"prompt": "x", "images": ["/etc/passwd"]}, 'image "/etc/passwd" is refused'),
        ({"prompt": "x", "images": ["ftp://example.com/a.png"]}, "is refused"),
        (
            {"images": ["https://example.com/a.png"], "messages": [{"role": "user", "content": "x"}]},
            "images go with prompt",
        ),
        (
            {"prompt": "x", "images": ["https://example.com/a.png"], "model": "glm-4.7"},
            "glm-4.7 cannot see images",
        ),
        (
            {"prompt": "x", "temperature": 3},
            "invalid arguments: temperature: Input should be less than or equal to 1",
        ),
        (
            {"prompt": "x", "messages": [{"role": "robot"}]},
            "invalid arguments: messages.0.role: Input should be",
        ),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    fake: FakeGLM, arguments: dict[str, Any], words: str
) -> None:
    result = await chat(fake, arguments)
    assert result.is_error
    text = text_of(result)
    assert text.startswith("Error executing tool glm_chat: ")
    assert words in text
    assert "\n" not in text
    assert fake.requests == []


async def test_progress_arrives_while_the_answer_streams(fake: FakeGLM) -> None:
    fake.chunk_delay = 0.06
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with in_process(fake) as client:
        result = await client.call_tool(
            "glm_chat", {"prompt": "tell me a long story please"}, progress_callback=on_progress
        )
    assert not result.is_error
    assert len(updates) >= 2
    values = [progress for progress, _, _ in updates]
    assert values == sorted(set(values))  # strictly increasing
    assert any(message and message.startswith("thinking") for _, _, message in updates)
    assert any(message and message.startswith("answering") for _, _, message in updates)


async def test_length_cut_keeps_content_and_says_so(fake: FakeGLM) -> None:
    result = await chat(fake, {"prompt": "one two three four five six", "max_tokens": 3})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["finish_reason"] == "length"
    assert "cut off (finish_reason length)" in text_of(result)


async def test_broken_stream_keeps_the_part_and_marks_it(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(cut_after=9))
    result = await chat(fake, {"prompt": "a long answer please"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["finish_reason"] == "incomplete"
    assert "[INCOMPLETE ANSWER: the connection broke mid-answer" in text_of(result)


async def test_network_error_finish_is_marked(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(finish_reason="network_error", cut_after=7))
    result = await chat(fake, {"prompt": "a long answer please"})
    assert result.structured_content is not None
    assert result.structured_content["finish_reason"] == "network_error"
    assert "INCOMPLETE ANSWER" in text_of(result)


async def test_stream_cut_before_content_is_an_error(fake: FakeGLM) -> None:
    fake.script("chat/completions", *[Fault(cut_after=0)] * 2)
    result = await chat(fake, {"prompt": "hi"}, max_retries=1)
    assert result.is_error
    assert "before any content arrived" in text_of(result)


async def test_content_filter_is_a_tool_error(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(finish_reason="sensitive", cut_after=2))
    result = await chat(fake, {"prompt": "hi"})
    assert result.is_error
    assert "content filter" in text_of(result)


async def test_balance_error_is_not_retried_and_says_what_to_do(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(status=429, code="1113"))
    result = await chat(fake, {"prompt": "hi"})
    assert result.is_error
    text = text_of(result)
    assert "HTTP 429, code 1113" in text and "top it up" in text
    assert len(fake.requests_to("chat/completions")) == 1


async def test_refused_key_hints_at_platform_settings(fake: FakeGLM) -> None:
    result = await chat(fake, {"prompt": "hi"}, api_key="someone-elses-key")
    assert result.is_error
    text = text_of(result)
    assert "code 1000" in text
    assert "GLM_PLATFORM" in text and "GLM_CODING_PLAN" in text


async def test_without_a_key_the_error_names_the_variables(fake: FakeGLM) -> None:
    result = await chat(fake, {"prompt": "hi"}, api_key=None)
    assert result.is_error
    assert "ZAI_API_KEY" in text_of(result) and "ZHIPUAI_API_KEY" in text_of(result)
    assert fake.requests == []


async def test_read_timeout_is_retried_then_reported(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(delay=1.0), Fault(delay=1.0))
    result = await chat(fake, {"prompt": "hi"}, timeout=0.3, max_retries=1)
    assert result.is_error
    assert "no data from the GLM API for 0.3 s (read timeout)" in text_of(result)
    assert "gave up after 2 attempts" in text_of(result)
    fake.script("chat/completions", Fault(delay=1.0))
    result = await chat(fake, {"prompt": "hi"}, timeout=0.3, max_retries=1)
    assert not result.is_error


async def test_malformed_json_is_a_tool_error_with_the_status(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(status=200, body="{not json", content_type="application/json"))
    result = await chat(fake, {"prompt": "hi"})
    assert result.is_error
    assert "GLM API returned a body that is not JSON (HTTP 200" in text_of(result)


async def test_cancelled_call_leaves_the_server_serving(fake: FakeGLM) -> None:
    fake.chunk_delay = 0.2
    async with in_process(fake) as client:
        with anyio.move_on_after(0.5) as scope:
            await client.call_tool("glm_chat", {"prompt": "a slow and long answer please"})
        assert scope.cancelled_caught
        fake.chunk_delay = 0.0
        result = await client.call_tool("glm_chat", {"prompt": "and now?"})
    assert not result.is_error
    assert len(fake.requests_to("chat/completions")) == 2


@pytest.mark.parametrize("role", ["user", "system", "tool"])
async def test_a_turn_without_content_is_refused_before_sending(fake: FakeGLM, role: str) -> None:
    turns = [{"role": "user", "content": "hi"}, {"role": role, "content": ""}]
    async with in_process(fake) as client:
        result = await client.call_tool("glm_chat", {"messages": turns})
    assert result.is_error
    assert text_of(result).endswith(f"messages[1] ({role}) has no content: give it text or drop it.")
    assert fake.requests == []
