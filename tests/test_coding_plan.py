"""The GLM Coding Plan: only chat goes to its endpoint (.../api/coding/paas/v4); search, images, videos,
transcription and job polling go to the general one (.../api/paas/v4) with the same key, and a plan
without balance is told in one line that the plan does not cover the tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from mcp_server_glm.errors import QuotaExhausted
from mcp_server_glm.glm.client import GLMClient
from mcp_server_glm.glm.models import ChatRequest, ImageRequest, VideoRequest, WebSearchRequest
from mcp_server_glm.glm.multipart import FilePart
from mcp_server_glm.settings import Settings
from tests.conftest import CANARY_KEY, in_process, over_stdio, server_env, text_of, wav_file
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

CODING_KEY = "coding-plan-key-without-balance-7d41"
HELLO = ChatRequest(model="glm-4.7", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    ("values", "chat", "general"),
    [
        (
            {"platform": "zai", "coding_plan": True},
            "https://api.z.ai/api/coding/paas/v4",
            "https://api.z.ai/api/paas/v4",
        ),
        (
            {"platform": "bigmodel", "coding_plan": True},
            "https://open.bigmodel.cn/api/coding/paas/v4",
            "https://open.bigmodel.cn/api/paas/v4",
        ),
        ({"platform": "zai"}, "https://api.z.ai/api/paas/v4", "https://api.z.ai/api/paas/v4"),
        (
            {"base_url": "http://127.0.0.1:9/api/coding/paas/v4/"},
            "http://127.0.0.1:9/api/coding/paas/v4",
            "http://127.0.0.1:9/api/paas/v4",
        ),
        (
            {"base_url": "http://127.0.0.1:9/api/paas/v4"},
            "http://127.0.0.1:9/api/paas/v4",
            "http://127.0.0.1:9/api/paas/v4",
        ),
        (
            {"base_url": "https://proxy.example/glm", "coding_plan": True},
            "https://proxy.example/glm",
            "https://proxy.example/glm",
        ),
    ],
)
def test_chat_and_general_endpoints(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, Any], chat: str, general: str
) -> None:
    for name in ("ZAI_BASE_URL", "ZHIPUAI_BASE_URL", "GLM_CODING_PLAN", "GLM_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(**values)
    assert (settings.api_base_url, settings.general_base_url) == (chat, general)
    assert settings.on_coding_plan is (chat != general)


async def test_the_client_sends_only_chat_to_the_coding_endpoint(fake: FakeGLM) -> None:
    fake.media_size = 64
    async with GLMClient(
        CANARY_KEY, fake.coding_base_url, general_url=fake.base_url, retry_backoff=0.01, timeout=5
    ) as glm:
        assert glm.coding_plan
        await glm.chat(HELLO)
        await glm.web_search(WebSearchRequest(search_query="q", search_engine="search-prime"))
        await glm.generate_image(ImageRequest(model="cogview-4-250304", prompt="a fox"))
        task = await glm.submit_video(VideoRequest(model="cogvideox-3", prompt="a fox"))
        assert task.id is not None
        await glm.task_result(task.id)
        wav = wav_file(b"\x00\x01" * 8000)
        audio = FilePart("a.wav", "audio/wav", len(wav), lambda: iter([wav]))
        await glm.transcribe(audio, model="glm-asr-2512", prompt=None, hotwords=[])
    assert [(r.route.split("/")[0], r.base) for r in fake.requests] == [
        ("chat", "coding"),
        ("web_search", "paas"),
        ("images", "paas"),
        ("videos", "paas"),
        ("async-result", "paas"),
        ("audio", "paas"),
    ]


async def test_one_endpoint_without_the_plan(fake: FakeGLM) -> None:
    async with GLMClient(CANARY_KEY, fake.base_url, retry_backoff=0.01) as glm:
        assert not glm.coding_plan
        await glm.chat(HELLO)
        await glm.web_search(WebSearchRequest(search_query="q", search_engine="search-prime"))
    assert [r.base for r in fake.requests] == ["paas", "paas"]


def test_the_fake_coding_endpoint_serves_chat_only(fake: FakeGLM) -> None:
    fake.coding_keys = {CODING_KEY}
    chat = {"model": "glm-4.7", "messages": [{"role": "user", "content": "hi"}]}
    search = {"search_query": "q", "search_engine": "search-prime"}
    for key in (CANARY_KEY, CODING_KEY):
        with httpx2.Client(headers={"Authorization": f"Bearer {key}"}) as http:
            assert http.post(f"{fake.coding_base_url}/chat/completions", json=chat).status_code == 200
            refused = http.post(f"{fake.coding_base_url}/web_search", json=search)
            assert (refused.status_code, refused.json()["error"]["code"]) == (429, "1113")
            general = http.post(f"{fake.base_url}/web_search", json=search)
            assert general.status_code == (200 if key == CANARY_KEY else 429)
            general_chat = http.post(f"{fake.base_url}/chat/completions", json=chat)
            assert general_chat.status_code == (200 if key == CANARY_KEY else 429)
    with httpx2.Client(headers={"Authorization": "Bearer someone-else"}) as http:
        assert http.post(f"{fake.coding_base_url}/chat/completions", json=chat).status_code == 401


async def test_tools_reach_the_general_endpoint_on_the_plan(fake: FakeGLM) -> None:
    async with in_process(fake, base_url=fake.coding_base_url) as client:
        chat = await client.call_tool("glm_chat", {"prompt": "hi"})
        assert not chat.is_error, text_of(chat)
        found = await client.call_tool("web_search", {"query": "q"})
        assert not found.is_error, text_of(found)
        video = await client.call_tool("generate_video", {"prompt": "a fox", "wait_seconds": 0})
        assert not video.is_error, text_of(video)
    routes = [(r.route.split("/")[0], r.base) for r in fake.requests if r.base]
    assert routes[:3] == [("chat", "coding"), ("web_search", "paas"), ("videos", "paas")]
    assert all(base == "paas" for route, base in routes[3:])


@pytest.mark.parametrize(
    ("tool", "arguments", "what"),
    [
        ("web_search", {"query": "q"}, "web search"),
        ("generate_image", {"prompt": "a fox"}, "image generation"),
        ("generate_video", {"prompt": "a fox", "wait_seconds": 0}, "video generation"),
        ("get_task", {"task_id": "7000000000000000001"}, "reading job results"),
    ],
)
async def test_a_plan_without_balance_is_told_the_plan_does_not_cover_the_tool(
    fake: FakeGLM, tool: str, arguments: dict[str, object], what: str
) -> None:
    fake.coding_keys = {CODING_KEY}
    async with in_process(fake, api_key=CODING_KEY, base_url=fake.coding_base_url) as client:
        chat = await client.call_tool("glm_chat", {"prompt": "hi"})
        assert not chat.is_error, text_of(chat)
        refused = await client.call_tool(tool, arguments)
    assert refused.is_error
    text = text_of(refused)
    assert "HTTP 429, code 1113" in text
    assert f"The GLM Coding Plan covers chat only, not {what}: that goes to the general endpoint" in text
    assert "needs account balance" in text
    assert "\n" not in text
    assert CODING_KEY not in text
    assert [r.base for r in fake.requests if r.base][1:] == ["paas"]  # 1113 is not retried


async def test_the_general_endpoint_names_itself_when_it_refuses_the_key(fake: FakeGLM) -> None:
    async with GLMClient(
        "wrong-key", fake.coding_base_url, general_url=fake.base_url, retry_backoff=0.01
    ) as glm:
        with pytest.raises(Exception, match=f"refused by the general endpoint {fake.base_url}"):
            await glm.web_search(WebSearchRequest(search_query="q", search_engine="search-prime"))


async def test_without_the_plan_1113_keeps_its_own_hint(fake: FakeGLM) -> None:
    fake.coding_keys = {CODING_KEY}
    async with GLMClient(CODING_KEY, fake.base_url, retry_backoff=0.01) as glm:
        with pytest.raises(QuotaExhausted) as raised:
            await glm.web_search(WebSearchRequest(search_query="q", search_engine="search-prime"))
    assert "a Coding Plan key works only on the coding endpoint" in str(raised.value)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_coding_plan_over_stdio(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    fake.coding_keys = {CODING_KEY}
    env = server_env(fake, ZAI_API_KEY=CODING_KEY, ZAI_BASE_URL=fake.coding_base_url)
    async with over_stdio(env, tmp_path / "stderr.log", mode=mode) as client:
        chat = await client.call_tool("glm_chat", {"prompt": "hi"})
        assert not chat.is_error, text_of(chat)
        refused = await client.call_tool("web_search", {"query": "q"})
        assert refused.is_error
        assert "The GLM Coding Plan covers chat only, not web search" in text_of(refused)
        fake.coding_keys = set()  # the account was topped up: the same key now pays at the general endpoint
        fake.api_keys = {CANARY_KEY, CODING_KEY}
        found = await client.call_tool("web_search", {"query": "q"})
        assert not found.is_error, text_of(found)
    assert CODING_KEY not in (tmp_path / "stderr.log").read_text()
    assert [(r.route, r.base) for r in fake.requests] == [
        ("chat/completions", "coding"),
        ("web_search", "paas"),
        ("web_search", "paas"),
    ]
