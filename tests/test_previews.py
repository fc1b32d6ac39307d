"""Inline previews of generated images and video covers: within every host's limit (at most about 700 KB
of base64, the whole result under 1 MiB) however large the original, the file saved whole, untrusted
images refused safely, and the setting that turns previews off. End to end over stdio."""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from mcp.types import ImageContent, ResourceLink, TextContent
from PIL import Image

from mcp_server_glm.errors import PreviewRefused
from mcp_server_glm.previews import MAX_PREVIEW_BYTES, MAX_SIDE, make_preview
from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, TaskPlan
from tests.fake_glm.media import PNG
from tests.support.stdio import RawSession

HOST_LIMIT = 1_048_576  # Claude Desktop refuses a tool result larger than this
PREVIEW_BASE64 = 700_000


def noise_png(width: int, height: int, mode: str = "RGB", seed: int = 12) -> bytes:
    """A PNG of random pixels: it does not compress, so the file is about width x height x channels."""
    channels = len(mode)
    pixels = random.Random(seed).randbytes(width * height * channels)
    out = io.BytesIO()
    Image.frombytes(mode, (width, height), pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels and holds almost none of them (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """4096x4096 grey noise: 16 MiB as a PNG."""
    data = noise_png(4096, 4096, "L")
    assert len(data) > 16_000_000
    return data


def written(tmp_path: Path, data: bytes, name: str = "image.png") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- the preview itself ---------------------------------------------------------------------------


def test_a_large_original_becomes_a_jpeg_that_fits(tmp_path: Path, big_png: bytes) -> None:
    preview = make_preview(written(tmp_path, big_png))
    assert preview.mime_type == "image/jpeg"
    assert (preview.width, preview.height) == (MAX_SIDE, MAX_SIDE)
    assert preview.original == (4096, 4096)
    assert len(preview.data) <= MAX_PREVIEW_BYTES
    assert len(base64.b64encode(preview.data)) < PREVIEW_BASE64
    with Image.open(io.BytesIO(preview.data)) as image:
        assert image.format == "JPEG"
        assert image.size == (MAX_SIDE, MAX_SIDE)


def test_noise_at_the_preview_size_is_shrunk_or_compressed_until_it_fits(tmp_path: Path) -> None:
    """The worst case for JPEG: full-colour noise that is already MAX_SIDE a side (3 MiB)."""
    preview = make_preview(written(tmp_path, noise_png(MAX_SIDE, MAX_SIDE)))
    assert len(preview.data) <= MAX_PREVIEW_BYTES
    assert preview.mime_type == "image/jpeg"
    assert preview.width == preview.height <= MAX_SIDE


def test_the_aspect_ratio_is_kept(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (3000, 1000), "teal").save(out, format="PNG")
    preview = make_preview(written(tmp_path, out.getvalue()))
    assert (preview.width, preview.height) == (1024, 341)


def test_a_small_image_goes_as_it_is(tmp_path: Path) -> None:
    preview = make_preview(written(tmp_path, PNG))
    assert preview.whole
    assert preview.data == PNG
    assert preview.mime_type == "image/png"


def test_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (2000, 2000), (0, 0, 0, 0)).save(out, format="PNG")
    preview = make_preview(written(tmp_path, out.getvalue()))
    with Image.open(io.BytesIO(preview.data)) as image:
        red, green, blue = image.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert min(red, green, blue) > 250


@pytest.mark.parametrize(
    ("width", "height", "why"),
    [
        (8000, 8000, "8000x8000 pixels, over the 50,000,000 pixels previews decode"),
        (30000, 30000, "could not be decoded (DecompressionBombError)"),
        (2**31 - 1, 2**31 - 1, "could not be decoded"),
    ],
)
def test_a_huge_canvas_is_refused_from_its_header(tmp_path: Path, width: int, height: int, why: str) -> None:
    with pytest.raises(PreviewRefused, match=why.replace("(", r"\(").replace(")", r"\)")):
        make_preview(written(tmp_path, header_only_png(width, height)))


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", PNG[:40], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, noise_png(300, 300)[:5000]],
    ids=["text", "cut-header", "no-chunks", "cut-pixels"],
)
def test_a_malformed_file_is_refused_in_one_line(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(PreviewRefused) as refused:
        make_preview(written(tmp_path, data))
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("the image could not be decoded (")


# -- over stdio, with the installed server ---------------------------------------------------------


def raw_call(session: RawSession, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A tools/call over the raw stdio transport: its result, and the bytes of the JSON-RPC line that
    carried it."""
    number = session.submit("tools/call", {"name": tool, "arguments": arguments})
    assert session.process.stdout is not None
    while True:
        line = session.process.stdout.readline()
        assert line, "the server closed stdout"
        reply = json.loads(line)
        if reply.get("id") == number:
            return reply["result"], len(line.encode())


def images_in(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [block for block in result["content"] if block["type"] == "image"]


@pytest.mark.slow
def test_a_several_mib_image_comes_back_as_a_preview_under_the_host_limit(
    fake: FakeGLM, tmp_path: Path, big_png: bytes
) -> None:
    fake.media_png = big_png
    session = RawSession(server_env(fake))
    try:
        result, line_bytes = raw_call(session, "generate_image", {"prompt": "static on a screen"})
    finally:
        session.kill()
    assert not result.get("isError"), result
    assert line_bytes < HOST_LIMIT
    assert len(json.dumps(result).encode()) < HOST_LIMIT
    [image] = images_in(result)
    assert image["mimeType"] == "image/jpeg"
    assert len(image["data"]) < PREVIEW_BASE64
    with Image.open(io.BytesIO(base64.b64decode(image["data"]))) as shown:
        assert shown.size == (MAX_SIDE, MAX_SIDE)
    saved = Path(result["structuredContent"]["path"])
    assert saved.read_bytes() == big_png  # the full file, byte for byte
    links = [block for block in result["content"] if block["type"] == "resource_link"]
    assert [link["uri"] for link in links] == [f"glm://media/{saved.name}"]
    texts = " ".join(block["text"] for block in result["content"] if block["type"] == "text")
    assert str(saved) in texts
    assert f"JPEG preview; the full 4096x4096 image is {saved}" in texts


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_video_cover_comes_with_its_preview(fake: FakeGLM, tmp_path: Path, big_png: bytes) -> None:
    fake.media_png = big_png
    fake.task_plan = TaskPlan(polls=1)
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        result = await client.call_tool("generate_video", {"prompt": "waves", "wait_seconds": 20})
    assert not result.is_error, text_of(result)
    assert len(result.model_dump_json(by_alias=True, exclude_none=True).encode()) < HOST_LIMIT
    job = result.structured_content
    assert job is not None
    cover = Path(job["cover_path"])
    assert cover.read_bytes() == big_png
    [image] = [block for block in result.content if isinstance(block, ImageContent)]
    assert image.mime_type == "image/jpeg"
    assert len(image.data) < PREVIEW_BASE64
    uris = [block.uri for block in result.content if isinstance(block, ResourceLink)]
    assert uris == [f"glm://media/{Path(job['path']).name}", f"glm://media/{cover.name}"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_previews_turned_off_leave_the_link_and_the_path(
    fake: FakeGLM, tmp_path: Path, big_png: bytes
) -> None:
    fake.media_png = big_png
    fake.task_plan = TaskPlan(polls=0)
    env = server_env(fake, GLM_INLINE_PREVIEWS="false")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        image = await client.call_tool("generate_image", {"prompt": "static"})
        video = await client.call_tool("generate_video", {"prompt": "waves", "wait_seconds": 20})
    for result, key in ((image, "path"), (video, "cover_path")):
        assert not result.is_error, text_of(result)
        assert [block for block in result.content if isinstance(block, ImageContent)] == []
        assert result.structured_content is not None
        saved = Path(result.structured_content[key])
        assert saved.read_bytes() == big_png
        assert f"glm://media/{saved.name}" in [
            str(block.uri) for block in result.content if isinstance(block, ResourceLink)
        ]
        texts = [block.text for block in result.content if isinstance(block, TextContent)]
        assert str(saved) in " ".join(texts)


@pytest.mark.slow
@pytest.mark.anyio
async def test_an_image_no_preview_can_be_made_of_is_still_saved_and_linked(
    fake: FakeGLM, tmp_path: Path
) -> None:
    """A canvas too large to decode (its header is a valid PNG the file guard accepts): the call succeeds,
    and says why there is no preview."""
    fake.media_png = header_only_png(8000, 8000)
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        result = await client.call_tool("generate_image", {"prompt": "a bomb"})
        after = await client.call_tool("generate_image", {"prompt": "again"})
    assert not result.is_error, text_of(result)
    assert [block for block in result.content if isinstance(block, ImageContent)] == []
    notes = [block.text for block in result.content if isinstance(block, TextContent)]
    assert any(note.startswith("No preview: the image is 8000x8000 pixels") for note in notes), notes
    assert not after.is_error


@pytest.mark.anyio
async def test_previews_read_the_saved_image_through_files_only_in_the_output_directory(
    tmp_path: Path,
) -> None:
    from mcp_server_glm.files import Files

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    async with Files(allowed_dirs=[], output_dir=out, input_limits={}, max_download_bytes=1024) as files:
        inside = written(out, PNG)
        assert make_preview(inside, files.open_saved).data == PNG
        outside = written(elsewhere, PNG)
        with pytest.raises(
            PreviewRefused, match=r"^the image cannot be read \(.* no longer a file in the output"
        ):
            make_preview(outside, files.open_saved)
