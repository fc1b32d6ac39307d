"""The deployment files agree with each other and with the server: deploy/Procfile's and the systemd
unit's commands are valid `mcp-server-glm` command lines, their replicas and ports are the ones
deploy/nginx.conf routes to, and nginx's body limit is the server's. (tests/test_replicas_nginx.py runs
the nginx site itself; the unit is checked by systemd-analyze where it is installed.)"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mcp_server_glm.cli import load_settings
from mcp_server_glm.settings import Settings
from tests.support.stdio import installed_server

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NGINX = (DEPLOY / "nginx.conf").read_text()
UNIT = (DEPLOY / "mcp-server-glm@.service").read_text()


def upstreams() -> dict[str, str]:
    """Each replica's upstream address in the nginx site, by the replica id its map routes to it."""
    routed = dict(re.findall(r"~\^(\w+)\\\. (glm_\w+);", NGINX))
    servers = dict(re.findall(r"upstream (glm_\w+) \{\s*server ([\d.:]+);", NGINX))
    return {replica: servers[upstream] for replica, upstream in routed.items()}


def procfile() -> dict[str, list[str]]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return {
        name: shlex.split(command)
        for name, command in (line.split(":", 1) for line in lines if line and not line.startswith("#"))
    }


def test_the_procfile_runs_each_replica_nginx_routes_to() -> None:
    processes = procfile()
    assert set(processes) == set(upstreams()) == {"r1", "r2"}
    for name, command in processes.items():
        assert command[0] == "mcp-server-glm"
        _, settings = load_settings(command[1:])
        assert (settings.transport, settings.replica_id) == ("streamable-http", name)
        assert settings.is_loopback
        assert upstreams()[name] == f"{settings.host}:{settings.port}"


def test_the_unit_names_its_replica_by_the_instance_on_loopback() -> None:
    [command] = re.findall(r"^ExecStart=(.+)$", UNIT, re.MULTILINE)
    program, *args = shlex.split(command.replace("%i", "r1"))
    assert Path(program).name == "mcp-server-glm"
    _, settings = load_settings(args)
    assert (settings.transport, settings.replica_id, settings.host) == ("streamable-http", "r1", "127.0.0.1")
    # The port comes from the instance's environment file, as nginx.conf expects it.
    assert "EnvironmentFile=/etc/mcp-server-glm/%i.env" in UNIT
    ports = dict(re.findall(r"GLM_MCP_PORT=(\d+) for (\w+)", UNIT))
    assert {name: f"127.0.0.1:{port}" for port, name in ports.items()} == upstreams()
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure"):
        assert option in UNIT.splitlines()
    assert re.search(r"^ReadWritePaths=/\S+$", UNIT, re.MULTILINE)


def test_nginx_takes_the_bodies_the_server_takes() -> None:
    [limit] = re.findall(r"client_max_body_size (\d+)m;", NGINX)
    assert int(limit) == Settings.model_fields["max_body_mb"].default
    for timeout in re.findall(r"proxy_(?:read|send)_timeout (\d+)h;", NGINX):
        assert int(timeout) >= 1


@pytest.mark.slow
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not found (systemd is not installed here)")
    # systemd-analyze checks that the program exists: the installed server stands in for /opt's.
    unit = tmp_path / "mcp-server-glm@r1.service"
    unit.write_text(UNIT.replace("/opt/mcp-server-glm/bin/mcp-server-glm", installed_server()))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], check=False, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
