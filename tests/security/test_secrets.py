"""Issue 5 §4, secrets: a canary API key and a canary bearer token (GLM_MCP_AUTH_TOKEN) through
successes and failures of every tool over HTTP, with DEBUG logging. Neither may appear in the server's
stdout or stderr, any tool result or error, any HTTP answer, any SQLite row (or the database files'
bytes) or any file the server saved.

tests/test_secrets.py covers glm_chat and web_search over stdio; this adds the media tools (and so the
store and the saved files), upstream texts that echo the key in task failures, error bodies and media
downloads, and the bearer token over Streamable HTTP and SSE.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import CANARY_KEY, in_process, over_stdio, server_env
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.samples import PNG
from tests.security.conftest import WAV, serving
from tests.support.http import TOKEN, connect
from tests.support.stores import database_url_for, every_row

pytestmark = pytest.mark.anyio

SECRETS = (CANARY_KEY, TOKEN)
ECHO = f"key Bearer {CANARY_KEY} was refused"  # what a careless upstream says back


def assert_clean(text: str | bytes, where: str) -> None:
    for secret in SECRETS:
        needle: Any = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, (
            f"{'the API key' if secret == CANARY_KEY else 'the bearer token'} is in {where}"
        )


def database_rows(data_dir: Path) -> list[str]:
    """Every row of every table of every SQLite database under `data_dir`, and of the store of
    `data_dir` on PostgreSQL (GLM_TEST_STORE=postgresql), as text."""
    found: list[str] = [] if database_url_for(data_dir) is None else every_row(data_dir)
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.read_bytes()[:16] != b"SQLite format 3\x00":
            continue
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                found.extend(repr(row) for row in db.execute(f'SELECT * FROM "{table}"'))
    return found


async def exercise(client: Any, fake: FakeGLM, inputs: Path) -> tuple[list[str], list[bool]]:
    """Successes and failures of every tool; returns each result as JSON and whether it was an error."""
    outputs: list[str] = []
    errors: list[bool] = []

    async def run(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await client.call_tool(tool, arguments)
        outputs.append(result.model_dump_json())
        errors.append(bool(result.is_error))
        return result.structured_content or {}

    # chat: the key echoed in an error message, an HTML error page, then success (with an image)
    fake.script(
        "chat/completions",
        Fault(status=400, code="1214", message=ECHO),
        Fault(status=500, body=f"<html>{CANARY_KEY}</html>", content_type="text/html"),
        Fault(status=500, body=f"<html>{CANARY_KEY}</html>", content_type="text/html"),
    )
    await run("glm_chat", {"prompt": "echo"})
    await run("glm_chat", {"prompt": "html"})
    await run("glm_chat", {"prompt": "fine", "images": [str(inputs / "a.png")], "model": "glm-4.6v"})
    # search
    fake.script("web_search", Fault(status=401, code="1002", message=ECHO))
    await run("web_search", {"query": "refused"})
    await run("web_search", {"query": "fine"})
    # images: refused with the key echoed, then saved; a download that fails with the key in its body
    fake.script("images/generations", Fault(status=400, code="1214", message=ECHO))
    await run("generate_image", {"prompt": "refused"})
    await run("generate_image", {"prompt": "a saved picture"})
    fake.script(
        "media",
        Fault(status=500, body=f"denied for {CANARY_KEY}"),
    )
    await run("generate_image", {"prompt": "download fails"})
    # video: a task that fails (recorded in the store), then one done. (A failure message that echoes the
    # key is test_task_failure_message_is_redacted's case, below: it leaks today.)
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_code="1301")
    failed = await run("generate_video", {"prompt": "fails", "wait_seconds": 0})
    await run("get_task", {"task_id": failed.get("task_id", "none"), "wait_seconds": 5})
    await run("get_task", {"task_id": failed.get("task_id", "none")})  # from the store this time
    fake.task_plan = TaskPlan(polls=1)
    await run("generate_video", {"prompt": "done", "wait_seconds": 5})
    await run("get_task", {"task_id": "no-such-task", "wait_seconds": 0})
    # transcription: an error page with the key, then success
    fake.script(
        "audio/transcriptions",
        Fault(status=500, body=f"<html>{CANARY_KEY}</html>", content_type="text/html"),
        Fault(status=500, body=f"<html>{CANARY_KEY}</html>", content_type="text/html"),
    )
    await run("transcribe", {"file": str(inputs / "a.wav")})
    await run("transcribe", {"file": str(inputs / "a.wav"), "hotwords": ["canary"]})
    # a file refusal and an argument error
    await run("transcribe", {"file": "/etc/passwd"})
    await run("glm_chat", {"prompt": "bad", "temperature": 9})
    return outputs, errors


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_key_and_token_never_leak(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path, transport: str
) -> None:
    (isolated_dirs / "a.png").write_bytes(PNG)
    (isolated_dirs / "a.wav").write_bytes(WAV)
    data_dir = tmp_path / "data"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = server_env(fake, GLM_LOG_LEVEL="DEBUG", GLM_MCP_AUTH_TOKEN=TOKEN, GLM_MAX_RETRIES="1")
    endpoint = "/mcp" if transport == "streamable-http" else "/sse"
    answers: list[str] = []
    with serving(env, transport, logs) as running:
        # refused attempts, one with a near miss that contains the token
        for headers in ({"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}, {"X-Token": TOKEN}):
            response = httpx2.get(running.root + endpoint, headers=headers, timeout=5)
            assert response.status_code == 401
            answers.append(repr(response.headers.multi_items()) + response.text)
        async with connect(running, transport, "auto", token=TOKEN) as client:
            outputs, errors = await exercise(client, fake, isolated_dirs)
    # the run reached both sides of every tool
    assert errors == [
        *(True, True, False),
        *(True, False),
        *(True, False, True),
        *(False, True, True, False, True),
        *(True, False, True, True),
    ], errors
    for number, output in enumerate(outputs):
        assert_clean(output, f"tool result {number}: {output}")
    for answer in answers:
        assert_clean(answer, f"an HTTP answer: {answer}")
    for log in logs.iterdir():
        assert_clean(log.read_bytes(), f"the server's {log.suffix} ({log.name})")
    stderr = next(logs.glob("*.err")).read_text()
    assert "DEBUG" in stderr
    # every file the server wrote: the database and its journal, the saved media
    written = [path for path in data_dir.rglob("*") if path.is_file()]
    assert any(path.suffix in (".png", ".jpg", ".jpeg", ".webp") for path in written), written
    assert any(path.suffix == ".mp4" for path in written), written
    for path in written:
        assert_clean(path.read_bytes(), f"the file {path}")
    rows = database_rows(data_dir)
    assert len(rows) >= 3, rows
    for row in rows:
        assert_clean(row, f"a store row: {row}")
    # the key did reach the API, where it belongs, and only in the Authorization header
    api = [r for r in fake.requests if not r.route.startswith("media")]
    assert api and all(r.headers["authorization"] == f"Bearer {CANARY_KEY}" for r in api)
    assert all(CANARY_KEY.encode() not in r.body for r in fake.requests)


async def test_task_failure_message_is_redacted(fake: FakeGLM, tmp_path: Path) -> None:
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_code="1301", fail_message=ECHO)
    async with in_process(fake) as client:
        result = await client.call_tool("generate_video", {"prompt": "fails", "wait_seconds": 5})
    assert result.is_error
    rows = database_rows(tmp_path / "data")
    assert_clean(result.model_dump_json(), "the generate_video error")
    for row in rows:
        assert_clean(row, f"a store row: {row}")


def _sse(*chunks: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"


def _chunk(content: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "glm-4.7",
        "choices": [{"index": 0, "delta": {"content": content}}],
        **fields,
    }


@pytest.mark.slow
async def test_the_key_echoed_in_any_upstream_field_is_redacted(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path
) -> None:
    """The fake echoes the key in every field the server reads: error codes (both envelope forms and in
    a stream chunk), chat content (split across chunks), model, ids and sources, search titles and URLs,
    a transcript, a task's model and failure. It reaches no result, log line or store byte."""
    (isolated_dirs / "a.wav").write_bytes(WAV)
    key = CANARY_KEY
    stop = {"index": 0, "finish_reason": "stop", "delta": {"content": ""}}
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    source = {"title": key, "link": f"https://example.com/{key}", "content": key, "media": key, "refer": key}
    fake.script(
        "chat/completions",
        Fault(status=400, body=json.dumps({"error": {"code": key, "message": "refused"}})),
        Fault(status=400, body=json.dumps({"code": key, "message": "refused", "success": False})),
        Fault(
            body=_sse(_chunk("partial "), {"error": {"code": key, "message": "stopped"}}),
            content_type="text/event-stream",
        ),
        Fault(
            body=_sse(
                _chunk("the key is " + key[:5], web_search=[source]),
                _chunk(key[5:] + ".", model=key, request_id=key),
                {"id": key, "model": key, "choices": [stop], "usage": usage},
            ),
            content_type="text/event-stream",
        ),
        Fault(
            body=json.dumps(
                {
                    "id": key,
                    "model": key,
                    "choices": [
                        {"message": {"content": key, "reasoning_content": key}, "finish_reason": key}
                    ],
                    "usage": usage,
                }
            )
        ),
    )
    fake.script(
        "web_search",
        Fault(status=401, code="1000", message=f"key {key[:12]}... is not valid"),  # a cut echo
        Fault(body=json.dumps({"id": key, "search_result": [source]})),
    )
    fake.script("audio/transcriptions", Fault(body=json.dumps({"id": key, "model": key, "text": key})))
    failure = {"task_status": "FAIL", "model": key, "id": key, "error": {"code": key, "message": key}}
    fake.script("async-result", Fault(body=json.dumps(failure)))
    env = server_env(fake, GLM_LOG_LEVEL="DEBUG", GLM_MAX_RETRIES="1")
    stderr_path = tmp_path / "stderr.log"
    outputs: list[str] = []
    async with over_stdio(env, stderr_path) as client:
        for tool, arguments in (
            ("glm_chat", {"prompt": "envelope"}),
            ("glm_chat", {"prompt": "top level"}),
            ("glm_chat", {"prompt": "stream error"}),
            ("glm_chat", {"prompt": "streamed", "web_search": True, "thinking": True}),
            ("glm_chat", {"prompt": "whole", "thinking": True}),
            ("web_search", {"query": "refused"}),
            ("web_search", {"query": "anything"}),
            ("transcribe", {"file": str(isolated_dirs / "a.wav")}),
            ("get_task", {"task_id": "7000000000000000001", "wait_seconds": 0}),
        ):
            result = await client.call_tool(tool, arguments)
            outputs.append(result.model_dump_json())
        outputs.append((await client.read_resource("glm://usage")).model_dump_json())
        outputs.append((await client.read_resource("glm://tasks")).model_dump_json())
    errors = [json.loads(output).get("is_error") for output in outputs[:9]]
    assert errors == [True, True, True, False, False, True, False, False, True], outputs
    assert "***" in outputs[3] and "***" in outputs[5] and "***" in outputs[6]
    for number, output in enumerate(outputs):
        assert_clean(output, f"result {number}: {output}")
        assert key[:8] not in output, f"result {number}: {output}"
    stderr = stderr_path.read_text()
    assert "DEBUG" in stderr
    assert key[:8] not in stderr
    stored = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
    rows = database_rows(tmp_path / "data")  # the store's, on either engine
    assert rows
    for path in stored:
        assert key[:8].encode() not in path.read_bytes(), path
    for row in rows:
        assert key[:8] not in row, row
