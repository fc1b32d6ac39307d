"""nginx in front of the installed server, for the tests and benchmarks of replicas: `running_nginx`
serves the shipped deploy/nginx.conf (its addresses, listen port and log path substituted) on a free
loopback port, and `Nginx.logged()` reads its access log (the glm_mcp format of that file).

Without nginx the tests skip, saying how to install it; `.ci/run` installs it, so nothing skips in CI.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.support.http import free_port

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "deploy" / "nginx.conf"
INSTALL = "install nginx (apt-get install -y nginx)"
# What the shipped site names that a test replaces: where it listens, and where it logs.
SHIPPED_LISTEN = "listen 80;"
SHIPPED_LOG = "access_log /var/log/nginx/mcp-server-glm.access.log glm_mcp;"
START_SECONDS = 20
# A line of the site's glm_mcp log format ($upstream_addr and $upstream_status may hold spaces).
LINE = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d+) \S+ upstream=(?P<upstream>.*) upstream_status=.* '
    r"version=(?P<version>\S+) method=(?P<method>\S+) name=(?P<name>\S+) "
    r"session=(?P<session>\S+) issued=(?P<issued>\S+)$"
)


def nginx_binary() -> str | None:
    """Debian's /usr/sbin/nginx, else the one on PATH, or None."""
    if os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return shutil.which("nginx")


def require_nginx() -> str:
    """nginx's path, or the test skips saying how to install it."""
    found = nginx_binary()
    if found is None:
        pytest.skip(f"nginx not found: {INSTALL}")
    return found


def site(replacements: Mapping[str, str], source: Path = SITE) -> str:
    """The shipped site with each key replaced by its value; each key must be in it (a test that
    replaced nothing would prove nothing about the shipped file)."""
    text = source.read_text()
    for old, new in replacements.items():
        assert old in text, f"{source.name} no longer has {old!r}"
        text = text.replace(old, new)
    return text


@dataclass(frozen=True)
class Logged:
    """One request of the access log: its path, status, the upstream that answered (the last one
    tried) and all it tried, the request's protocol version and method headers, and the replica of
    the session id it carried and of the one it was issued."""

    path: str
    status: int
    upstream: str
    tried: tuple[str, ...]
    version: str
    method: str
    name: str
    session: str
    issued: str


@dataclass(frozen=True)
class Nginx:
    port: int
    access_log: Path

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logged(self) -> list[Logged]:
        """The requests logged so far (nginx writes a line as each request ends)."""
        return [_parse(line) for line in self.access_log.read_text().splitlines() if line.strip()]


def _parse(line: str) -> Logged:
    found = LINE.search(line)
    assert found is not None, f"not a glm_mcp log line: {line}"
    tried = tuple(_addresses(found["upstream"]))
    return Logged(
        path=found["request"].split()[1],
        status=int(found["status"]),
        upstream=tried[-1] if tried else "-",
        tried=tried,
        version=found["version"],
        method=found["method"],
        name=found["name"],
        session=found["session"],
        issued=found["issued"],
    )


def _addresses(upstream: str) -> list[str]:
    """The addresses in a logged $upstream_addr: "a, b" when the first failed, "a : b" across an
    internal redirect (error_page), "-" for none."""
    cleaned = upstream.replace(" : ", ",").replace(", ", ",")
    return [address for address in cleaned.split(",") if address and address != "-"]


@contextmanager
def running_nginx(base: Path, replacements: Mapping[str, str], health: str = "/healthz") -> Iterator[Nginx]:
    """nginx serving the shipped site (with `replacements`, e.g. the replicas' addresses) on a free
    loopback port, its files under `base/nginx`; ready once `health` answers 200 through it, stopped
    (SIGTERM, a fast shutdown) at the end."""
    binary = require_nginx()
    root = base / "nginx"
    root.mkdir()
    port = free_port()
    access_log = root / "access.log"
    text = site(
        {SHIPPED_LISTEN: f"listen 127.0.0.1:{port};", SHIPPED_LOG: f"access_log {access_log} glm_mcp;"}
        | dict(replacements)
    )
    (root / "site.conf").write_text(text)
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx would run its workers as nobody, who cannot enter a test's private directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n{temp}\n    include {root / 'site.conf'};\n}}\n"
    )
    error_log = root / "error.log"
    command = [
        binary,
        "-p",
        str(root),
        "-c",
        str(root / "nginx.conf"),
        "-e",
        str(error_log),
        "-g",
        f"daemon off; pid {root / 'nginx.pid'}; error_log {error_log} info;",
    ]
    with (root / "stderr").open("w") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    running = Nginx(port, access_log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            told = (root / "stderr").read_text() + (error_log.read_text() if error_log.exists() else "")
            assert process.poll() is None, f"nginx exited with {process.returncode}: {told}"
            try:
                if httpx2.get(running.root + health, timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, (
                f"nginx did not answer {health} within {START_SECONDS} s: {told}"
            )
            time.sleep(0.05)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise
