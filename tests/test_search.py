"""`web_search` through an in-process MCP client: the wire body, the results, and errors never hidden."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import CallToolResult

from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio


async def search(fake: FakeGLM, arguments: dict[str, Any], **settings: Any) -> CallToolResult:
    async with in_process(fake, **settings) as client:
        return await client.call_tool("web_search", arguments)


async def test_results_and_wire_body(fake: FakeGLM) -> None:
    result = await search(
        fake,
        {
            "query": "mcp protocol",
            "count": 3,
            "domain_filter": "example.org",
            "recency": "oneWeek",
            "content_size": "high",
        },
    )
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("web_search")
    body = request.json
    assert body["search_query"] == "mcp protocol"
    assert body["search_engine"] == "search-prime"
    assert body["count"] == 3
    assert body["search_domain_filter"] == "example.org"
    assert body["search_recency_filter"] == "oneWeek"
    assert body["content_size"] == "high"
    assert body["request_id"].startswith("mcp-")
    structured = result.structured_content
    assert structured is not None
    assert structured["query"] == "mcp protocol"
    assert structured["engine"] == "search-prime"
    assert len(structured["results"]) == 3
    for hit in structured["results"]:
        assert hit["url"].startswith("https://")
        assert "example.org" in hit["url"]
        assert hit["title"]
        assert hit["content"]
    text = text_of(result)
    assert text.startswith('3 results for "mcp protocol" (search-prime):')
    assert structured["results"][0]["url"] in text


async def test_bigmodel_uses_its_own_engine(fake: FakeGLM) -> None:
    result = await search(fake, {"query": "天气"}, platform="bigmodel")
    assert not result.is_error
    assert fake.requests_to("web_search")[0].json["search_engine"] == "search_std"


async def test_explicit_engine_and_setting(fake: FakeGLM) -> None:
    await search(fake, {"query": "a", "engine": "search_pro"})
    await search(fake, {"query": "b"}, search_engine="search_pro_quark")
    engines = [request.json["search_engine"] for request in fake.requests_to("web_search")]
    assert engines == ["search_pro", "search_pro_quark"]


async def test_no_results_reads_as_such(fake: FakeGLM) -> None:
    fake.script(
        "web_search",
        Fault(status=200, body='{"id": "1", "search_result": null}', content_type="application/json"),
    )
    result = await search(fake, {"query": "nothing"})
    assert not result.is_error
    assert result.structured_content == {"query": "nothing", "engine": "search-prime", "results": []}
    assert text_of(result) == 'No results for "nothing" (search-prime).'


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


async def test_unknown_engine_is_refused_by_the_api(fake: FakeGLM) -> None:
    result = await search(fake, {"query": "x", "engine": "search_imaginary"})
    assert result.is_error
    assert "code 1211" in text_of(result)


async def test_bad_count_never_reaches_the_api(fake: FakeGLM) -> None:
    result = await search(fake, {"query": "x", "count": 500})
    assert result.is_error
    assert "invalid arguments: count: Input should be less than or equal to 50" in text_of(result)
    assert fake.requests == []
