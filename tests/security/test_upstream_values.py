"""Odd values from upstream: a usage count past 64 bits, a model that is a list, fields of the wrong type.

None of them may stop the server, cost another call's usage row, or put the raw value in a log line;
a wrong-typed field is a one-line BadResponse naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from mcp_server_glm.server import build_server
from mcp_server_glm.store import MAX_UNITS, Store
from mcp_server_glm.transports import http_app
from tests.conftest import over_stdio, server_env, settings_for
from tests.fake_glm import FakeGLM, Fault
from tests.security.conftest import call, check_outcome, serving
from tests.support.http import connect
from tests.support.stores import database_url_for

pytestmark = pytest.mark.anyio

RAW = "RAW-UPSTREAM-VALUE-7d1c"  # a value that must never reach a log line


def answer(**fields: Any) -> str:
    """A whole (non-streamed) chat answer, as the API may send one to a stream request."""
    body = {
        "id": "chat-1",
        "model": "glm-4.7",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return json.dumps(body | fields)


async def usage_totals(client: Client) -> list[dict[str, Any]]:
    [contents] = (await client.read_resource("glm://usage")).contents
    assert isinstance(contents, TextResourceContents)
    totals: list[dict[str, Any]] = json.loads(contents.text)
    return totals


def script_odd_usage(fake: FakeGLM) -> None:
    """A usage past 2^63, a slow normal answer (the background writer runs meanwhile), a model that is
    a list, and a model that is an object."""
    fake.script(
        "chat/completions",
        Fault(body=answer(usage={"prompt_tokens": 2**64, "completion_tokens": -5, "total_tokens": 2**63})),
        Fault(delay=1.5),
        Fault(body=answer(model=["glm-4.7", RAW])),
        Fault(body=answer(model={"name": RAW})),
    )


async def odd_usage_calls(client: Client) -> None:
    for prompt in ("huge usage", "slow", "list model", "object model", "normal"):
        result = await client.call_tool("glm_chat", {"prompt": prompt, "model": "glm-4.7"})
        assert not result.is_error, check_outcome("glm_chat", result)
        structured = result.structured_content or {}
        assert structured["model"] == "glm-4.7"  # a model that is not a string: the one requested
    [chat] = [total for total in await usage_totals(client) if total["tool"] == "glm_chat"]
    assert chat["model"] == "glm-4.7"
    assert chat["calls"] == 5  # every call counted, the odd ones too
    assert MAX_UNITS < chat["units"] < MAX_UNITS + 1000  # the huge count clamped, the others added


@pytest.mark.slow
async def test_odd_usage_over_stdio_costs_nothing(fake: FakeGLM, tmp_path: Path) -> None:
    script_odd_usage(fake)
    stderr = tmp_path / "stderr.log"
    async with over_stdio(server_env(fake, GLM_LOG_LEVEL="DEBUG"), stderr) as client:
        await odd_usage_calls(client)
        assert not (await client.call_tool("web_search", {"query": "still serving"})).is_error
    log = stderr.read_text()
    assert "Traceback" not in log
    assert RAW not in log


@pytest.mark.slow
async def test_odd_usage_over_http_keeps_the_server_healthy(fake: FakeGLM, tmp_path: Path) -> None:
    script_odd_usage(fake)
    with serving(server_env(fake), "streamable-http", tmp_path) as running:
        async with connect(running, "streamable-http", "auto") as client:
            await odd_usage_calls(client)
        async with connect(running, "streamable-http", "auto") as client:  # a new session works too
            assert not (await client.call_tool("web_search", {"query": "still serving"})).is_error
        health = httpx2.get(f"{running.root}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
    log = running.stderr.read_text()
    assert "Traceback" not in log
    assert RAW not in log


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "tool", "arguments", "body", "where"),
    [
        ("chat/completions", "glm_chat", {"prompt": "x"}, answer(usage={"total_tokens": [RAW]}), "usage"),
        ("chat/completions", "glm_chat", {"prompt": "x"}, answer(usage={"prompt_tokens": RAW}), "usage"),
        (
            "chat/completions",
            "glm_chat",
            {"prompt": "x", "web_search": True},
            answer(web_search=[{"title": {"text": RAW}, "link": "https://example.com"}]),
            "source",
        ),
        (
            "web_search",
            "web_search",
            {"query": "x"},
            json.dumps({"search_result": [{"title": "t", "link": [RAW]}]}),
            "search_result.0.link",
        ),
        (
            "web_search",
            "web_search",
            {"query": "x"},
            json.dumps({"search_result": RAW}),
            "search_result",
        ),
    ],
)
async def test_a_wrong_typed_field_is_one_line_naming_it(
    fake: FakeGLM, tmp_path: Path, route: str, tool: str, arguments: dict[str, Any], body: str, where: str
) -> None:
    fake.script(route, Fault(body=body))
    stderr = tmp_path / "stderr.log"
    async with over_stdio(server_env(fake, GLM_LOG_LEVEL="DEBUG"), stderr) as client:
        result = await client.call_tool(tool, arguments)
        text = check_outcome(tool, result)  # one line, never "internal error"
        assert result.is_error
        assert "of an unexpected shape" in text and where in text, text
        assert RAW not in text
        assert not (await client.call_tool(tool, arguments)).is_error  # and the server serves on
    log = stderr.read_text()
    assert "Traceback" not in log
    assert RAW not in log


@pytest.mark.slow
async def test_healthz_reports_background_work_that_stopped(fake: FakeGLM) -> None:
    settings = settings_for(fake, transport="streamable-http")
    server = build_server(settings)
    app = http_app(server, settings)
    assert server.store is not None
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://127.0.0.1") as http:
        assert (await http.get("/healthz")).status_code == 200
        with pytest.raises(Exception, match=r"lifespan broke|unhandled errors"):
            async with server.store.serving():
                raise RuntimeError("the lifespan broke")
        health = await http.get("/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "failing"
    assert "RuntimeError" in health.json()["problem"]


@pytest.mark.slow
async def test_lone_surrogates_from_upstream_are_made_valid_text(fake: FakeGLM, tmp_path: Path) -> None:
    # JSON may escape half a surrogate pair, which no UTF-8 output, log or database can take.
    fake.script(
        "chat/completions",
        Fault(
            body=json.dumps(
                json.loads(answer(model="glm-4.7-\ud800"))
                | {"choices": [{"index": 0, "message": {"content": "a\udc00b"}, "finish_reason": "stop"}]}
            )
        ),
    )
    fake.script("web_search", Fault(body=json.dumps({"search_result": [{"title": "t\ud800", "link": "l"}]})))
    stderr = tmp_path / "stderr.log"
    async with over_stdio(server_env(fake), stderr) as client:
        chat = await call(client, "glm_chat", {"prompt": "x"})  # a hang fails after CALL_LIMIT
        search = await call(client, "web_search", {"query": "x"})
        totals = await usage_totals(client)
    assert not chat.is_error and not search.is_error
    assert (chat.structured_content or {})["content"] == "a?b"
    assert (search.structured_content or {})["results"][0]["title"] == "t?"
    assert {(total["tool"], total["model"]) for total in totals} == {
        ("glm_chat", "glm-4.7-?"),
        ("web_search", "search-prime"),
    }


async def test_the_store_writes_every_usable_usage_row(tmp_path: Path) -> None:
    async with await Store.open(tmp_path, database_url=database_url_for(tmp_path)) as store:
        rows: list[Any] = [
            ("glm_chat", "glm-4.7", 2**70, "tokens", 1.0),
            ("glm_chat", ["not", "a", "model"], 5, "tokens", 2.0),
            ("glm_chat", "glm-4.7", -3, "tokens", 3.0),
            ("glm_chat", "glm-\udc00", 7, "tokens", 4.0),
            ("glm_chat", "glm-4.7", "9", "tokens", 5.0),
            ("web_search", "search-prime", 1, "searches", float("nan")),
            "not a row",
            ("web_search", "search-prime", 1, "searches", 6.0),
        ]
        await store.record_usage_rows(rows)
        written = await store.usage_totals()
    totals = {(total.tool, total.model): (total.calls, total.units) for total in written}
    assert totals == {
        ("glm_chat", "glm-4.7"): (2, MAX_UNITS),
        ("glm_chat", "glm-?"): (1, 7),
        ("web_search", "search-prime"): (1, 1),
    }
