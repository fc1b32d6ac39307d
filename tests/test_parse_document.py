"""`parse_document` in process: local PDFs and images (confined and sniffed), data URLs and public URLs
sent to GLM-OCR, long PDFs parsed in the platform's page ranges one request at a time and joined in
order, the layout blocks capped, long Markdown saved whole, every refusal one line before anything is
sent."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from mcp.types import ResourceLink, TextResourceContents

from mcp_server_glm.glm import catalog
from tests import samples
from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

PER_REQUEST = {"zai": 30, "bigmodel": 100}


@pytest.fixture(params=["zai", "bigmodel"])
def platform(request: pytest.FixtureRequest, fake: FakeGLM) -> str:
    fake.platform = request.param
    return str(request.param)


def ranges(first: int, last: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(last, start + size - 1)) for start in range(first, last + 1, size)]


def test_the_page_limits_are_the_catalogues() -> None:
    ocr = catalog.find("glm-ocr")
    assert ocr is not None
    assert {p: ocr.pages_on(p) for p in PER_REQUEST} == PER_REQUEST


async def test_a_small_local_pdf_is_one_request_with_its_blocks(fake: FakeGLM, isolated_dirs: Path) -> None:
    document = isolated_dirs / "three.pdf"
    document.write_bytes(samples.pdf(3))
    async with in_process(fake) as client:
        parsed = await client.call_tool("parse_document", {"file": str(document)})
    assert not parsed.is_error, text_of(parsed)
    [request] = fake.requests_to("layout_parsing")
    assert request.json["model"] == "glm-ocr"
    assert base64.b64decode(request.json["file"]) == document.read_bytes()  # bare base64, no data: prefix
    assert (request.json["start_page_id"], request.json["end_page_id"]) == (1, 30)
    seen = parsed.structured_content
    assert seen is not None
    assert (seen["pages"], seen["start_page"], seen["end_page"]) == (3, 1, 3)
    assert [f"## Page {n}" in seen["markdown"] for n in (1, 2, 3)] == [True] * 3
    assert len(seen["blocks"]) == 15
    labels = {block["label"] for block in seen["blocks"]}
    assert labels == {"text", "table", "formula", "image"}
    table = next(block for block in seen["blocks"] if block["label"] == "table" and block["page"] == 2)
    assert table["bbox"] == [0.1, 0.35, 0.9, 0.6]
    assert "<table>" in table["content"]
    assert "note" not in seen
    text = text_of(parsed)  # a text-only host sees the Markdown and what the blocks hold
    assert seen["markdown"] in text
    assert "pages 1-3 of 3" in text
    assert "15 layout blocks" in text


@pytest.mark.parametrize(("name", "data"), [("scan.png", samples.PNG), ("scan.jpg", samples.JPEG)])
async def test_an_image_is_one_page_without_page_ids(
    fake: FakeGLM, isolated_dirs: Path, name: str, data: bytes
) -> None:
    image = isolated_dirs / name
    image.write_bytes(data)
    async with in_process(fake) as client:
        parsed = await client.call_tool("parse_document", {"file": str(image)})
    assert not parsed.is_error, text_of(parsed)
    [request] = fake.requests_to("layout_parsing")
    assert "start_page_id" not in request.json and "end_page_id" not in request.json
    assert base64.b64decode(request.json["file"]) == data
    assert parsed.structured_content is not None
    assert parsed.structured_content["pages"] == 1


async def test_a_long_pdf_is_parsed_in_ranges_in_order_with_progress(
    fake: FakeGLM, platform: str, isolated_dirs: Path
) -> None:
    document = isolated_dirs / "long.pdf"
    document.write_bytes(samples.pdf(150))
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with in_process(fake) as client:
        parsed = await client.call_tool(
            "parse_document", {"file": str(document)}, progress_callback=on_progress
        )
    assert not parsed.is_error, text_of(parsed)
    expected = ranges(1, 150, PER_REQUEST[platform])
    assert fake.parsed_pages == expected
    sent = [(r.json["start_page_id"], r.json["end_page_id"]) for r in fake.requests_to("layout_parsing")]
    assert sent == expected
    seen = parsed.structured_content
    assert seen is not None
    markdown: str = seen["markdown"]
    positions = [markdown.index(f"## Page {n}\n") for n in range(1, 151)]
    assert positions == sorted(positions)  # joined in page order
    assert (seen["pages"], seen["start_page"], seen["end_page"]) == (150, 1, 150)
    # 750 blocks found, 200 kept, and the result says so; it stays far under 1 MiB.
    assert len(seen["blocks"]) == 200
    assert "200 of 750 layout blocks" in seen["note"]
    assert len(json.dumps(seen)) < 256 * 1024
    messages = [message for _, _, message in updates if message]
    for start, end in expected:
        assert any(message.startswith(f"parsing pages {start}-{end}") for message in messages), messages
    values = [value for value, _, _ in updates]
    assert values == sorted(set(values))


async def test_a_page_range_is_split_from_its_first_page(fake: FakeGLM, isolated_dirs: Path) -> None:
    document = isolated_dirs / "long.pdf"
    document.write_bytes(samples.pdf(150))
    async with in_process(fake) as client:
        parsed = await client.call_tool(
            "parse_document", {"file": str(document), "start_page": 31, "end_page": 95}
        )
        past = await client.call_tool(
            "parse_document", {"file": str(document), "start_page": 140, "end_page": 900}
        )
    assert not parsed.is_error, text_of(parsed)
    assert fake.parsed_pages == [(31, 60), (61, 90), (91, 95), (140, 150)]
    assert parsed.structured_content is not None
    assert parsed.structured_content["blocks"][0]["page"] == 31
    assert (parsed.structured_content["start_page"], parsed.structured_content["end_page"]) == (31, 95)
    assert past.structured_content is not None
    assert past.structured_content["end_page"] == 150


async def test_a_url_goes_to_the_api_as_it_is_and_a_data_url_as_base64(fake: FakeGLM) -> None:
    url = "https://files.example.com/report.pdf"
    fake.documents[url] = samples.pdf(45)
    data_url = "data:application/pdf;base64," + base64.b64encode(samples.pdf(2)).decode()
    async with in_process(fake) as client:
        remote = await client.call_tool("parse_document", {"file": url})
        inline = await client.call_tool("parse_document", {"file": data_url})
    assert not remote.is_error, text_of(remote)
    assert not inline.is_error, text_of(inline)
    first, second, third = fake.requests_to("layout_parsing")
    assert first.json["file"] == second.json["file"] == url
    assert fake.parsed_pages == [(1, 30), (31, 45), (1, 2)]
    assert base64.b64decode(third.json["file"]) == samples.pdf(2)


async def test_long_markdown_is_cut_inline_and_saved_whole(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path
) -> None:
    document = isolated_dirs / "ten.pdf"
    document.write_bytes(samples.pdf(40))
    async with in_process(fake, max_inline_chars=1000) as client:
        parsed = await client.call_tool("parse_document", {"file": str(document)})
        seen = parsed.structured_content
        assert seen is not None
        assert seen["truncated"] is True
        saved = Path(seen["file"])
        whole = saved.read_text(encoding="utf-8")
        assert len(whole) == seen["characters"] > 1000
        assert seen["markdown"] == whole[:1000]
        assert saved.parent == tmp_path / "data" / "media"
        assert saved.name.startswith("document-") and saved.suffix == ".md"
        assert "## Page 40" in whole
        [link] = [block for block in parsed.content if isinstance(block, ResourceLink)]
        assert str(link.uri) == f"glm://media/{saved.name}"
        assert str(link.uri) in seen["note"]
        [contents] = (await client.read_resource(str(link.uri))).contents
    assert isinstance(contents, TextResourceContents)
    assert contents.text == whole


def _too_big_png(size: int) -> bytes:
    return samples.png(b"x" * size)


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("anim.gif", samples.GIF, "is not a document (it is a GIF image)"),
        ("notes.pdf", b"just some notes\n", "it looks like text"),
        ("cut.pdf", samples.pdf(3)[:-20], "no %%EOF marker"),
        ("fake.pdf", b"%PDF-x.y\n%%EOF\n", "header"),
        ("empty.pdf", b"", "it is empty"),
        ("big.png", _too_big_png(11 * 1024 * 1024), "at most 10 MB"),
    ],
)
async def test_files_that_are_not_whole_documents_are_refused_before_anything_is_sent(
    fake: FakeGLM, isolated_dirs: Path, name: str, data: bytes, says: str
) -> None:
    path = isolated_dirs / name
    path.write_bytes(data)
    async with in_process(fake) as client:
        refused = await client.call_tool("parse_document", {"file": str(path)})
    assert refused.is_error
    line = text_of(refused)
    assert says in line, line
    assert "\n" not in line
    assert fake.requests == []


async def test_a_pdf_over_50_mb_is_refused_naming_the_limit(fake: FakeGLM, isolated_dirs: Path) -> None:
    path = isolated_dirs / "huge.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(51 * 1024 * 1024) + b"\n%%EOF\n")
    async with in_process(fake) as client:
        refused = await client.call_tool("parse_document", {"file": str(path)})
    assert refused.is_error
    assert "50 MiB limit" in text_of(refused)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"file": "/etc/passwd"}, "outside the allowed directories"),
        ({"file": "http://localhost/report.pdf"}, "is this machine"),
        ({"file": "http://192.168.1.10/scan.png"}, "private"),
        ({"file": "data:application/pdf,not-base64"}, "only base64 data URLs"),
        ({"file": "x.pdf", "start_page": 5, "end_page": 2}, "start_page (5) is after end_page (2)"),
    ],
)
async def test_inputs_the_server_will_not_use_are_one_line(
    fake: FakeGLM, arguments: dict[str, Any], says: str
) -> None:
    async with in_process(fake) as client:
        refused = await client.call_tool("parse_document", arguments)
    assert refused.is_error
    line = text_of(refused)
    assert says in line, line
    assert "\n" not in line
    assert fake.requests == []


async def test_tokens_are_counted_in_usage(fake: FakeGLM, isolated_dirs: Path) -> None:
    document = isolated_dirs / "long.pdf"
    document.write_bytes(samples.pdf(45))
    async with in_process(fake) as client:
        assert not (await client.call_tool("parse_document", {"file": str(document)})).is_error
        [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    [row] = json.loads(contents.text)
    assert (row["tool"], row["model"], row["calls"], row["unit"]) == (
        "parse_document",
        "glm-ocr",
        1,
        "tokens",
    )
    assert row["units"] > 45 * 1200  # the fake bills 1200 prompt tokens a page, plus the Markdown


def test_a_pdf_is_sniffed_as_a_document_and_images_are_documents_too() -> None:
    from mcp_server_glm.files import sniff
    from mcp_server_glm.files.sniffing import expect

    assert sniff(samples.pdf(1)) == ("document", ".pdf")
    assert expect("document", samples.pdf(1)) == "application/pdf"
    assert expect("document", samples.PNG) == "image/png"
    assert expect("document", samples.JPEG) == "image/jpeg"
    with pytest.raises(Exception, match=r"it is a PDF document"):
        expect("image", samples.pdf(1))


async def test_saved_text_gets_a_generated_name_and_never_replaces_a_file(tmp_path: Path) -> None:
    from mcp_server_glm.files import Files

    out = tmp_path / "out"
    async with Files(allowed_dirs=[tmp_path], output_dir=out, input_limits={}, max_download_bytes=1) as files:
        stem = Files.output_stem("page", None)
        first = await files.save_text("# one\n", stem=stem)
        second = await files.save_text("two", stem=stem, ext=".txt")
        third = await files.save_text("# three\n", stem=stem)
        with pytest.raises(ValueError, match="not a file name"):
            await files.save_text("x", stem="../escape")
    assert first.path == out / f"{stem}.md" and first.mime_type == "text/markdown"
    assert second.path == out / f"{stem}.txt" and second.mime_type == "text/plain"
    assert third.path == out / f"{stem}-2.md"
    assert first.path.read_text() == "# one\n" and third.path.read_text() == "# three\n"
    assert first.size == 6
    assert (first.path.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in out.iterdir()) == sorted([first.name, second.name, third.name])  # no .part
