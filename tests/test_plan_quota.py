"""The GLM Coding Plan's quota, as `doctor` and glm://usage show it (the 5-hour token window, the monthly
tool calls; "not available" when the plan's query is missing or fails), and quota errors naming the quota
that ran out and when it resets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextResourceContents

from tests.conftest import in_process, over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM, Fault
from tests.support.stdio import installed_server

pytestmark = pytest.mark.anyio
CODING_KEY = "coding-plan-key-without-balance-7d41"
QUOTA_ROUTE = "monitor/usage/quota/limit"
TOKEN_RESET = "2030-03-17 17:46 UTC"  # the fake's token_reset_ms, 1_900_000_000_000
CALLS_RESET = "2030-04-09 21:20 UTC"  # its calls_reset_ms, 1_902_000_000_000


def plan_env(fake: FakeGLM) -> dict[str, str]:
    fake.coding_keys = {CODING_KEY}
    return server_env(fake, ZAI_API_KEY=CODING_KEY, ZAI_BASE_URL=fake.coding_base_url)


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_server(), "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def usage(client: Client) -> Any:
    [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    return json.loads(contents.text)


@pytest.mark.slow
def test_doctor_shows_the_plans_quota(fake: FakeGLM) -> None:
    done = doctor(plan_env(fake))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "GLM Coding Plan quota" in out
    assert "  plan level lite" in out
    assert f"  5-hour token window: 12% used, resets at {TOKEN_RESET}" in out
    assert f"  monthly tool calls: 28 used, 100 total, 72 remaining, resets at {CALLS_RESET}" in out
    assert CODING_KEY not in out + done.stderr
    assert [r.base for r in fake.requests_to(QUOTA_ROUTE)] == ["root"]


@pytest.mark.slow
def test_doctor_says_the_quota_is_not_available_and_still_passes(fake: FakeGLM) -> None:
    env = plan_env(fake)
    fake.quota_available = False
    done = doctor(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  not available (the platform does not report it for this key)" in done.stdout


@pytest.mark.slow
def test_doctor_without_a_plan_asks_no_quota(fake: FakeGLM) -> None:
    done = doctor(server_env(fake))
    assert done.returncode == 0, done.stdout
    assert "GLM Coding Plan quota" not in done.stdout
    assert fake.requests_to(QUOTA_ROUTE) == []


@pytest.mark.slow
@pytest.mark.parametrize("available", [True, False])
async def test_usage_shows_the_plans_quota_over_stdio(fake: FakeGLM, tmp_path: Path, available: bool) -> None:
    env = plan_env(fake)
    fake.quota_available = available
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        chat = await client.call_tool("glm_chat", {"prompt": "hi"})
        assert not chat.is_error, text_of(chat)
        shown = await usage(client)
    assert [row["tool"] for row in shown["usage"]] == ["glm_chat"]
    quota = shown["plan_quota"]
    if not available:
        assert quota == {"available": False, "reason": "the platform does not report it for this key"}
        return
    assert quota["available"] is True
    assert quota["level"] == "lite"
    assert quota["token_window_5h"] == {"used_percent": 12.0, "resets_at": TOKEN_RESET}
    calls = quota["monthly_tool_calls"]
    assert (calls["used"], calls["total"], calls["remaining"]) == (28, 100, 72)
    assert calls["resets_at"] == CALLS_RESET
    assert calls["per_tool"] == {"search-prime": 20, "web-reader": 8, "zread": 0}


async def test_a_failed_quota_query_does_not_fail_usage(fake: FakeGLM) -> None:
    fake.coding_keys = {CODING_KEY}
    fake.script(QUOTA_ROUTE, Fault(status=500, code="500"), Fault(status=500, code="500"))
    async with in_process(fake, api_key=CODING_KEY, base_url=fake.coding_base_url) as client:
        shown = await usage(client)
    quota = shown["plan_quota"]
    assert quota["available"] is False
    assert "HTTP 500" in quota["reason"]
    assert CODING_KEY not in json.dumps(shown)


async def test_usage_without_a_plan_is_the_list_of_totals(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        assert await usage(client) == []
    assert fake.requests_to(QUOTA_ROUTE) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("1308", "The plan's usage limit for its 5-hour window is reached: it resets at 2030-01-01 00:00:00"),
        ("1310", "The plan's weekly or monthly limit is used up: it resets at 2030-01-01 00:00:00"),
        ("1304", "The daily call limit of this key is reached: it resets at midnight UTC"),
        ("1113", "The account has no balance or resource package"),
    ],
)
async def test_a_quota_error_names_the_quota_and_its_reset(fake: FakeGLM, code: str, words: str) -> None:
    fake.script("chat/completions", Fault(status=429, code=code))
    async with in_process(fake) as client:
        answer = await client.call_tool("glm_chat", {"prompt": "out of quota"})
    assert answer.is_error
    text = text_of(answer)
    assert words in text, text
    assert "\n" not in text
    assert len(fake.requests_to("chat/completions")) == 1


async def test_a_1308_without_a_reset_time_says_to_wait_for_the_window(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(status=429, code="1308", message="Usage limit reached for 5 hour."))
    async with in_process(fake) as client:
        text = text_of(await client.call_tool("glm_chat", {"prompt": "out of quota"}))
    assert "usage limit for its 5-hour window is reached: wait until the window resets" in text


@pytest.mark.slow
async def test_a_1308_over_stdio_names_the_window_and_reset(fake: FakeGLM, tmp_path: Path) -> None:
    env = plan_env(fake)
    fake.script("chat/completions", Fault(status=429, code="1308"))
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        answer = await client.call_tool("glm_chat", {"prompt": "out of quota"})
    assert answer.is_error
    text = text_of(answer)
    assert "HTTP 429, code 1308" in text
    assert "5-hour window is reached: it resets at 2030-01-01 00:00:00" in text


async def test_a_1308_without_a_reset_time_gets_the_plans_window_reset(fake: FakeGLM) -> None:
    fake.coding_keys = {CODING_KEY}
    fake.script("chat/completions", Fault(status=429, code="1308", message="Usage limit reached for 5 hour."))
    async with in_process(fake, api_key=CODING_KEY, base_url=fake.coding_base_url) as client:
        text = text_of(await client.call_tool("glm_chat", {"prompt": "out of quota"}))
    assert text.endswith("The 5-hour window resets at 17:46 UTC."), text
    assert "\n" not in text
    assert len(fake.requests_to(QUOTA_ROUTE)) == 1


async def test_a_1308_whose_quota_query_fails_keeps_its_line(fake: FakeGLM) -> None:
    fake.coding_keys = {CODING_KEY}
    fake.quota_available = False
    fake.script("chat/completions", Fault(status=429, code="1308", message="Usage limit reached for 5 hour."))
    async with in_process(fake, api_key=CODING_KEY, base_url=fake.coding_base_url) as client:
        text = text_of(await client.call_tool("glm_chat", {"prompt": "out of quota"}))
    assert text.endswith("wait until the window resets, or use a pay-as-you-go key."), text
