"""`glm_chat` against each model's documented limits and each platform's models: images as the chat API
takes them (bare base64, PNG or JPEG), GLM-4V's text-part answers, local refusals that name the limit,
and the platform's recommended models as defaults."""

from __future__ import annotations

import base64
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult
from PIL import Image

from mcp_server_glm import imaging
from mcp_server_glm.errors import ImageRefused
from mcp_server_glm.glm import catalog
from tests.conftest import in_process, server_env, settings_for, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.support.calls import chat, sent
from tests.support.stdio import installed_server

pytestmark = pytest.mark.anyio

URL = "https://example.com/cat.png"


def picture(kind: str, size: tuple[int, int] = (3, 2), frames: int = 1) -> bytes:
    """A small image in `kind` (Pillow's format name) whose pixels are all different."""
    images = [Image.new("RGB", size) for _ in range(frames)]
    for number, image in enumerate(images):
        for x in range(size[0]):
            for y in range(size[1]):
                image.putpixel((x, y), (40 * x + number, 60 * y, 7 * number))
    out = io.BytesIO()
    extra: dict[str, Any] = {"lossless": True} if kind == "WEBP" else {}
    if frames > 1:
        extra.update(save_all=True, append_images=images[1:])
    images[0].save(out, format=kind, **extra)
    return out.getvalue()


def pixels(data: bytes) -> list[Any]:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        return [rgb.getpixel((x, y)) for y in range(rgb.height) for x in range(rgb.width)]


def image_urls(body: dict[str, Any]) -> list[str]:
    return [
        part["image_url"]["url"] for part in body["messages"][-1]["content"] if part["type"] == "image_url"
    ]


def refusal(result: CallToolResult) -> str:
    """The one-line error of a call the server refused without asking the API."""
    assert result.is_error
    line = text_of(result)
    assert "\n" not in line
    return line


# -- 1. images as bare base64 ------------------------------------------------------------------


async def test_local_and_data_url_images_go_as_bare_base64(fake: FakeGLM, isolated_dirs: Path) -> None:
    png, jpeg = picture("PNG"), picture("JPEG")
    (isolated_dirs / "a.jpg").write_bytes(jpeg)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    result = await chat(fake, {"prompt": "compare", "images": [URL, data_url, str(isolated_dirs / "a.jpg")]})
    assert not result.is_error, text_of(result)
    assert image_urls(sent(fake)) == [URL, base64.b64encode(png).decode(), base64.b64encode(jpeg).decode()]
    assert result.structured_content is not None
    assert result.structured_content["content"] == "Fake GLM answer to: compare (3 images)"


async def test_data_urls_inside_messages_go_as_bare_base64(fake: FakeGLM) -> None:
    png = picture("PNG")
    parts = [
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
        },
        {"type": "text", "text": "and this?"},
    ]
    result = await chat(fake, {"messages": [{"role": "user", "content": parts}], "model": "glm-4.6v"})
    assert not result.is_error, text_of(result)
    assert sent(fake)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": base64.b64encode(png).decode()}},
        {"type": "text", "text": "and this?"},
    ]


async def test_video_images_keep_their_data_url(fake: FakeGLM, isolated_dirs: Path) -> None:
    png = picture("PNG")
    (isolated_dirs / "start.png").write_bytes(png)
    async with in_process(fake) as client:
        result = await client.call_tool(
            "generate_video",
            {"prompt": "it moves", "image": str(isolated_dirs / "start.png"), "wait_seconds": 0},
        )
    assert not result.is_error, text_of(result)
    [request] = fake.requests_to("videos/generations")
    assert request.json["image_url"] == ["data:image/png;base64," + base64.b64encode(png).decode()]


# -- 2. formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["WEBP", "GIF"])
async def test_other_formats_are_converted_to_png_losslessly(
    fake: FakeGLM, isolated_dirs: Path, kind: str
) -> None:
    original = picture(kind, frames=3 if kind == "GIF" else 1)
    (isolated_dirs / f"a.{kind.lower()}").write_bytes(original)
    result = await chat(fake, {"prompt": "describe", "images": [str(isolated_dirs / f"a.{kind.lower()}")]})
    assert not result.is_error, text_of(result)
    [sent_url] = image_urls(sent(fake))
    converted = base64.b64decode(sent_url)
    assert converted.startswith(b"\x89PNG\r\n\x1a\n")
    assert pixels(converted) == pixels(original)  # the first frame, pixel for pixel


