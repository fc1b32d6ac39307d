"""What the model is given, for each outcome of glm_chat, web_search and transcribe, by both kinds of host:
one that shows it the text block, and one that shows it only `JSON.stringify(structuredContent)`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp.types import CallToolResult, TextContent

from tests.conftest import over_stdio, server_env, wav_file
from tests.fake_glm import FakeGLM, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FULL_ANSWER = "Fake GLM answer to: a long answer please"


def text_host(result: CallToolResult) -> str:
    """What a host that shows text gives the model: the text blocks."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured_host(result: CallToolResult) -> dict[str, Any]:
    """What Claude Code, VS Code Copilot and Copilot CLI give the model of a successful call: the
    structured content as JSON text, the text block dropped (read back here to assert on fields)."""
    assert not result.is_error, text_host(result)
    assert result.structured_content is not None
    seen: dict[str, Any] = json.loads(json.dumps(result.structured_content))
    return seen


Call = Callable[[str, dict[str, Any]], Awaitable[CallToolResult]]


@asynccontextmanager
async def host(env: dict[str, str], stderr: Path, mode: str = "auto") -> AsyncIterator[Call]:
    """The installed server over stdio; each successful result is checked against its tool's output schema."""
    async with over_stdio(env, stderr, mode=mode) as client:
        schemas = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}

        async def call(tool: str, arguments: dict[str, Any]) -> CallToolResult:
            result = await client.call_tool(tool, arguments)
            if not result.is_error:
                jsonschema.validate(result.structured_content, schemas[tool] or {})
            return result

        yield call


async def test_glm_chat_outcomes_reach_both_kinds_of_host(fake: FakeGLM, tmp_path: Path) -> None:
    async with host(server_env(fake), tmp_path / "stderr.log") as call:
        # A whole answer: the answer alone, no note, no reasoning (glm-5.3 thinks, nobody asked to see it).
        whole = await call("glm_chat", {"prompt": "What is 2+2?"})
        assert text_host(whole) == "Fake GLM answer to: What is 2+2?"
        seen = structured_host(whole)
        assert seen["content"] == "Fake GLM answer to: What is 2+2?"
        assert seen["finish_reason"] == "stop"
        assert "note" not in seen and "reasoning" not in seen
        assert "Thinking about" not in json.dumps(seen)

        # Thinking asked for: the reasoning in both.
        thought = await call("glm_chat", {"prompt": "why?", "thinking": True, "model": "glm-5.1"})
        assert text_host(thought).startswith("Reasoning:\nThinking about: why?\n\nAnswer:\n\nFake GLM answer")
        seen = structured_host(thought)
        assert seen["reasoning"] == "Thinking about: why?"
        assert seen["content"] == "Fake GLM answer to: why?"
        assert "note" not in seen

        # Cut at max_tokens: what happened and what to do, with the model's limit.
        cut = await call("glm_chat", {"prompt": "one two three four five six", "max_tokens": 3})
        advice = "max_tokens was 3; raise it (glm-5.3 takes up to 131072) or ask for a shorter answer."
        assert text_host(cut).endswith(f"[The answer was cut off (finish_reason length): {advice}]")
        seen = structured_host(cut)
        assert seen["finish_reason"] == "length"
        assert seen["note"] == f"The answer was cut off (finish_reason length): {advice}"
        assert seen["content"] and seen["content"] in "Fake GLM answer to: one two three four five six"

        # Cut at the default output limit, and at a max_tokens already at the model's limit.
        fake.script("chat/completions", Fault(finish_reason="length"), Fault(finish_reason="length"))
        default = structured_host(await call("glm_chat", {"prompt": "write a book"}))
        assert "set max_tokens (up to 131072)" in default["note"]
        at_limit = await call("glm_chat", {"prompt": "write a book", "max_tokens": 131072})
        assert "max_tokens 131072 is already glm-5.3's limit; ask for a shorter answer" in text_host(at_limit)
        assert "already glm-5.3's limit" in structured_host(at_limit)["note"]

        # The context window filled up: raising max_tokens would not help, shortening does.
        fake.script("chat/completions", Fault(finish_reason="model_context_window_exceeded"))
        full = await call("glm_chat", {"prompt": "a long conversation"})
        assert "shorten the conversation" in text_host(full)
        seen = structured_host(full)
        assert seen["finish_reason"] == "model_context_window_exceeded"
        assert "context window; shorten the conversation or ask for a shorter answer" in seen["note"]

        # A stream broken mid-answer: the part that arrived, never a clean-looking success.
        fake.script("chat/completions", Fault(cut_after=9))
        broken = await call("glm_chat", {"prompt": "a long answer please"})
        text = text_host(broken)
        assert "[INCOMPLETE ANSWER: the connection broke mid-answer" in text
        assert "ask again for the whole answer.]" in text
        seen = structured_host(broken)
        assert seen["finish_reason"] == "incomplete"
        assert seen["note"].startswith("INCOMPLETE ANSWER: the connection broke mid-answer")
        assert seen["note"].endswith("Only the part that arrived is here; ask again for the whole answer.")
        assert seen["content"] and FULL_ANSWER.startswith(seen["content"]) and seen["content"] != FULL_ANSWER

        # The platform's own network_error mid-answer.
        fake.script("chat/completions", Fault(finish_reason="network_error", cut_after=9))
        failed = await call("glm_chat", {"prompt": "a long answer please"})
        assert "[INCOMPLETE ANSWER: the platform reported a network error" in text_host(failed)
        seen = structured_host(failed)
        assert seen["finish_reason"] == "network_error"
        assert seen["note"].startswith("INCOMPLETE ANSWER: the platform reported a network error")

        # A finished answer with no text: said so, with what to do.
        fake.script("chat/completions", Fault(content=""))
        empty = await call("glm_chat", {"prompt": "say nothing"})
        assert text_host(empty) == "[The model returned no answer text: ask again, or rephrase the request.]"
        seen = structured_host(empty)
        assert seen["content"] == ""
        assert seen["note"] == "The model returned no answer text: ask again, or rephrase the request."

        # Built-in web search: the answer's [ref_N] citations resolve to pages in both.
        searched = await call("glm_chat", {"prompt": "news today", "web_search": True})
        seen = structured_host(searched)
        assert "[ref_1]" in seen["content"]
        [cited] = [source for source in seen["sources"] if source["ref"] == "ref_1"]
        assert cited["url"].startswith("https://") and cited["title"]
        assert f"[ref_1] {cited['title']} - {cited['url']}" in text_host(searched)

        # The content filter: an error, which every host shows as text (there is no structured content).
        fake.script("chat/completions", Fault(finish_reason="sensitive", cut_after=2))
        filtered = await call("glm_chat", {"prompt": "something"})
        assert filtered.is_error and filtered.structured_content is None
        line = text_host(filtered)
        assert "\n" not in line
        assert "stopped by the content filter" in line and "rephrase the request" in line


