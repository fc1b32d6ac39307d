"""End to end over HTTP, how the installed server starts and stops: a busy port refused in one line,
`--port 0` logging the port it bound, and a call still running when the shutdown grace ends."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.conftest import server_env
from tests.fake_glm import FakeGLM
from tests.fake_glm.api import Fault
from tests.support.http import ERAS, connect, http_server
from tests.support.stdio import installed_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_a_busy_port_is_one_line_and_exit_code_2(transport: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [installed_server(), "--transport", transport, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=server_env(None),
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"mcp-server-glm: error: 127.0.0.1:{port} is already in use: pick another port with --port or "
        "GLM_MCP_PORT"
    ], done.stderr


def test_port_0_logs_the_port_it_bound(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [installed_server(), "--transport", "streamable-http", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=server_env(None),
        text=True,
    )
    assert process.stderr is not None
    try:
        line = ""
        while "serving" not in line:
            line = process.stderr.readline()
            assert line, "the server ended before serving"
        found = re.search(r"serving streamable-http at http://127\.0\.0\.1:(\d+)/mcp", line)
        assert found, line
        port = int(found.group(1))
        assert port != 0
        health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_cut_by_shutdown_is_one_line(
    fake: FakeGLM, tmp_path: Path, transport: str, mode: str
) -> None:
    # The upstream answers long after the server's 5 s shutdown grace.
    fake.script("chat/completions", Fault(delay=30))
    outcome: list[object] = []
    ended = anyio.Event()
    with http_server(server_env(fake), transport, tmp_path) as running:
        async with connect(running, transport, mode) as client:

            async def call() -> None:
                try:
                    outcome.append(await client.call_tool("glm_chat", {"prompt": "a slow answer"}))
                except Exception as exc:  # the server went away mid-call: any client error will do
                    outcome.append(exc)
                ended.set()

            async with anyio.create_task_group() as group:
                group.start_soon(call)
                while not fake.requests_to("chat/completions"):  # noqa: ASYNC110 - the fake runs in its own thread
                    await anyio.sleep(0.05)
                running.process.send_signal(signal.SIGTERM)
                code = await anyio.to_thread.run_sync(lambda: running.process.wait(60))
                with anyio.fail_after(30):
                    await ended.wait()
                group.cancel_scope.cancel()
        assert code == 0
    log = running.stderr.read_text()
    cancelled = [line for line in log.splitlines() if "shutdown grace" in line]
    assert len(cancelled) == 1, log
    assert "WARNING" in cancelled[0]
    assert "request(s) still running after the 5 s shutdown grace" in cancelled[0]
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