async def test_an_unreadable_image_is_refused_in_one_line(fake: FakeGLM, isolated_dirs: Path) -> None:
    broken = isolated_dirs / "broken.webp"
    # A well-formed RIFF container (it passes the structure check) whose VP8 data is not an image.
    broken.write_bytes(b"RIFF\x14\x00\x00\x00WEBPVP8 \x08\x00\x00\x00" + b"\x00" * 8)
    line = refusal(await chat(fake, {"prompt": "describe", "images": [str(broken)]}))
    assert "broken.webp" in line and "could not be read for conversion" in line and "PNG or JPEG" in line
    assert fake.requests == []


async def test_a_format_no_input_takes_is_refused_naming_the_accepted_ones(
    fake: FakeGLM, isolated_dirs: Path
) -> None:
    (isolated_dirs / "a.bmp").write_bytes(picture("BMP"))
    line = refusal(await chat(fake, {"prompt": "describe", "images": [str(isolated_dirs / "a.bmp")]}))
    assert "is not an image" in line and "PNG, JPEG, WEBP or GIF" in line
    assert fake.requests == []


async def test_a_conversion_over_the_size_limit_is_refused(fake: FakeGLM, isolated_dirs: Path) -> None:
    noise = Image.frombytes("RGB", (1600, 1600), random.Random(7).randbytes(1600 * 1600 * 3))
    out = io.BytesIO()
    noise.save(out, format="WEBP", quality=60)  # about 1.4 MiB; as PNG about 7 MiB
    webp = isolated_dirs / "noise.webp"
    webp.write_bytes(out.getvalue())
    line = refusal(await chat(fake, {"prompt": "describe", "images": [str(webp)]}))
    assert "noise.webp" in line and "MiB as PNG, over the chat API's 5 MiB limit" in line
    assert fake.requests == []


@pytest.mark.parametrize("kind", ["BMP", "TIFF", "WEBP", "GIF"])
def test_the_converter_keeps_every_pixel(kind: str) -> None:
    original = picture(kind, size=(5, 4))
    converted = imaging.to_png(original, '"x"')
    assert converted.startswith(b"\x89PNG\r\n\x1a\n")
    assert pixels(converted) == pixels(original)


def test_the_converter_keeps_transparency() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (2, 2), (1, 2, 3, 40)).save(out, format="WEBP", lossless=True)
    with Image.open(io.BytesIO(imaging.to_png(out.getvalue(), '"x"'))) as back:
        assert back.convert("RGBA").getpixel((1, 1)) == (1, 2, 3, 40)


def test_the_converter_refuses_more_than_6000_pixels_a_side() -> None:
    out = io.BytesIO()
    Image.new("L", (6001, 2)).save(out, format="WEBP", lossless=True)
    with pytest.raises(
        ImageRefused,
        match=r'image "wide.webp" is 6001x2 pixels, over the chat API\'s 6000x6000 limit',
    ):
        imaging.to_png(out.getvalue(), '"wide.webp"')


CHAT_IN_A_FRESH_PROCESS = """
import base64, json, sys
import anyio
from tests.conftest import CANARY_KEY, in_process
from tests.fake_glm import FakeGLM

async def main(png: str) -> None:
    with FakeGLM() as fake:
        fake.api_keys = {CANARY_KEY}
        async with in_process(fake) as client:
            result = await client.call_tool("glm_chat", {"prompt": "x", "images": [png]})
    assert not result.is_error, result
    print(json.dumps([name for name in sys.modules if name.startswith(("PIL", "mcp_server_glm.imaging"))]))

anyio.run(main, sys.argv[1])
"""