async def test_web_search_outcomes_reach_both_kinds_of_host(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    async with host(server_env(fake), tmp_path / "stderr.log", mode="legacy") as call:
        found = await call("web_search", {"query": "mcp servers", "count": 10})
        text = text_host(found)
        assert text.startswith('10 results for "mcp servers" (search_std):')
        assert "Intent: SEARCH_ALL" in text
        seen = structured_host(found)
        assert (seen["query"], seen["engine"], len(seen["results"])) == ("mcp servers", "search_std", 10)
        assert seen["intent"][0]["intent"] == "SEARCH_ALL"
        for hit in seen["results"]:
            assert hit["title"] and hit["content"] and hit["url"] in text
        assert "note" not in seen

        # Nothing found: both say so and what to change, naming the filters the search used.
        fake.script(
            "web_search",
            Fault(status=200, body='{"id": "1", "search_result": []}', content_type="application/json"),
        )
        arguments = {"query": "nothing", "domain_filter": "example.org", "recency": "oneWeek"}
        nothing = await call("web_search", arguments)
        advice = "broaden or rephrase the query, or drop domain_filter and widen recency (oneWeek)."
        assert text_host(nothing) == f'No results for "nothing" (search_std): nothing matched: {advice}'
        seen = structured_host(nothing)
        assert seen["results"] == []
        assert seen["note"] == f"nothing matched: {advice}"

        # The engine had no data (1703): an empty result whose note says so.
        fake.script("web_search", Fault(code="1703"))
        no_data = await call("web_search", {"query": "no data"})
        note = "the engine returned no data (code 1703): broaden or rephrase the query."
        assert text_host(no_data) == f'No results for "no data" (search_std): {note}'
        seen = structured_host(no_data)
        assert seen["results"] == [] and seen["note"] == note


async def test_transcribe_outcomes_reach_both_kinds_of_host(
    fake: FakeGLM, tmp_path: Path, isolated_dirs: Path
) -> None:
    audio = isolated_dirs / "speech.wav"
    audio.write_bytes(wav_file(b"\x01\x00" * 8000 * 3))
    async with host(server_env(fake), tmp_path / "stderr.log") as call:
        heard = await call("transcribe", {"file": str(audio)})
        assert text_host(heard) == "Transcript of 3.00 s of audio."
        seen = structured_host(heard)
        assert seen["text"] == "Transcript of 3.00 s of audio."
        assert (seen["duration_seconds"], seen["chunks"]) == (3.0, 1)
        assert "note" not in seen

        fake.script("audio/transcriptions", Fault(content=""))
        silent = await call("transcribe", {"file": str(audio)})
        note = (
            "no speech was recognised in 3.0 s of audio: check that the file holds audible speech "
            "(not silence or music) and is the file meant."
        )
        assert text_host(silent) == f"({note})"
        seen = structured_host(silent)
        assert seen["text"] == ""
        assert seen["note"] == note
