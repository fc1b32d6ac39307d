"""A bad image or video size is refused before anything is sent, in one readable line: the accepted form
and the model's documented sizes, never a regex; in process and over stdio with the installed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import in_process, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

COGVIEW = "1024x1024, 768x1344, 864x1152, 1344x768, 1152x864, 1440x720, 720x1440"


@pytest.mark.parametrize("size", ["big", "1024", "1024x", "1024x1024x2", "\uff11\uff10\uff12\uff14x1024"])
async def test_a_size_not_written_widthxheight(fake: FakeGLM, size: str) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "size": size})
    assert result.is_error
    text = text_of(result)
    assert "\n" not in text
    assert "is not WIDTHxHEIGHT in pixels, e.g. 1024x1024" in text
    assert f"documented sizes: {COGVIEW}" in text
    assert "pattern" not in text and "\\d" not in text
    assert not fake.requests_to("images/generations")


@pytest.mark.parametrize(
    ("model", "size", "rule"),
    [
        (
            "cogview-4-250304",
            "4096x4096",
            "each side 512-2048 px and divisible by 16, at most 2097152 pixels",
        ),
        ("cogview-4-250304", "1000x1000", "divisible by 16"),
        ("glm-image", "1024x1000", "each side 1024-2048 px and divisible by 32, at most 4194304 pixels"),
    ],
)
async def test_a_size_outside_the_models_rule(fake: FakeGLM, model: str, size: str, rule: str) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "model": model, "size": size})
    assert result.is_error
    text = text_of(result)
    assert text.startswith(f"Error executing tool generate_image: {model} takes sizes with ")
    assert rule in text
    assert f"not {size}; documented sizes: " in text
    assert not fake.requests


async def test_a_custom_size_within_the_rule_is_sent_as_widthxheight(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "size": " 1536X1024 "})
    assert not result.is_error, text_of(result)
    [sent] = fake.requests_to("images/generations")
    assert sent.json["size"] == "1536x1024"


async def test_a_video_size_not_written_widthxheight(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {"prompt": "a fox", "size": "4k"})
    assert result.is_error
    text = text_of(result)
    assert text == (
        "Error executing tool generate_video: size '4k' is not WIDTHxHEIGHT in pixels, e.g. 1920x1080; "
        "cogvideox-3 takes 1280x720, 720x1280, "
        "1024x1024, 1920x1080, 1080x1920, 2048x1080, 3840x2160."
    )
    assert not fake.requests


@pytest.mark.slow
async def test_a_bad_size_over_stdio(fake: FakeGLM, tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    async with over_stdio(server_env(fake), stderr) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "size": "large"})
        assert result.is_error
        assert text_of(result) == (
            "Error executing tool generate_image: "
            f"size 'large' is not WIDTHxHEIGHT in pixels, e.g. 1024x1024; documented sizes: {COGVIEW}."
        )
        assert not fake.requests
        assert not (await client.call_tool("generate_image", {"prompt": "a fox"})).is_error
    assert "Traceback" not in stderr.read_text()


@pytest.mark.parametrize(
    ("model", "size"),
    [("glm-image", "960x1728"), ("glm-image", "1280x1280"), ("cogview-4-250304", "720x1440")],
)
async def test_a_documented_size_is_taken_even_outside_the_custom_rule(
    fake: FakeGLM, model: str, size: str
) -> None:
    # The reference recommends glm-image's 1728x960 and 960x1728 while its custom sizes start at 1024.
    async with in_process(fake) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "model": model, "size": size})
    assert not result.is_error, text_of(result)
    assert [request.json["size"] for request in fake.requests if request.json] == [size]
