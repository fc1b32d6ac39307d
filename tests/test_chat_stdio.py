"""End to end over stdio with the installed server: `glm_chat` sends images as the chat API takes them,
reads GLM-4V's text-part answers, and refuses locally what a model's limits rule out, on each platform."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from mcp.types import TextContent
from PIL import Image

from tests.conftest import over_stdio, server_env
from tests.fake_glm import FakeGLM

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

URL = "https://example.com/cat.png"


def encoded(kind: str) -> bytes:
    image = Image.new("RGBA", (4, 3), (10, 200, 30, 128))
    out = io.BytesIO()
    image.save(out, format=kind, **({"lossless": True} if kind == "WEBP" else {}))
    return out.getvalue()


async def test_zai_images_limits_and_options_over_stdio(
    fake: FakeGLM, tmp_path: Path, isolated_dirs: Path
) -> None:
    png, webp = encoded("PNG"), encoded("WEBP")
    (isolated_dirs / "a.webp").write_bytes(webp)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:

        async def refused(arguments: dict[str, object]) -> str:
            result = await client.call_tool("glm_chat", arguments)
            assert result.is_error
            [block] = result.content
            assert isinstance(block, TextContent) and "\n" not in block.text
            return block.text

        # 1 and 2: a data URL goes bare, a WEBP goes as PNG, a URL as it is
        seen = await client.call_tool(
            "glm_chat", {"prompt": "look", "images": [URL, data_url, str(isolated_dirs / "a.webp")]}
        )
        assert not seen.is_error, seen.content
        [request] = fake.requests_to("chat/completions")
        assert request.json["model"] == "glm-5.3-flashx"
        urls = [
            part["image_url"]["url"]
            for part in request.json["messages"][-1]["content"]
            if part["type"] == "image_url"
        ]
        assert urls[:2] == [URL, base64.b64encode(png).decode()]
        converted = base64.b64decode(urls[2])
        assert converted.startswith(b"\x89PNG")
        with Image.open(io.BytesIO(converted)) as back, Image.open(io.BytesIO(webp)) as original:
            assert back.convert("RGBA").tobytes() == original.convert("RGBA").tobytes()

        # 4: limits per model
        assert "over glm-4.6v's output limit of 32768 tokens" in await refused(
            {"prompt": "x", "model": "glm-4.6v", "images": [URL], "max_tokens": 40000}
        )
        assert "glm-4.5v takes at most 50 images" in await refused(
            {"prompt": "x", "model": "glm-4.5v", "images": [URL] * 51}
        )
        # 5: no JSON mode or built-in search on vision requests
        assert "json_mode does not work with images" in await refused(
            {"prompt": "x", "images": [URL], "json_mode": True}
        )
        assert "web_search does not work with images" in await refused(
            {"prompt": "x", "model": "glm-4.6v", "web_search": True}
        )
        # 6: reasoning effort and the thinking switch
        assert "glm-5.3 takes reasoning_effort low, high, max, not medium" in await refused(
            {"prompt": "x", "reasoning_effort": "medium"}
        )
        assert "thinking cannot be turned off" in await refused({"prompt": "x", "thinking": False})
        assert len(fake.requests_to("chat/completions")) == 1  # every refusal was local

        effort = await client.call_tool("glm_chat", {"prompt": "x", "reasoning_effort": "low"})
        assert not effort.is_error
        assert fake.requests_to("chat/completions")[-1].json["reasoning_effort"] == "low"


async def test_bigmodel_glm_4v_over_stdio(fake: FakeGLM, tmp_path: Path, isolated_dirs: Path) -> None:
    fake.platform = "bigmodel"
    (isolated_dirs / "a.png").write_bytes(encoded("PNG"))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        # 3: GLM-4V answers with content as text parts, streamed
        answer = await client.call_tool(
            "glm_chat", {"prompt": "what?", "model": "glm-4v-plus-0111", "images": [URL]}
        )
        assert not answer.is_error, answer.content
        assert answer.structured_content is not None
        assert answer.structured_content["content"] == "Fake GLM answer to: what? (1 image)"
        assert answer.structured_content["finish_reason"] == "stop"
        # 4: glm-4v-flash takes one image, by URL only
        local = await client.call_tool(
            "glm_chat", {"prompt": "x", "model": "glm-4v-flash", "images": [str(isolated_dirs / "a.png")]}
        )
        assert local.is_error
        assert len(fake.requests_to("chat/completions")) == 1
        # a Z.AI-only model: the API's unknown model, one line
        other = await client.call_tool("glm_chat", {"prompt": "x", "model": "glm-4.5"})
        assert other.is_error
        [block] = other.content
        assert isinstance(block, TextContent) and "code 1211" in block.text
        again = await client.call_tool("glm_chat", {"prompt": "still there?"})
        assert not again.is_error
