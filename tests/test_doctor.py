"""`mcp-server-glm doctor` against the fake API: what it prints, what it explains, its exit code."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import CANARY_KEY, installed_server, server_env
from tests.fake_glm import FakeGLM, Fault


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
    assert "OK: the API accepted the key" in out
    [request] = fake.requests_to("chat/completions")
    assert request.json["model"] == "glm-4.7-flash"
    assert request.json["max_tokens"] == 1


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