@pytest.mark.slow
def test_a_chat_with_a_png_loads_neither_pillow_nor_the_converter(isolated_dirs: Path) -> None:
    (isolated_dirs / "a.png").write_bytes(picture("PNG"))
    done = subprocess.run(
        [sys.executable, "-c", CHAT_IN_A_FRESH_PROCESS, str(isolated_dirs / "a.png")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


# -- 3. GLM-4V answers in text parts ----------------------------------------------------------------


async def test_an_answer_in_text_parts_is_read_streamed(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    result = await chat(fake, {"prompt": "what is it?", "images": [URL], "model": "glm-4v-plus-0111"})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["content"] == "Fake GLM answer to: what is it? (1 image)"
    assert result.structured_content["finish_reason"] == "stop"
    assert "INCOMPLETE" not in text_of(result)


async def test_an_answer_in_text_parts_is_read_from_json(fake: FakeGLM) -> None:
    body = {
        "id": "1",
        "model": "glm-4v-plus-0111",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "A cat"}, {"type": "text", "text": " on a mat."}],
                },
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    fake.script("chat/completions", Fault(status=200, body=json.dumps(body), content_type="application/json"))
    result = await chat(fake, {"prompt": "what is it?", "images": [URL], "model": "glm-4.6v"})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["content"] == "A cat on a mat."
    assert text_of(result) == "A cat on a mat."


async def test_a_fault_answer_in_text_parts_is_read_streamed(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(content_parts=True))
    result = await chat(fake, {"prompt": "hello"})
    assert result.structured_content is not None
    assert result.structured_content["content"] == "Fake GLM answer to: hello"


# -- 4. per-model limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "limit"),
    [("glm-4.6v", 32768), ("glm-4.5v", 16384), ("glm-4-32b-0414-128k", 16384), ("glm-4.5", 98304)],
)
async def test_max_tokens_is_capped_at_the_models_output_limit(fake: FakeGLM, model: str, limit: int) -> None:
    images = [URL] if catalog.find(model).kind == "vision" else None  # type: ignore[union-attr]
    line = refusal(
        await chat(fake, {"prompt": "x", "model": model, "images": images, "max_tokens": limit + 1})
    )
    assert f"max_tokens {limit + 1} is over {model}'s output limit of {limit} tokens" in line
    assert fake.requests == []
    result = await chat(fake, {"prompt": "x", "model": model, "images": images, "max_tokens": limit})
    assert not result.is_error, text_of(result)
    assert sent(fake)["max_tokens"] == limit


async def test_images_per_request_follow_the_model(fake: FakeGLM) -> None:
    line = refusal(await chat(fake, {"prompt": "x", "model": "glm-4.5v", "images": [URL] * 51}))
    assert "glm-4.5v takes at most 50 images per request; this one has 51" in line
    assert fake.requests == []
    assert not (await chat(fake, {"prompt": "x", "model": "glm-4.5v", "images": [URL] * 50})).is_error
    assert len(image_urls(sent(fake))) == 50


async def test_glm_4v_flash_takes_one_image_by_url(fake: FakeGLM, isolated_dirs: Path) -> None:
    fake.platform = "bigmodel"
    (isolated_dirs / "a.png").write_bytes(picture("PNG"))
    line = refusal(await chat(fake, {"prompt": "x", "model": "glm-4v-flash", "images": [URL, URL]}))
    assert "glm-4v-flash takes at most 1 image per request; this one has 2" in line
    line = refusal(
        await chat(fake, {"prompt": "x", "model": "glm-4v-flash", "images": [str(isolated_dirs / "a.png")]})
    )
    assert "glm-4v-flash takes images by http(s) URL only" in line
    assert fake.requests == []
    result = await chat(fake, {"prompt": "x", "model": "glm-4v-flash", "images": [URL]})
    assert not result.is_error, text_of(result)
    assert image_urls(sent(fake)) == [URL]


