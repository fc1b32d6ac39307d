"""A throwaway PostgreSQL cluster for the store's tests, started once per session, and the engine fixture.

`database_url` runs a test on each engine: None for SQLite, or the URL of a database of its own on the
cluster. Without PostgreSQL's binaries (or the `postgres` extra) the PostgreSQL runs skip, saying how to
install them; `.ci/run` installs them, so nothing skips in CI.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "install PostgreSQL (apt-get install -y postgresql) or set GLM_TEST_PG_BIN to its bin directory"
USER = "glm"


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database on the cluster."""
        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl (Debian's newest, else the one on PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_owner() -> list[str]:
    """The command prefix that runs PostgreSQL's tools as a user initdb accepts (it refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        told = "running as root without a 'postgres' user for initdb: run as another user or "
        raise Unavailable(told + INSTALL) from None
    return ["runuser", "-u", "postgres", "--"]


class Unavailable(Exception):
    """PostgreSQL cannot run here: the binaries, the driver or a user for initdb is missing."""


_started: list[Cluster] = []  # the session's cluster, once started
_stoppers: list[Callable[[], None]] = []


def cluster() -> Cluster:
    """The session's cluster, started on first use (raises Unavailable, saying how to install it), and
    stopped by `stop_cluster` at the end of the session or at the latest when the interpreter exits."""
    if _started:
        return _started[0]
    bin_dir = binaries()
    if bin_dir is None:
        raise Unavailable(f"PostgreSQL binaries not found: {INSTALL}")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        told = "the PostgreSQL driver is missing: pip install -e '.[dev]' (or '.[postgres]')"
        raise Unavailable(told) from None
    prefix = _as_owner()
    root = Path(tempfile.mkdtemp(prefix="glm-pg-"))
    data, log, password = root / "data", root / "log", secrets.token_urlsafe(16)
    (root / "password").write_text(password)
    if prefix:
        shutil.chown(root, "postgres")
        shutil.chown(root / "password", "postgres")
    port = _free_port()
    # Durability off: a throwaway cluster, and the tests' many small transactions stay quick. Room for
    # every pool of every server a test starts (GLM_TEST_STORE=postgresql).
    options = f"-k {root} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off"
    options += " -c max_connections=300"
    pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={root / 'password'}"]
        _run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, *auth, "--no-sync", "-E", "UTF8"]
        )
        _run([*pg_ctl, "start", "-w", "-l", str(log), "-o", options])
    except subprocess.CalledProcessError as exc:
        told = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"the test PostgreSQL did not start: {exc.stderr or exc.stdout} {told}") from exc

    def stop() -> None:
        _remove(data, root)

    atexit.register(stop)
    _stoppers.append(stop)
    _started.append(Cluster("127.0.0.1", port, password))
    return _started[0]


def stop_cluster() -> None:
    """Stop the session's cluster, if one was started."""
    for stop in _stoppers:
        stop()
        atexit.unregister(stop)
    _stoppers.clear()
    _started.clear()


@pytest.fixture(scope="session")
def postgres_cluster() -> Cluster:
    """A cluster in a temporary directory, on 127.0.0.1 and a unix socket there (see `cluster`)."""
    try:
        return cluster()
    except Unavailable as exc:
        pytest.skip(str(exc))
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _remove(data: Path, root: Path) -> None:
    _stop(data)
    shutil.rmtree(root, ignore_errors=True)


def _stop(data: Path) -> None:
    """A fast shutdown (SIGINT to the postmaster), waited for until its pid file goes. A signal rather
    than `pg_ctl stop`: this runs in the last test's teardown, which must start no process."""
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 60
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (the SQLite engine, in the test's data directory) or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return cluster.new_database()
