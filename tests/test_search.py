"""`web_search` through an in-process MCP client and over stdio: each platform's fields and limits, the
wire body, the results, the search codes (1701-1703), and errors never hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.types import CallToolResult
from pydantic import ValidationError

from mcp_server_glm.glm.models import WebSearchOptions
from mcp_server_glm.settings import Settings
from tests.conftest import CANARY_KEY, in_process, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio


async def search(fake: FakeGLM, arguments: dict[str, Any], **settings: Any) -> CallToolResult:
    async with in_process(fake, **settings) as client:
        return await client.call_tool("web_search", arguments)


async def test_zai_wire_body_has_only_its_fields(fake: FakeGLM) -> None:
    result = await search(
        fake, {"query": "mcp protocol", "count": 3, "domain_filter": "example.org", "recency": "oneWeek"}
    )
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("web_search")
    body = request.json
    assert set(body) == {
        "search_query",
        "search_engine",
        "count",
        "search_domain_filter",
        "search_recency_filter",
        "request_id",
    }
    assert body["search_query"] == "mcp protocol"
    assert body["search_engine"] == "search-prime"
    assert body["count"] == 3
    assert body["search_domain_filter"] == "example.org"
    assert body["search_recency_filter"] == "oneWeek"
    assert body["request_id"].startswith("mcp-")
    structured = result.structured_content
    assert structured is not None
    assert structured["query"] == "mcp protocol"
    assert structured["engine"] == "search-prime"
    assert "intent" not in structured  # Z.AI answers no search_intent
    assert len(structured["results"]) == 3
    for hit in structured["results"]:
        assert hit["url"].startswith("https://")
        assert "example.org" in hit["url"]
        assert hit["title"]
        assert hit["content"]
    text = text_of(result)
    assert text.startswith('3 results for "mcp protocol" (search-prime):')
    assert structured["results"][0]["url"] in text


async def test_bigmodel_sends_search_intent_and_content_size_and_passes_the_intent_on(
    fake: FakeGLM,
) -> None:
    fake.platform = "bigmodel"
    result = await search(fake, {"query": "天气", "content_size": "high", "count": 2})
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("web_search")
    assert request.json["search_engine"] == "search_std"
    assert request.json["search_intent"] is False
    assert request.json["content_size"] == "high"
    structured = result.structured_content
    assert structured is not None
    assert structured["intent"] == [{"query": "天气", "intent": "SEARCH_ALL", "keywords": "天气"}]
    assert len(structured["results"][0]["content"]) > 2000  # content_size high reached the engine
    assert 'Intent: SEARCH_ALL (searched as "天气", keywords: 天气)' in text_of(result)


async def test_explicit_engine_and_setting(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    await search(fake, {"query": "a", "engine": "search_pro"})
    await search(fake, {"query": "b"}, search_engine="search_pro_quark")
    await search(fake, {"query": "c", "engine": "search_pro_sogou", "count": 20})
    engines = [request.json["search_engine"] for request in fake.requests_to("web_search")]
    assert engines == ["search_pro", "search_pro_quark", "search_pro_sogou"]


@pytest.mark.parametrize(
    ("platform", "arguments", "words"),
    [
        ("zai", {"engine": "search_std"}, "Z.AI's Web Search has no engine 'search_std' (a BigModel engine)"),
        ("zai", {"engine": "search_pro_jina"}, "has no engine 'search_pro_jina': use search-prime."),
        (
            "bigmodel",
            {"engine": "search-prime"},
            "BigModel's Web Search has no engine 'search-prime' (a Z.AI",
        ),
        ("zai", {"content_size": "high"}, "Z.AI's Web Search has no content_size (a BigModel option)"),
        (
            "bigmodel",
            {"query": "q" * 71},
            "The query is 71 characters; BigModel's Web Search takes at most 70",
        ),
        (
            "bigmodel",
            {"engine": "search_pro_sogou", "count": 5},
            "search_pro_sogou takes count 10, 20, 30, 40 or 50, not 5",
        ),
    ],
)
async def test_what_the_platform_refuses_is_refused_here_in_one_line(
    fake: FakeGLM, platform: str, arguments: dict[str, Any], words: str
) -> None:
    fake.platform = platform
    result = await search(fake, {"query": "x", **arguments})
    assert result.is_error
    assert words in text_of(result)
    assert "\n" not in text_of(result)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("platform", "body", "code", "words"),
    [
        ("zai", {"search_engine": "search_std"}, "1211", ""),
        ("zai", {"search_engine": "search-prime", "content_size": "high"}, "1210", "content_size"),
        ("zai", {"search_engine": "search-prime", "search_intent": False}, "1210", "search_intent"),
        ("bigmodel", {"search_engine": "search-prime", "search_intent": False}, "1211", ""),
        ("bigmodel", {"search_engine": "search_std"}, "1214", "search_intent"),
        (
            "bigmodel",
            {"search_engine": "search_std", "search_intent": False, "search_query": "q" * 71},
            "1210",  # maxLength 70: a range
            "search_query",
        ),
        (
            "bigmodel",
            {"search_engine": "search_pro_sogou", "search_intent": False, "count": 15},
            "1210",  # sogou's count is an enum of 10, 20, 30, 40, 50
            "count",
        ),
    ],
)
def test_the_fake_refuses_what_each_platform_refuses(
    fake: FakeGLM, platform: str, body: dict[str, Any], code: str, words: str
) -> None:
    fake.platform = platform
    with httpx2.Client(headers={"Authorization": f"Bearer {CANARY_KEY}"}) as http:
        answer = http.post(f"{fake.base_url}/web_search", json={"search_query": "q", **body})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"].startswith(words)


def test_a_configured_engine_of_the_other_platform_is_refused() -> None:
    with pytest.raises(ValidationError) as zai:
        Settings(platform="zai", search_engine="search_std")
    assert "'search_std' is not an engine of zai: use search-prime" in str(zai.value)
    with pytest.raises(ValidationError) as bigmodel:
        Settings(platform="bigmodel", chat_search_engine="search_pro_jina")
    assert "'search_pro_jina' is not an engine of bigmodel: use search_std, " in str(bigmodel.value)
    assert Settings(platform="bigmodel", search_engine="search_pro").default_search_engine == "search_pro"


async def test_no_results_reads_as_such(fake: FakeGLM) -> None:
    fake.script(
        "web_search",
        Fault(status=200, body='{"id": "1", "search_result": null}', content_type="application/json"),
    )
    result = await search(fake, {"query": "nothing"})
    assert not result.is_error
    note = "nothing matched: broaden or rephrase the query."
    assert result.structured_content == {
        "query": "nothing",
        "engine": "search-prime",
        "results": [],
        "note": note,
    }
    assert text_of(result) == f'No results for "nothing" (search-prime): {note}'


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault(status=429, code="1113"), "code 1113"),
        (Fault(status=429, code="1304"), "daily call limit"),
        (Fault(status=400, code="1211"), "model name is unknown"),
    ],
)
async def test_account_errors_surface_instead_of_empty_results(
    fake: FakeGLM, fault: Fault, words: str
) -> None:
    fake.script("web_search", fault)
    result = await search(fake, {"query": "anything"})
    assert result.is_error
    assert words in text_of(result)
    assert len(fake.requests_to("web_search")) == 1


@pytest.mark.parametrize("status", [429, 400], ids=["http-429", "http-400"])
async def test_search_concurrency_limit_is_retried(fake: FakeGLM, status: int) -> None:
    fake.script("web_search", Fault(status=status, code="1701"))  # the code decides, whatever the status
    result = await search(fake, {"query": "busy"})
    assert not result.is_error, text_of(result)
    assert len(fake.requests_to("web_search")) == 2


async def test_no_engine_available_is_one_line(fake: FakeGLM) -> None:
    fake.script("web_search", Fault(code="1702"))
    result = await search(fake, {"query": "anything"})
    assert result.is_error
    text = text_of(result)
    assert "code 1702" in text
    assert "No search engine is available for this search now: try another engine, or again later" in text
    assert "\n" not in text
    assert len(fake.requests_to("web_search")) == 1


@pytest.mark.parametrize("status", [400, 200], ids=["http-400", "http-200-envelope"])
async def test_engine_without_data_is_an_empty_result_with_a_note(fake: FakeGLM, status: int) -> None:
    fake.script("web_search", Fault(status=status, code="1703"))
    result = await search(fake, {"query": "nothing"})
    assert not result.is_error, text_of(result)
    note = "the engine returned no data (code 1703): broaden or rephrase the query."
    assert result.structured_content == {
        "query": "nothing",
        "engine": "search-prime",
        "results": [],
        "note": note,
    }
    assert text_of(result) == f'No results for "nothing" (search-prime): {note}'
    assert len(fake.requests_to("web_search")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_platform_rules_and_search_codes_over_stdio(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    fake.platform = "bigmodel"
    fake.script("web_search", Fault(code="1701"))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log", mode=mode) as client:
        long = await client.call_tool("web_search", {"query": "长" * 71})
        assert long.is_error
        assert "The query is 71 characters; BigModel's Web Search takes at most 70" in text_of(long)
        assert fake.requests == []

        found = await client.call_tool("web_search", {"query": "retried once", "count": 10})
        assert not found.is_error, text_of(found)
        assert found.structured_content is not None
        assert found.structured_content["intent"][0]["intent"] == "SEARCH_ALL"
        assert "Intent: SEARCH_ALL" in text_of(found)
        assert len(fake.requests_to("web_search")) == 2  # 1701, then the answer
        assert fake.requests_to("web_search")[-1].json["search_intent"] is False

        fake.script("web_search", Fault(code="1702"), Fault(code="1703"))
        unavailable = await client.call_tool("web_search", {"query": "no engine"})
        assert unavailable.is_error
        assert "code 1702" in text_of(unavailable)
        empty = await client.call_tool("web_search", {"query": "no data"})
        assert not empty.is_error
        assert empty.structured_content is not None
        assert empty.structured_content["results"] == []
        assert "code 1703" in empty.structured_content["note"]
    fake.platform = "zai"
    async with over_stdio(server_env(fake), tmp_path / "stderr-zai.log", mode=mode) as client:
        sized = await client.call_tool("web_search", {"query": "x", "content_size": "medium"})
        assert sized.is_error
        assert "Z.AI's Web Search has no content_size" in text_of(sized)
        plain = await client.call_tool("web_search", {"query": "x"})
        assert not plain.is_error
        assert "search_intent" not in fake.requests_to("web_search")[-1].json


async def test_bad_count_never_reaches_the_api(fake: FakeGLM) -> None:
    result = await search(fake, {"query": "x", "count": 500})
    assert result.is_error
    assert "invalid arguments: count: Input should be less than or equal to 50" in text_of(result)
    assert fake.requests == []


# The fields of Z.AI's WebSearchObject, the chat's built-in web_search tool.
WEB_SEARCH_OBJECT = {
    "enable",
    "search_engine",
    "search_query",
    "count",
    "search_domain_filter",
    "search_recency_filter",
    "content_size",
    "result_sequence",
    "search_result",
    "require_search",
    "search_prompt",
}


def test_the_chat_search_tool_sends_only_fields_of_its_schema() -> None:
    options = WebSearchOptions(search_engine="search_pro_jina", count=5, search_recency_filter="oneDay")
    tool = options.as_tool()
    assert tool["type"] == "web_search"
    assert set(tool["web_search"]) <= WEB_SEARCH_OBJECT
    assert tool["web_search"]["search_engine"] == "search_pro_jina"
    for wrong in ({"count": 51}, {"count": 0}, {"search_recency_filter": "oneHour"}):
        with pytest.raises(ValidationError):
            WebSearchOptions.model_validate({"search_engine": "search_pro_jina", **wrong})