async def test_a_model_of_the_other_platform_gets_the_apis_unknown_model(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    result = await chat(fake, {"prompt": "x", "model": "glm-4.5"})
    assert "code 1211" in refusal(result)


# -- 5. vision requests: no JSON mode, no built-in web search --------------------------------------


@pytest.mark.parametrize("option", ["json_mode", "web_search"])
@pytest.mark.parametrize(
    "arguments", [{"images": [URL]}, {"model": "glm-4.6v"}, {"images": [URL], "model": "some-new-model"}]
)
async def test_json_mode_and_web_search_are_refused_on_vision_requests(
    fake: FakeGLM, option: str, arguments: dict[str, Any]
) -> None:
    line = refusal(await chat(fake, {"prompt": "x", option: True, **arguments}))
    assert f"{option} does not work with images or a vision model" in line
    assert fake.requests == []


# -- 6. reasoning_effort and thinking ------------------------------------------------------------


@pytest.mark.parametrize(("model", "effort"), [("glm-5.3", "low"), ("glm-5.3", "max"), ("glm-5.2", "xhigh")])
async def test_reasoning_effort_reaches_the_wire(fake: FakeGLM, model: str, effort: str) -> None:
    result = await chat(fake, {"prompt": "x", "model": model, "reasoning_effort": effort})
    assert not result.is_error, text_of(result)
    assert sent(fake)["reasoning_effort"] == effort


@pytest.mark.parametrize(
    ("model", "effort", "words"),
    [
        ("glm-5.3", "medium", "glm-5.3 takes reasoning_effort low, high, max, not medium"),
        ("glm-4.7", "high", "glm-4.7 takes no reasoning_effort (glm-5.2 and later do)"),
        ("glm-4.6v", "low", "glm-4.6v takes no reasoning_effort"),
    ],
)
async def test_reasoning_effort_the_model_does_not_take_is_refused(
    fake: FakeGLM, model: str, effort: str, words: str
) -> None:
    line = refusal(await chat(fake, {"prompt": "x", "model": model, "reasoning_effort": effort}))
    assert words in line
    assert fake.requests == []


@pytest.mark.parametrize("arguments", [{}, {"model": "glm-5.3-flash", "images": [URL]}])
async def test_thinking_cannot_be_turned_off_on_thinking_only_models(
    fake: FakeGLM, arguments: dict[str, Any]
) -> None:
    line = refusal(await chat(fake, {"prompt": "x", "thinking": False, **arguments}))
    assert "thinking cannot be turned off" in line
    assert fake.requests == []


async def test_text_parts_for_a_text_model_are_sent_as_a_string(fake: FakeGLM) -> None:
    parts = [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]
    result = await chat(fake, {"messages": [{"role": "user", "content": parts}]})
    assert not result.is_error, text_of(result)
    assert sent(fake)["messages"] == [{"role": "user", "content": "hello there"}]


# -- 7. defaults from the catalogue ----------------------------------------------------------------


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_defaults_are_the_platforms_recommended_models(
    fake: FakeGLM, platform: catalog.Platform
) -> None:
    fake.platform = platform
    await chat(fake, {"prompt": "x"})
    await chat(fake, {"prompt": "x", "images": [URL]})
    chat_model, vision_model = (request.json["model"] for request in fake.requests_to("chat/completions"))
    assert chat_model == catalog.DEFAULTS[platform]["chat"]
    assert vision_model == catalog.DEFAULTS[platform]["vision"]


async def test_settings_override_the_defaults(fake: FakeGLM) -> None:
    await chat(fake, {"prompt": "x", "images": [URL]}, vision_model="glm-4.6v-flash")
    assert sent(fake)["model"] == "glm-4.6v-flash"
    settings = settings_for(fake, chat_model="glm-4.5-air")
    assert (settings.default_chat_model, settings.default_vision_model) == ("glm-4.5-air", "glm-5.3-flashx")


def test_defaults_are_current_models_of_their_platform() -> None:
    for platform, kinds in catalog.DEFAULTS.items():
        for kind, name in kinds.items():
            entry = catalog.find(name)
            assert entry is not None, name
            assert entry.kind == kind and entry.on(platform) and not entry.legacy, name


async def test_models_resource_marks_the_defaults_and_shows_the_limits(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        [contents] = (await client.read_resource("glm://models")).contents
    assert hasattr(contents, "text")
    by_id = {model["id"]: model for model in json.loads(contents.text)}
    assert by_id["glm-5.3"]["default"] is True and by_id["glm-5.3-flashx"]["default"] is True
    assert by_id["glm-4.7"]["default"] is False
    assert not any(model["default"] for model in by_id.values() if model["legacy"])
    assert by_id["glm-5.3"]["thinking"] == "only"
    assert by_id["glm-5.3"]["reasoning_effort"] == ["low", "high", "max"]
    assert by_id["glm-4.6v"]["max_output_tokens"] == 32768
    assert by_id["glm-4.5v"]["max_images"] == 50
    assert by_id["glm-4v-flash"]["base64_images"] is False
    assert by_id["glm-4.6v"]["image_formats"] == ["image/png", "image/jpeg"]


@pytest.mark.slow
def test_doctor_shows_the_effective_models(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    done = subprocess.run(
        [installed_server(), "doctor"],
        env=server_env(fake, GLM_VISION_MODEL="glm-4.6v"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chat glm-5.3 (platform default), vision glm-4.6v, image" in done.stdout


@pytest.mark.slow
def test_doctor_on_the_coding_plan_checks_the_default_model_as_it_takes_thinking(fake: FakeGLM) -> None:
    done = subprocess.run(
        [installed_server(), "doctor"],
        env=server_env(fake, GLM_CODING_PLAN="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    request = fake.requests_to("chat/completions")[0]  # the key check (the balance check follows)
    assert request.json["model"] == "glm-5.3"
    assert "thinking" not in request.json  # glm-5.3's thinking cannot be disabled: the API would refuse
