"""`mcp-server-glm doctor` against the fake API: what it prints, what it explains, which tools it says the
key can use (the GLM Coding Plan's chat, the general endpoint's balance), its exit code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcp_server_glm.store import DB_NAME
from mcp_server_glm.tools import listing
from tests.conftest import CANARY_KEY, server_env
from tests.fake_glm import FakeGLM, Fault
from tests.support.stdio import installed_server

pytestmark = pytest.mark.slow

ALL_TOOLS = listing.defaults(listing.load(), "zai")  # the fake plays Z.AI
CODING_KEY = "coding-plan-key-without-balance-7d41"


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_server(), "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_accepted_key(fake: FakeGLM) -> None:
    done = doctor(server_env(fake))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"...{CANARY_KEY[-4:]}" in out
    assert CANARY_KEY not in out + done.stderr
    assert "platform      zai" in out
    assert "will be created" in out or "writable" in out
    env = server_env(fake)
    if "GLM_DATABASE_URL" in env:  # GLM_TEST_STORE=postgresql: the test's database, without its password
        password = env["GLM_DATABASE_URL"].split(":")[2].split("@")[0]
        database = env["GLM_DATABASE_URL"].rsplit("/", 1)[1]
        assert "store         PostgreSQL at postgresql://glm@127.0.0.1:" in out
        assert f"/{database}\n" in out
        assert password not in out + done.stderr
    else:
        assert f"store         SQLite at {Path(env['GLM_DATA_DIR']) / DB_NAME}\n" in out
    assert "OK: the API accepted the key" in out
    assert "OK: the general endpoint accepted the key and the account can pay" in out
    assert f"Tools this key can use: {', '.join(ALL_TOOLS)}." in out
    key_check, balance_check = fake.requests_to("chat/completions")
    assert key_check.json["model"] == "glm-4.7-flash"
    assert key_check.json["max_tokens"] == 1
    assert balance_check.json["model"] == "glm-4.7"  # a paid model: only balance pays for it
    assert balance_check.json["max_tokens"] == 1
    assert {key_check.base, balance_check.base} == {"paas"}


def test_names_a_postgresql_store_by_its_url_without_the_password(fake: FakeGLM) -> None:
    url = "postgresql://replicas:pg-secret-91c2@db.internal:6432/glm?sslpassword=other-secret"
    done = doctor(server_env(fake, GLM_DATABASE_URL=url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "store         PostgreSQL at postgresql://replicas@db.internal:6432/glm\n" in done.stdout
    assert "pg-secret-91c2" not in done.stdout + done.stderr
    assert "other-secret" not in done.stdout + done.stderr


def test_coding_plan_key_without_balance_can_use_chat_only(fake: FakeGLM) -> None:
    fake.coding_keys = {CODING_KEY}
    env = server_env(fake, ZAI_API_KEY=CODING_KEY, ZAI_BASE_URL=fake.coding_base_url, GLM_CODING_PLAN="1")
    done = doctor(env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert CODING_KEY not in out + done.stderr
    assert "coding plan   yes (chat only)" in out
    assert f"API base URL  {fake.coding_base_url} (set explicitly)" in out
    assert f"other tools   {fake.base_url}" in out
    assert "OK: the API accepted the key" in out
    assert "NOT AVAILABLE: the account cannot pay for them (code 1113" in out
    assert "the GLM Coding Plan covers chat only, and these tools need account balance" in out
    assert "Tools this key can use: glm_chat." in out
    chat, general = fake.requests_to("chat/completions")
    assert (chat.base, general.base) == ("coding", "paas")


def test_coding_plan_key_with_balance_can_use_every_tool(fake: FakeGLM) -> None:
    done = doctor(server_env(fake, ZAI_BASE_URL=fake.coding_base_url, GLM_CODING_PLAN="1"))
    assert done.returncode == 0, done.stdout
    assert f"Tools this key can use: {', '.join(ALL_TOOLS)}." in done.stdout
    assert [r.base for r in fake.requests_to("chat/completions")] == ["coding", "paas"]


def test_no_balance_without_a_plan(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(), Fault(code="1113"))
    done = doctor(server_env(fake))
    assert done.returncode == 0, done.stdout
    assert (
        "these tools and paid chat models need account balance: top it up (free models still" in done.stdout
    )
    assert "Tools this key can use: glm_chat." in done.stdout


def test_only_chat_enabled_checks_only_chat(fake: FakeGLM) -> None:
    done = doctor(server_env(fake, GLM_TOOLS="glm_chat"))
    assert done.returncode == 0, done.stdout
    assert "general endpoint" not in done.stdout
    assert len(fake.requests_to("chat/completions")) == 1


def test_refused_key_points_at_the_other_platform(fake: FakeGLM) -> None:
    done = doctor(server_env(fake, ZAI_API_KEY="someone-elses-key-1234"))
    assert done.returncode == 1
    assert "FAILED: the API refused the key" in done.stdout
    assert "set GLM_PLATFORM=bigmodel" in done.stdout
    assert "GLM_CODING_PLAN=1" in done.stdout


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        (Fault(status=429, code="1113"), 1, "try GLM_CODING_PLAN=1"),
        (Fault(status=429, code="1302"), 0, "accepted the key but is rate limiting"),
        (Fault(status=400, code="1211"), 0, "the key works"),
    ],
)
def test_explains_what_the_api_said(fake: FakeGLM, fault: Fault, code: int, words: str) -> None:
    fake.script("chat/completions", fault, fault)
    done = doctor(server_env(fake))
    assert done.returncode == code, done.stdout
    assert words in done.stdout


def test_unreachable_api() -> None:
    done = doctor(server_env(None, ZAI_API_KEY="k-0000000000", ZAI_BASE_URL="http://127.0.0.1:9/api/paas/v4"))
    assert done.returncode == 1
    assert "FAILED: the API could not be reached" in done.stdout


def test_no_key() -> None:
    done = doctor(server_env(None))
    assert done.returncode == 1
    assert "API key       not set" in done.stdout
    assert "FAILED: no API key. Set ZAI_API_KEY" in done.stdout
