"""The API key never leaves the process except in the Authorization header sent to the GLM API.

A canary key goes through successes and every kind of failure, with the most verbose logging, and must
not appear in stdout, stderr or any tool result.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CANARY_KEY, over_stdio, server_env
from tests.fake_glm import FakeGLM, Fault
from tests.support.stdio import installed_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_canary_key_never_leaks(fake: FakeGLM, tmp_path: Path) -> None:
    fake.script(
        "chat/completions",
        Fault(status=400, code="1214", message=f"header was Bearer {CANARY_KEY}"),  # the API echoes the key
        Fault(status=401, code="1002"),
        Fault(status=500, body=f"<html>{CANARY_KEY}</html>", content_type="text/html"),
        Fault(status=500, body=f"<html>{CANARY_KEY}</html>", content_type="text/html"),
        Fault(cut_after=6),
        Fault(finish_reason="sensitive"),
        Fault(delay=2),
        Fault(delay=2),
    )
    env = server_env(fake, GLM_LOG_LEVEL="DEBUG", GLM_MAX_RETRIES="1", GLM_TIMEOUT="0.5")
    stderr_path = tmp_path / "stderr.log"
    outputs: list[str] = []
    async with over_stdio(env, stderr_path, mode="legacy") as client:
        for arguments in (
            {"prompt": "echo"},
            {"prompt": "refused"},
            {"prompt": "html"},
            {"prompt": "cut"},
            {"prompt": "filtered"},
            {"prompt": "slow"},
            {"prompt": "fine", "web_search": True},
            {"prompt": "bad", "temperature": 9},
        ):
            result = await client.call_tool("glm_chat", arguments)
            outputs.append(result.model_dump_json())
        outputs.append((await client.call_tool("web_search", {"query": CANARY_KEY[:8]})).model_dump_json())
    errors = [json.loads(output)["is_error"] for output in outputs]
    assert errors == [True, True, True, False, True, True, False, True, False]
    assert all(CANARY_KEY not in output for output in outputs)
    stderr = stderr_path.read_text()
    assert "DEBUG" in stderr
    assert CANARY_KEY not in stderr
    # and the key did reach the API, where it belongs
    assert all(r.headers["authorization"] == f"Bearer {CANARY_KEY}" for r in fake.requests)


@pytest.mark.parametrize("ending", ["\r", "\r\n", " \t", "\n"])
async def test_a_key_with_a_line_ending_works_and_never_shows(
    fake: FakeGLM, tmp_path: Path, ending: str
) -> None:
    # A .env with Windows line endings, or a key pasted with a trailing newline.
    env = server_env(fake, ZAI_API_KEY=f" {CANARY_KEY}{ending}", GLM_LOG_LEVEL="DEBUG", GLM_MAX_RETRIES="1")
    stderr_path = tmp_path / "stderr.log"
    fake.script("chat/completions", Fault(status=500, code="500"), Fault(status=500, code="500"))
    async with over_stdio(env, stderr_path, mode="legacy") as client:
        failed = await client.call_tool("glm_chat", {"prompt": "fails twice"})
        answered = await client.call_tool("glm_chat", {"prompt": "hello"})
    assert failed.is_error
    assert not answered.is_error, answered.model_dump_json()
    stderr = stderr_path.read_text()
    assert "retry 1 of 1" in stderr
    for output in (failed.model_dump_json(), answered.model_dump_json(), stderr):
        assert CANARY_KEY[:8] not in output
        assert "Illegal header" not in output
    assert all(r.headers["authorization"] == f"Bearer {CANARY_KEY}" for r in fake.requests)


@pytest.mark.parametrize("variable", ["ZAI_API_KEY", "ZHIPUAI_API_KEY"])
@pytest.mark.parametrize("command", [[], ["doctor"]])
def test_a_key_with_an_inner_control_character_is_refused_at_start(
    fake: FakeGLM, variable: str, command: list[str]
) -> None:
    env = server_env(fake)
    del env["ZAI_API_KEY"]
    env[variable] = f"{CANARY_KEY[:20]}\r\n{CANARY_KEY[20:]}"
    done = subprocess.run(
        [installed_server(), *command],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    # argparse's usage, then one line saying what is wrong
    [line] = [line for line in done.stderr.splitlines() if "error:" in line]
    assert f"the key in {variable} has a control character" in line
    assert CANARY_KEY[:8] not in done.stdout + done.stderr
    assert fake.requests == []


def test_doctor_accepts_a_key_with_a_line_ending(fake: FakeGLM) -> None:
    env = server_env(fake, ZAI_API_KEY=f"{CANARY_KEY}\r")
    done = subprocess.run(
        [installed_server(), "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: the API accepted the key" in done.stdout
    assert f"...{CANARY_KEY[-4:]}" in done.stdout
    assert CANARY_KEY[:8] not in done.stdout + done.stderr
    requests = fake.requests_to("chat/completions")  # the key check, then the general endpoint's
    assert requests
    assert {request.headers["authorization"] for request in requests} == {f"Bearer {CANARY_KEY}"}
