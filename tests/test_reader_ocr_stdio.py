"""`read_webpage` and `parse_document` end to end, over stdio with the installed server, on both platforms:
success seen by both kinds of host (each result valid against its tool's output schema), every refusal
and upstream failure one line, a 150-page PDF parsed in the platform's ranges with progress, and the
usage counted in glm://usage."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from tests import samples
from tests.conftest import CANARY_KEY, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault, Page

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(params=["zai", "bigmodel"])
def platform(request: pytest.FixtureRequest, fake: FakeGLM) -> str:
    fake.platform = request.param
    return str(request.param)


async def schemas_of(client: Client) -> dict[str, Any]:
    return {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}


def both_hosts(result: CallToolResult, schema: Any) -> tuple[str, dict[str, Any]]:
    """What a text host and a structured-only host give the model, the latter checked against the schema."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    jsonschema.validate(result.structured_content, schema)
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    return text, json.loads(json.dumps(result.structured_content))


def one_line(result: CallToolResult) -> str:
    assert result.is_error
    line = text_of(result)
    assert "\n" not in line and "Traceback" not in line
    return line


async def usage(client: Client) -> dict[str, dict[str, Any]]:
    [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    return {row["tool"]: row for row in json.loads(contents.text)}


async def test_both_tools_succeed_and_are_counted(
    fake: FakeGLM, platform: str, isolated_dirs: Path, tmp_path: Path
) -> None:
    fake.pages["https://example.com/a"] = Page(
        title="A page", markdown="# A page\n\nBody [link](https://example.com/b).", published="2026-01-02"
    )
    document = isolated_dirs / "scan.pdf"
    document.write_bytes(samples.pdf(2))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        schemas = await schemas_of(client)
        read = await client.call_tool("read_webpage", {"url": "https://example.com/a", "links": True})
        parsed = await client.call_tool("parse_document", {"file": str(document)})
        counted = await usage(client)
    text, seen = both_hosts(read, schemas["read_webpage"])
    assert seen["title"] == "A page" and seen["published_time"] == "2026-01-02"
    assert seen["links"] == {"link": "https://example.com/b"}
    assert "# A page" in text and "2026-01-02" in text and "https://example.com/b" in text
    text, seen = both_hosts(parsed, schemas["parse_document"])
    assert seen["pages"] == 2 and len(seen["blocks"]) == 10
    assert "## Page 2" in seen["markdown"] and "## Page 2" in text
    [request] = fake.requests_to("layout_parsing")
    assert base64.b64decode(request.json["file"]) == samples.pdf(2)
    assert counted["read_webpage"]["units"] == 1 and counted["read_webpage"]["unit"] == "pages"
    assert counted["parse_document"]["unit"] == "tokens" and counted["parse_document"]["units"] > 2 * 1200


async def test_a_150_page_pdf_is_parsed_in_ranges_with_progress(
    fake: FakeGLM, platform: str, isolated_dirs: Path, tmp_path: Path
) -> None:
    document = isolated_dirs / "book.pdf"
    document.write_bytes(samples.pdf(150))
    updates: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(message or "")

    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        schemas = await schemas_of(client)
        parsed = await client.call_tool(
            "parse_document", {"file": str(document)}, progress_callback=on_progress
        )
    _, seen = both_hosts(parsed, schemas["parse_document"])
    size = 30 if platform == "zai" else 100
    expected = [(start, min(150, start + size - 1)) for start in range(1, 151, size)]
    assert fake.parsed_pages == expected
    requests = fake.requests_to("layout_parsing")
    assert [(r.json["start_page_id"], r.json["end_page_id"]) for r in requests] == expected
    assert all(base64.b64decode(r.json["file"]) == document.read_bytes() for r in requests)
    markdown: str = seen["markdown"]
    assert [markdown.index(f"## Page {n}\n") for n in (1, 31, 101, 150)] == sorted(
        markdown.index(f"## Page {n}\n") for n in (1, 31, 101, 150)
    )
    for start, end in expected:
        assert any(message.startswith(f"parsing pages {start}-{end}") for message in updates), updates
    assert updates[-1] == f"parsed pages 1-150 in {len(expected)} requests"


async def test_refusals_and_upstream_failures_are_one_line(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path
) -> None:
    gif = isolated_dirs / "anim.gif"
    gif.write_bytes(samples.GIF)
    document = isolated_dirs / "ten.pdf"
    document.write_bytes(samples.pdf(10))
    fake.pages["https://gone.example.com/"] = None
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:

        async def read(url: str = "https://example.com/") -> CallToolResult:
            return await client.call_tool("read_webpage", {"url": url})

        async def parse(**arguments: Any) -> CallToolResult:
            return await client.call_tool("parse_document", {"file": str(document), **arguments})

        # Refused here, before anything is sent.
        assert "http(s) URLs only" in one_line(await read("file:///etc/passwd"))
        assert "is this machine" in one_line(await read("http://localhost:9/"))
        assert "is not a document (it is a GIF image)" in one_line(
            await client.call_tool("parse_document", {"file": str(gif)})
        )
        assert "link-local" in one_line(
            await client.call_tool("parse_document", {"file": "http://169.254.169.254/x.pdf"})
        )
        assert "start_page (4) is after end_page (3)" in one_line(await parse(start_page=4, end_page=3))
        assert fake.requests == []
        # The reader cannot reach the page: 400, code 1214, the URL named.
        gone = one_line(await read("https://gone.example.com/"))
        assert "https://gone.example.com/" in gone and "1214" in gone
        # A page past the document's end: the API's 400, code 1210.
        assert "1210" in one_line(await parse(start_page=11))
        # Busy (429, 1302): retried, then read.
        fake.script("reader", Fault(status=429, code="1302"))
        assert not (await read()).is_error
        fake.script("layout_parsing", Fault(status=429, code="1302"))
        assert not (await parse()).is_error
        # The platform failed (500): one line, not re-sent (the page may have been billed).
        for route, call in (("reader", read), ("layout_parsing", parse)):
            before = len(fake.requests_to(route))
            fake.script(route, Fault(status=500))
            failed = one_line(await call())
            assert "HTTP 500" in failed
            assert len(fake.requests_to(route)) == before + 1
        # No balance (1113).
        fake.script("reader", Fault(status=429, code="1113"))
        assert "1113" in one_line(await read())
        fake.script("layout_parsing", Fault(status=429, code="1113"))
        assert "1113" in one_line(await parse())
        # The key is refused (401): the line names the settings to check.
        fake.api_keys = {"another-key"}
        for failed in (one_line(await read()), one_line(await parse())):
            assert "401" in failed and "Settings to check" in failed
            assert CANARY_KEY not in failed
        fake.api_keys = {CANARY_KEY}
        counted = await usage(client)
    # Only the calls that were answered are counted: the retried read and parse.
    assert counted["read_webpage"]["calls"] == 1
    assert counted["parse_document"]["calls"] == 1


async def test_a_range_that_fails_after_others_keeps_the_pages_parsed(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path
) -> None:
    document = isolated_dirs / "book.pdf"
    document.write_bytes(samples.pdf(70))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        schemas = await schemas_of(client)
        fake.script("layout_parsing", Fault(), Fault(status=500))  # the second range fails
        parsed = await client.call_tool("parse_document", {"file": str(document)})
    text, seen = both_hosts(parsed, schemas["parse_document"])
    assert fake.parsed_pages == [(1, 30)]
    assert (seen["start_page"], seen["end_page"], seen["pages"]) == (1, 30, 70)
    assert "pages 31-70 were not parsed" in seen["note"] and "start_page=31" in seen["note"]
    assert "start_page=31" in text
