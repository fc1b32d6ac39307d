"""glm_chat's videos and files: the parts each platform and model takes (glm-api.md §22 row 9), the models
picked for them, the local refusals naming the rule, and the fake refusing what the references refuse."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.types import CallToolResult

from tests.conftest import CANARY_KEY, in_process, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM
from tests.samples import pdf, png

pytestmark = pytest.mark.anyio
VIDEO = "https://cdn.example.com/clips/launch.mp4"
DOC = "https://docs.example.com/papers/report.pdf"


async def chat(fake: FakeGLM, arguments: dict[str, Any]) -> CallToolResult:
    async with in_process(fake) as client:
        return await client.call_tool("glm_chat", arguments)


def sent(fake: FakeGLM) -> dict[str, Any]:
    [request] = fake.requests_to("chat/completions")
    body = request.json
    assert isinstance(body, dict)
    return body


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


# -- what reaches the wire -------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_a_video_url_goes_first_to_a_model_that_takes_videos(fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    result = await chat(fake, {"prompt": "what happens?", "videos": [VIDEO]})
    assert not result.is_error, text_of(result)
    body = sent(fake)
    assert body["model"] == "glm-5.3-flashx"
    assert body["messages"][-1]["content"] == [
        {"type": "video_url", "video_url": {"url": VIDEO}},
        {"type": "text", "text": "what happens?"},
    ]


async def test_a_file_url_on_zai_is_a_file_part(fake: FakeGLM) -> None:
    result = await chat(fake, {"prompt": "summarise", "files": [DOC]})
    assert not result.is_error, text_of(result)
    body = sent(fake)
    assert body["model"] == "glm-5.3-flashx"
    assert body["messages"][-1]["content"] == [
        {"type": "file", "file": {"file_url": DOC, "filename": "report.pdf"}},
        {"type": "text", "text": "summarise"},
    ]


async def test_a_file_url_on_bigmodel_is_a_file_url_part_for_a_model_that_takes_files(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    result = await chat(fake, {"prompt": "summarise", "files": [DOC]})
    assert not result.is_error, text_of(result)
    body = sent(fake)
    assert body["model"] == "glm-5v-turbo"  # the configured glm-5.3-flashx takes no files on BigModel
    assert body["messages"][-1]["content"] == [
        {"type": "file_url", "file_url": {"url": DOC}},
        {"type": "text", "text": "summarise"},
    ]


@pytest.mark.parametrize(
    ("name", "data", "mime_type"),
    [
        ("paper.pdf", pdf(2), "application/pdf"),
        ("notes.txt", "plain UTF-8 text, ünïcode\n".encode(), "text/plain"),
        ("letter.docx", docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
async def test_a_local_file_on_zai_goes_as_file_data(
    fake: FakeGLM, isolated_dirs: Path, name: str, data: bytes, mime_type: str
) -> None:
    path = isolated_dirs / name
    path.write_bytes(data)
    result = await chat(fake, {"prompt": "summarise", "files": [str(path)]})
    assert not result.is_error, text_of(result)
    [part, _] = sent(fake)["messages"][-1]["content"]
    encoded = base64.b64encode(data).decode()
    assert part == {
        "type": "file",
        "file": {"file_data": f"data:{mime_type};base64,{encoded}", "filename": name},
    }


async def test_bigmodel_may_mix_files_and_images(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    result = await chat(fake, {"prompt": "compare", "files": [DOC], "images": ["https://example.com/a.png"]})
    assert not result.is_error, text_of(result)
    kinds = [part["type"] for part in sent(fake)["messages"][-1]["content"]]
    assert kinds == ["image_url", "file_url", "text"]


async def test_glm_4v_plus_takes_its_video_first(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    arguments = {
        "prompt": "x",
        "videos": [VIDEO],
        "images": ["https://e.com/a.png"],
        "model": "glm-4v-plus-0111",
    }
    result = await chat(fake, arguments)
    assert not result.is_error, text_of(result)
    kinds = [part["type"] for part in sent(fake)["messages"][-1]["content"]]
    assert kinds == ["video_url", "image_url", "text"]


# -- local refusals, one line naming the rule ------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "arguments", "words"),
    [
        ("zai", {"videos": ["clip.mp4"]}, "Videos go to the chat API by http(s) URL only"),
        ("bigmodel", {"videos": ["data:video/mp4;base64,AAAA"]}, "by http(s) URL only"),
        ("zai", {"videos": ["http://127.0.0.1/clip.mp4"]}, "127.0.0.1"),
        (
            "zai",
            {"videos": [VIDEO, VIDEO], "model": "glm-4.5v"},
            "glm-4.5v takes at most 1 video per request",
        ),
        ("zai", {"videos": [VIDEO], "model": "autoglm-phone-multilingual"}, "takes no videos"),
        ("zai", {"videos": [VIDEO], "model": "glm-4.7"}, "glm-4.7 cannot see images, videos or files"),
        ("zai", {"files": [DOC], "model": "glm-4.6v-flash"}, "glm-4.6v-flash takes no files on zai"),
        (
            "bigmodel",
            {"files": [DOC], "model": "glm-5.3-flashx"},
            "glm-5.3-flashx takes no files on bigmodel",
        ),
        ("bigmodel", {"files": ["report.pdf"]}, "bigmodel takes files by http(s) URL only"),
        ("zai", {"files": [DOC], "images": ["https://e.com/a.png"]}, "Z.AI takes no file parts with images"),
        ("zai", {"files": [DOC], "videos": [VIDEO]}, "Z.AI takes no file parts with images or videos"),
        ("zai", {"files": ["/etc/passwd"]}, 'file "/etc/passwd" is refused'),
    ],
)
async def test_refused_locally(fake: FakeGLM, platform: str, arguments: dict[str, Any], words: str) -> None:
    fake.platform = platform
    result = await chat(fake, {"prompt": "x", **arguments})
    assert result.is_error
    text = text_of(result)
    assert words in text, text
    assert "\n" not in text
    assert fake.requests_to("chat/completions") == []


async def test_a_file_that_is_no_document_is_refused(fake: FakeGLM, isolated_dirs: Path) -> None:
    (isolated_dirs / "photo.pdf").write_bytes(png())
    (isolated_dirs / "cut.pdf").write_bytes(pdf(1)[:-40])
    for name, words in (("photo.pdf", "is not a PDF, a Word"), ("cut.pdf", "not a whole one")):
        result = await chat(fake, {"prompt": "x", "files": [str(isolated_dirs / name)]})
        assert result.is_error
        assert words in text_of(result), text_of(result)
    assert fake.requests_to("chat/completions") == []


async def test_a_video_in_messages_must_come_first_for_glm_4v_plus(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    content = [{"type": "text", "text": "x"}, {"type": "video_url", "video_url": {"url": VIDEO}}]
    arguments = {"messages": [{"role": "user", "content": content}], "model": "glm-4v-plus-0111"}
    result = await chat(fake, arguments)
    assert result.is_error
    assert "glm-4v-plus-0111 takes a video_url part only as the first part" in text_of(result)


# -- the fake refuses what the references refuse ---------------------------------------------------

ZAI_FILE = {"type": "file", "file": {"file_url": DOC}}


def content(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*parts, {"type": "text", "text": "x"}]}]


def video(url: str = VIDEO) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}}


@pytest.mark.parametrize(
    ("platform", "model", "messages", "words"),
    [
        ("zai", "glm-4.6v", content(video("AAAAGGZ0eXBpc29t")), "video_url.url"),
        ("zai", "glm-4.5v", content(video(), video()), "glm-4.5v takes at most 1 videos"),
        ("zai", "autoglm-phone-multilingual", content(video()), "takes at most 0 videos"),
        ("zai", "glm-4.6v-flash", content(ZAI_FILE), "glm-4.6v-flash does not support files"),
        (
            "zai",
            "glm-4.6v",
            content({"type": "file", "file": {"file_id": "f-1"}}),
            "does not support file_id",
        ),
        (
            "zai",
            "glm-4.6v",
            content({"type": "file", "file": {"file_url": DOC, "file_data": "data:text/plain;base64,eA=="}}),
            "exactly one of file_id, file_url or file_data",
        ),
        ("zai", "glm-4.6v", content({"type": "file", "file": {"file_data": "eA=="}}), "file_data"),
        ("zai", "glm-4.6v", content({"type": "file", "file": {"file_url": "eA=="}}), "file_url"),
        ("zai", "glm-4.6v", content({"type": "file_url", "file_url": {"url": DOC}}), "type must be one of"),
        ("zai", "glm-4.6v", content(*[ZAI_FILE] * 51), "At most 50 files"),
        ("bigmodel", "glm-4.6v", content({"type": "file_url", "file_url": {"url": "eA=="}}), "file_url.url"),
        (
            "bigmodel",
            "glm-5.3-flashx",
            content({"type": "file_url", "file_url": {"url": DOC}}),
            "support files",
        ),
        ("bigmodel", "glm-4.6v", content(ZAI_FILE), "type"),
        (
            "bigmodel",
            "glm-4v-plus-0111",
            [{"role": "user", "content": [{"type": "text", "text": "x"}, video()]}],
            "The video_url must come first",
        ),
    ],
)
def test_the_fake_refuses_what_the_references_refuse(
    fake: FakeGLM, platform: str, model: str, messages: list[dict[str, Any]], words: str
) -> None:
    fake.platform = platform
    with httpx2.Client(headers={"Authorization": f"Bearer {CANARY_KEY}"}) as http:
        answer = http.post(f"{fake.base_url}/chat/completions", json={"model": model, "messages": messages})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] in ("1210", "1214")
    assert words in error["message"], error["message"]


@pytest.mark.parametrize(
    ("platform", "model", "messages"),
    [
        ("zai", "glm-4.5v", content(video())),
        ("zai", "glm-4.6v", content(video(), video())),
        ("zai", "glm-5.3-flash", content({"type": "file", "file": {"file_id": "f-1"}})),
        ("zai", "glm-4.5v", content({"type": "file", "file": {"file_data": "data:text/plain;base64,eA=="}})),
        ("bigmodel", "glm-5v-turbo", content({"type": "file_url", "file_url": {"url": DOC}})),
        ("bigmodel", "glm-4v-plus-0111", content(video())),
    ],
)
def test_the_fake_takes_what_the_references_take(
    fake: FakeGLM, platform: str, model: str, messages: list[dict[str, Any]]
) -> None:
    fake.platform = platform
    with httpx2.Client(headers={"Authorization": f"Bearer {CANARY_KEY}"}) as http:
        answer = http.post(f"{fake.base_url}/chat/completions", json={"model": model, "messages": messages})
    assert answer.status_code == 200, answer.text


# -- end to end, over stdio with the installed server ----------------------------------------------


@pytest.mark.slow
async def test_videos_and_files_over_stdio_on_zai(fake: FakeGLM, isolated_dirs: Path, tmp_path: Path) -> None:
    paper = isolated_dirs / "paper.pdf"
    paper.write_bytes(pdf(3))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        watched = await client.call_tool("glm_chat", {"prompt": "what happens?", "videos": [VIDEO]})
        by_url = await client.call_tool("glm_chat", {"prompt": "summarise", "files": [DOC]})
        local = await client.call_tool("glm_chat", {"prompt": "summarise", "files": [str(paper)]})
        refusals = [
            await client.call_tool("glm_chat", {"prompt": "x", "videos": [str(paper)]}),
            await client.call_tool(
                "glm_chat", {"prompt": "x", "videos": [VIDEO, VIDEO], "model": "glm-4.5v"}
            ),
            await client.call_tool(
                "glm_chat", {"prompt": "x", "files": [DOC], "images": ["https://e.com/a.png"]}
            ),
            await client.call_tool("glm_chat", {"prompt": "x", "files": [DOC], "model": "glm-4.6v-flash"}),
        ]
        served = await client.call_tool("glm_chat", {"prompt": "still serving"})
    for answer in (watched, by_url, local, served):
        assert not answer.is_error, text_of(answer)
    video_body, url_body, local_body, _ = (r.json for r in fake.requests_to("chat/completions"))
    assert video_body["messages"][-1]["content"][0] == {"type": "video_url", "video_url": {"url": VIDEO}}
    assert url_body["messages"][-1]["content"][0] == {
        "type": "file",
        "file": {"file_url": DOC, "filename": "report.pdf"},
    }
    data = base64.b64encode(pdf(3)).decode()
    assert local_body["messages"][-1]["content"][0] == {
        "type": "file",
        "file": {"file_data": f"data:application/pdf;base64,{data}", "filename": "paper.pdf"},
    }
    words = [
        "by http(s) URL only",
        "glm-4.5v takes at most 1 video per request",
        "Z.AI takes no file parts with images or videos",
        "glm-4.6v-flash takes no files on zai",
    ]
    for refused, said in zip(refusals, words, strict=True):
        assert refused.is_error
        assert said in text_of(refused), text_of(refused)


@pytest.mark.slow
async def test_files_over_stdio_on_bigmodel(fake: FakeGLM, isolated_dirs: Path, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    paper = isolated_dirs / "paper.pdf"
    paper.write_bytes(pdf(1))
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        by_url = await client.call_tool("glm_chat", {"prompt": "summarise", "files": [DOC]})
        local = await client.call_tool("glm_chat", {"prompt": "summarise", "files": [str(paper)]})
    assert not by_url.is_error, text_of(by_url)
    [body] = (r.json for r in fake.requests_to("chat/completions"))
    assert body["model"] == "glm-5v-turbo"
    assert body["messages"][-1]["content"][0] == {"type": "file_url", "file_url": {"url": DOC}}
    assert local.is_error
    assert "bigmodel takes files by http(s) URL only" in text_of(local)
