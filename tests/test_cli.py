"""The command line as people type it: the command word is found wherever it stands among the flags."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcp_server_glm.cli import load_settings
from tests.conftest import server_env
from tests.fake_glm import FakeGLM
from tests.support.http import connect, http_server
from tests.support.stdio import installed_server


@pytest.mark.slow
def test_a_list_flag_does_not_swallow_the_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [installed_server(), "--allowed-dirs", str(tmp_path), "doctor"],
        env=server_env(None),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "API key       not set" in done.stdout


@pytest.mark.parametrize(
    ("argv", "command", "dirs"),
    [
        (["doctor"], "doctor", None),
        (["--allowed-dirs", "/a", "/b", "doctor"], "doctor", [Path("/a"), Path("/b")]),
        (["--allowed-dirs", "/a", "serve", "--log-level", "debug"], "serve", [Path("/a")]),
        (["--chat-model", "doctor"], "serve", None),  # a value, not the command
        ([], "serve", None),
    ],
)
def test_command_word_anywhere(argv: list[str], command: str, dirs: list[Path] | None) -> None:
    found, settings = load_settings(argv)
    assert found == command
    if dirs is not None:  # otherwise the test's own GLM_ALLOWED_DIRS apply
        assert settings.allowed_dirs == dirs


@pytest.mark.slow
def test_an_allowed_folder_that_does_not_exist_is_warned_of(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    done = subprocess.run(
        [installed_server(), "--allowed-dirs", str(tmp_path), str(missing)],
        env=server_env(None),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [warning] = [line for line in done.stderr.splitlines() if "does not exist" in line]
    assert str(missing) in warning
    assert "WARNING" in warning


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_http_lines_and_session_ids_stay_out_of_the_info_log(
    fake: FakeGLM, tmp_path: Path, transport: str
) -> None:
    with http_server(server_env(fake), transport, tmp_path) as running:
        async with connect(running, transport, "legacy") as client:
            session_id = getattr(client, "session_id", None)
            result = await client.call_tool("glm_chat", {"prompt": "hi"})
            assert not result.is_error
        log = running.stderr.read_text()
    assert "POST /" not in log  # no access-log line per request
    assert "session" not in log.lower(), log
    if session_id:
        assert session_id not in log
