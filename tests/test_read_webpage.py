"""`read_webpage` in process: what reaches GLM's reader, what is refused before anything is sent, long
pages cut inline and saved whole, and both kinds of host given the whole answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.types import ResourceLink, TextResourceContents

from tests.conftest import CANARY_KEY, in_process, text_of
from tests.fake_glm import FakeGLM, Page

pytestmark = pytest.mark.anyio

ARTICLE = Page(
    title="An article",
    markdown="# An article\n\nSee [the docs](https://docs.example.com/) and ![a chart](https://example.com/c.png).",
    description="About things.",
    published="2026-11-30T08:00:00Z",
)


@pytest.fixture(params=["zai", "bigmodel"])
def platform(request: pytest.FixtureRequest, fake: FakeGLM) -> str:
    fake.platform = request.param
    return str(request.param)


async def test_a_page_comes_back_as_markdown_with_its_title_date_links_and_images(
    fake: FakeGLM, platform: str
) -> None:
    fake.pages["https://example.com/a"] = ARTICLE
    async with in_process(fake) as client:
        read = await client.call_tool(
            "read_webpage", {"url": "https://example.com/a", "links": True, "images": True}
        )
    assert not read.is_error, text_of(read)
    [request] = fake.requests_to("reader")
    assert request.json == {
        "url": "https://example.com/a",
        "return_format": "markdown",
        "with_links_summary": True,
        "with_images_summary": True,
    }
    seen = read.structured_content
    assert seen is not None
    assert seen["title"] == "An article"
    assert seen["description"] == "About things."
    assert seen["published_time"] == "2026-11-30T08:00:00Z"
    assert seen["content"] == ARTICLE.markdown
    assert seen["links"] == {"the docs": "https://docs.example.com/"}
    assert seen["images"] == {"a chart": "https://example.com/c.png"}
    assert "truncated" not in seen
    text = text_of(read)  # a host that shows only the text sees the same page
    for part in ("# An article", "2026-11-30T08:00:00Z", "About things.", ARTICLE.markdown):
        assert part in text
    assert "- the docs: https://docs.example.com/" in text
    assert "- a chart: https://example.com/c.png" in text


async def test_text_format_and_no_summaries_unless_asked(fake: FakeGLM) -> None:
    fake.pages["https://example.com/a"] = ARTICLE
    async with in_process(fake) as client:
        read = await client.call_tool("read_webpage", {"url": "https://example.com/a", "format": "text"})
    [request] = fake.requests_to("reader")
    assert request.json == {"url": "https://example.com/a", "return_format": "text"}
    assert read.structured_content is not None
    assert "](" not in read.structured_content["content"]
    assert "links" not in read.structured_content


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///etc/passwd", "http(s) URLs only"),
        ("ftp://example.com/x", "http(s) URLs only"),
        ("example.com/page", "http(s) URLs only"),
        ("http://localhost:8080/admin", "is this machine"),
        ("http://127.0.0.1/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("HTTP://[::ffff:127.0.0.1]/", "page URL"),
    ],
)
async def test_urls_that_are_not_public_web_pages_are_refused_before_anything_is_sent(
    fake: FakeGLM, url: str, says: str
) -> None:
    async with in_process(fake) as client:
        refused = await client.call_tool("read_webpage", {"url": url})
    assert refused.is_error
    line = text_of(refused)
    assert says in line
    assert "\n" not in line
    assert fake.requests == []


async def test_a_long_page_is_cut_inline_and_saved_whole_with_a_link(fake: FakeGLM, tmp_path: Path) -> None:
    body = "".join(f"Paragraph {n}. " + "word " * 20 + "\n\n" for n in range(400))
    fake.pages["https://example.com/long"] = Page(title="Long", markdown=body)
    async with in_process(fake, max_inline_chars=5000) as client:
        read = await client.call_tool("read_webpage", {"url": "https://example.com/long"})
        assert not read.is_error, text_of(read)
        seen = read.structured_content
        assert seen is not None
        assert seen["truncated"] is True
        assert seen["characters"] == len(body)
        assert seen["content"] == body[:5000]
        saved = Path(seen["file"])
        assert saved.parent == tmp_path / "data" / "media"
        assert saved.name.startswith("page-") and saved.suffix == ".md"  # never named from the URL
        assert saved.read_text(encoding="utf-8") == body
        [link] = [block for block in read.content if isinstance(block, ResourceLink)]
        assert str(link.uri) == f"glm://media/{saved.name}"
        assert link.mime_type == "text/markdown"
        assert f"glm://media/{saved.name}" in seen["note"]  # a structured-only host learns where it is
        assert str(saved) in text_of(read)
        [contents] = (await client.read_resource(str(link.uri))).contents
    assert isinstance(contents, TextResourceContents)
    assert contents.text == body


async def test_an_unreachable_page_is_one_line_naming_the_url(fake: FakeGLM) -> None:
    fake.pages["https://gone.example.com/"] = None  # the fake answers 400, code 1214
    async with in_process(fake) as client:
        refused = await client.call_tool("read_webpage", {"url": "https://gone.example.com/"})
        usage = await _usage(client)
    assert refused.is_error
    line = text_of(refused)
    assert "https://gone.example.com/" in line
    assert "code 1214" in line
    assert "\n" not in line
    assert usage == []  # nothing was read, nothing counted


async def test_each_page_read_is_counted_in_usage(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        for url in ("https://example.com/1", "https://example.com/2"):
            assert not (await client.call_tool("read_webpage", {"url": url})).is_error
        usage = await _usage(client)
    [row] = usage
    assert (row["tool"], row["model"], row["calls"], row["units"], row["unit"]) == (
        "read_webpage",
        "reader",
        2,
        2,
        "pages",
    )


async def _usage(client: Any) -> list[dict[str, Any]]:
    [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    rows: list[dict[str, Any]] = json.loads(contents.text)
    return rows


async def test_a_coding_plan_key_without_balance_is_told_what_reading_needs(fake: FakeGLM) -> None:
    fake.coding_keys = {CANARY_KEY}
    async with in_process(fake, base_url=fake.coding_base_url) as client:
        refused = await client.call_tool("read_webpage", {"url": "https://example.com/"})
        parsed = await client.call_tool("parse_document", {"file": "https://example.com/a.pdf"})
    for result, what in ((refused, "reading web pages"), (parsed, "document parsing")):
        line = text_of(result)
        assert result.is_error and "1113" in line and what in line, line
        assert "\n" not in line
