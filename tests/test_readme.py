"""The README's commands work as written: its test commands (SQLite, then PostgreSQL) run in a new shell
(no virtualenv active) and are exactly what CI runs, and its example fake API does not take the HTTP
server's default port."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from mcp_server_glm.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_test_command() -> str:
    found = re.search(r"Run the tests .*?```bash\n(.+?)\n```", README, re.DOTALL)
    assert found, "the README has no test command"
    return found.group(1).strip()


def readme_postgres_test_command() -> str:
    found = re.search(r"The same suite again .*?```bash\n(.+?)\n```", README, re.DOTALL)
    assert found, "the README has no test command for PostgreSQL"
    return found.group(1).strip()


def test_ci_runs_exactly_the_readmes_test_commands() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-2:] == [readme_test_command(), readme_postgres_test_command()]


def test_the_postgresql_run_is_the_same_command_with_the_switch() -> None:
    assert readme_postgres_test_command() == f"GLM_TEST_STORE=postgresql {readme_test_command()}"


@pytest.mark.slow
def test_the_readmes_test_command_runs_in_a_new_shell() -> None:
    # A new shell: no virtualenv on PATH, none active.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LANG": "C.UTF-8"}
    command = [*shlex.split(readme_test_command()), "--collect-only", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, "tests/test_readme.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_the_readmes_test_command_runs_in_a_new_shell" in done.stdout


def test_the_example_fake_api_leaves_the_http_port_free() -> None:
    ports = {int(port) for port in re.findall(r"python -m tests\.fake_glm --port (\d+)", README)}
    assert ports, "the README no longer runs the fake API"
    urls = {int(port) for port in re.findall(r"ZAI_BASE_URL=http://127\.0\.0\.1:(\d+)/", README)}
    assert urls == ports
    assert Settings.model_fields["port"].default not in ports
