"""Session affinity in process: with GLM_REPLICA_ID the Streamable HTTP app issues `<replica>.<id>` session
ids and takes only its own back; a foreign or bare id gets the SDK's own answer to an unknown session;
2026-07-28 requests and servers without a replica id are as before; the setting is validated."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from starlette.types import ASGIApp, Message

from mcp_server_glm.cli import load_settings
from mcp_server_glm.server import build_server
from mcp_server_glm.transports import http_app
from tests.conftest import settings_for
from tests.fake_glm import FakeGLM
from tests.support.http import INITIALIZE

pytestmark = pytest.mark.anyio

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = {**HEADERS, "MCP-Protocol-Version": "2025-11-25"}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
HEX_ID = re.compile(r"[0-9a-f]{32}")


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """The app's lifespan run as a server runs it (startup, then shutdown at the end)."""
    to_app, app_inbox = anyio.create_memory_object_stream[Message](4)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](4)

    async def run() -> None:
        async def send(message: Message) -> None:
            await app_outbox.send(message)

        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, app_inbox.receive, send)

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


@asynccontextmanager
async def served(fake: FakeGLM, **settings: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """An HTTP client of the Streamable HTTP app built as `mcp-server-glm` builds it, in this process."""
    config = settings_for(fake, transport="streamable-http", **settings)
    app = http_app(build_server(config), config)
    transport = httpx2.ASGITransport(app)
    async with lifespan(app), httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


async def opened(http: httpx2.AsyncClient) -> str:
    """A new 2025-11-25 session's id, as the client is given it (its initialize done)."""
    answer = await http.post("/mcp", json=INITIALIZE, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    session = answer.headers["mcp-session-id"]
    done = await http.post("/mcp", json=INITIALIZED, headers={**LEGACY, "Mcp-Session-Id": session})
    assert done.status_code == 202, done.text
    return session


async def test_session_ids_carry_the_replica_and_only_its_own_are_taken(fake: FakeGLM) -> None:
    async with served(fake, replica_id="r1") as http:
        session = await opened(http)
        replica, _, issued = session.partition(".")
        assert replica == "r1" and HEX_ID.fullmatch(issued), session
        listed = await http.post("/mcp", json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": session})
        assert listed.status_code == 200 and "glm_chat" in listed.text
        assert listed.headers["mcp-session-id"] == session
        # What the SDK answers for a session it never had, reached with this replica's prefix...
        unknown = await http.post(
            "/mcp", json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": "r1." + "0" * 32}
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "Session not found"
        # ...is what another replica's id gets, and the bare id of a session this replica holds.
        for foreign in (f"r2.{issued}", issued, f"r10.{issued}", ""):
            refused = await http.post("/mcp", json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": foreign})
            assert (refused.status_code, refused.content) == (unknown.status_code, unknown.content), foreign
            assert refused.headers["content-type"] == unknown.headers["content-type"]
            assert "mcp-session-id" not in refused.headers
        # The session is untouched by those, and ends with its own id.
        again = await http.post("/mcp", json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": session})
        assert again.status_code == 200
        ended = await http.delete("/mcp", headers={**LEGACY, "Mcp-Session-Id": session})
        assert ended.status_code == 200
        gone = await http.post("/mcp", json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": session})
        assert (gone.status_code, gone.content) == (unknown.status_code, unknown.content)


async def test_without_a_replica_id_session_ids_are_the_sdks(fake: FakeGLM) -> None:
    async with served(fake) as http:
        session = await opened(http)
        assert HEX_ID.fullmatch(session), session
        listed = await http.post("/mcp", json=LIST_TOOLS, headers={**LEGACY, "Mcp-Session-Id": session})
        assert listed.status_code == 200


async def test_sessionless_requests_pass_untouched(fake: FakeGLM) -> None:
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    discover = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": envelope}}
    headers = {**HEADERS, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
    async with served(fake, replica_id="r2") as http:
        answer = await http.post("/mcp", json=discover, headers=headers)
        assert answer.status_code == 200, answer.text
        assert "2026-07-28" in answer.json()["result"]["supportedVersions"]
        assert "mcp-session-id" not in answer.headers


@pytest.mark.parametrize("value", ["r1", "a", "0123456789abcdef", "replica7"])
def test_replica_ids_that_are_accepted(value: str) -> None:
    _, settings = load_settings(["--replica-id", value])
    assert settings.replica_id == value


@pytest.mark.parametrize("value", ["R1", "r-1", "r.1", "r1 ", "0123456789abcdefg", "rép"])
def test_replica_ids_that_are_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_settings(["--replica-id", value])
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.endswith("replica_id: Value error, must be 1 to 16 lowercase letters or digits, such as r1")


def test_an_empty_replica_id_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_REPLICA_ID", "")
    assert load_settings([])[1].replica_id is None
    monkeypatch.setenv("GLM_REPLICA_ID", "r2")
    assert load_settings([])[1].replica_id == "r2"


def test_a_replica_on_a_shared_database_without_a_shared_output_dir_is_warned(
    caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    from pydantic import SecretStr

    from mcp_server_glm.settings import Settings
    from mcp_server_glm.transports import check_http_settings

    url = "postgresql://glm:secret@127.0.0.1:5432/glm"
    with caplog.at_level("WARNING", logger="mcp_server_glm.transports"):
        check_http_settings(
            Settings(
                replica_id="r1",
                database_url=SecretStr(url),
                auth_token=SecretStr("t" * 32),
                data_dir=tmp_path / "data",
            )
        )
    (warned,) = [record.getMessage() for record in caplog.records]
    assert warned.startswith(
        "GLM_REPLICA_ID and GLM_DATABASE_URL are set but GLM_OUTPUT_DIR is not: media this replica saves "
    )
    assert "secret" not in warned
    caplog.clear()
    with caplog.at_level("WARNING", logger="mcp_server_glm.transports"):
        check_http_settings(
            Settings(
                replica_id="r1",
                database_url=SecretStr(url),
                auth_token=SecretStr("t" * 32),
                output_dir=tmp_path / "media",
                data_dir=tmp_path / "data",
            )
        )
    assert caplog.records == []


def test_a_replica_without_a_token_or_sign_in_is_warned(
    caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    from pydantic import SecretStr

    from mcp_server_glm.settings import Settings
    from mcp_server_glm.transports import check_http_settings

    with caplog.at_level("WARNING", logger="mcp_server_glm.transports"):
        check_http_settings(Settings(replica_id="r1", data_dir=tmp_path, database_url=None))
    assert [record.getMessage() for record in caplog.records] == [
        "GLM_REPLICA_ID is set, so this replica is meant to sit behind a proxy, but neither "
        "GLM_MCP_AUTH_TOKEN nor GLM_AUTH_ISSUER is: whoever reaches the proxy can use this server and its "
        "GLM key"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="mcp_server_glm.transports"):
        check_http_settings(
            Settings(replica_id="r1", auth_token=SecretStr("t" * 32), data_dir=tmp_path, database_url=None)
        )
    assert caplog.records == []
