"""A costly video is confirmed by the person before it is submitted, when the client can ask (MCP
elicitation, both protocol eras over stdio): declining submits nothing; a client that cannot ask, or a
video the setting does not ask about, goes ahead as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM
from tests.support.stdio import installed_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
FOUR_K = {"prompt": "a fox", "size": "3840x2160", "wait_seconds": 0}


Answer = Literal["accept", "decline", "cancel"]


def asking(answer: Answer, asked: list[str]) -> Any:
    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action=answer, content={"submit": True} if answer == "accept" else None)

    return on_elicit


async def call(
    env: dict[str, str], log: Path, mode: str, answer: Answer, arguments: dict[str, Any]
) -> tuple[Any, list[str]]:
    asked: list[str] = []
    params = StdioServerParameters(command=installed_server(), env=env)
    with log.open("w") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog), mode=mode, elicitation_callback=asking(answer, asked)
        ) as client:
            return await client.call_tool("generate_video", arguments), asked


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_declining_a_costly_video_submits_nothing(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    result, asked = await call(server_env(fake), tmp_path / "stderr.log", mode, "decline", FOUR_K)
    assert result.is_error
    assert "nothing was sent or billed" in text_of(result)
    [question] = asked
    assert "4K" in question and "a fox" in question
    assert fake.requests_to("videos/generations") == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_confirmed_video_is_submitted_once(fake: FakeGLM, tmp_path: Path, mode: str) -> None:
    result, asked = await call(server_env(fake), tmp_path / "stderr.log", mode, "accept", FOUR_K)
    assert not result.is_error, text_of(result)
    assert len(asked) == 1
    assert len(fake.requests_to("videos/generations")) == 1


async def test_a_plain_video_is_not_asked_about_unless_the_setting_says_always(
    fake: FakeGLM, tmp_path: Path
) -> None:
    plain = {"prompt": "a fox", "wait_seconds": 0}
    result, asked = await call(server_env(fake), tmp_path / "a.log", "legacy", "decline", plain)
    assert not result.is_error and asked == []
    env = server_env(fake, GLM_CONFIRM_VIDEOS="always")
    result, asked = await call(env, tmp_path / "b.log", "legacy", "decline", plain)
    assert result.is_error and len(asked) == 1
    env = server_env(fake, GLM_CONFIRM_VIDEOS="never")
    result, asked = await call(env, tmp_path / "c.log", "legacy", "decline", FOUR_K)
    assert not result.is_error and asked == []
    assert len(fake.requests_to("videos/generations")) == 2


async def test_a_client_that_cannot_ask_is_not_asked(fake: FakeGLM, tmp_path: Path) -> None:
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        result = await client.call_tool("generate_video", FOUR_K)
    assert not result.is_error, text_of(result)
    assert len(fake.requests_to("videos/generations")) == 1
