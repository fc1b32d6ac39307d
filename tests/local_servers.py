"""Real network peers on 127.0.0.1 for the network tests: an HTTP proxy (proxy.py) that marks what it
forwards, and a TLS front of the fake API with a certificate made for the test by trustme.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin

ROOT = Path(__file__).resolve().parents[1]
VIA = "1.1 mcp-test-proxy"
TUNNELS_VARIABLE = "MCP_TEST_PROXY_TUNNELS"
START_SECONDS = 60.0


class MarkForwarded(HttpProxyBasePlugin):
    """proxy.py plugin: every request forwarded carries a Via header, so the fake records which requests
    came through the proxy (proxy.py adds its own to a connection's first request only; this adds
    `Via: 1.1 mcp-test-proxy` to the later ones on a kept-alive connection). Every CONNECT tunnel is
    written down, host:port a line, before it is opened."""

    def before_upstream_connection(self, request: HttpParser) -> HttpParser:
        if request.is_https_tunnel:
            with open(os.environ[TUNNELS_VARIABLE], "a") as tunnels:
                tunnels.write(f"{(request.host or b'').decode()}:{request.port}\n")
        return request

    def handle_client_request(self, request: HttpParser) -> HttpParser:
        request.add_header(b"Via", VIA.encode())
        return request


@dataclass(frozen=True)
class RunningProxy:
    url: str
    tunnels_file: Path

    def tunnels(self) -> list[str]:
        """host:port of every CONNECT tunnel the proxy opened, in order."""
        return self.tunnels_file.read_text().split() if self.tunnels_file.exists() else []


def without_proxies(env: dict[str, str]) -> dict[str, str]:
    """`env` without any *_proxy variable, in either case."""
    return {key: value for key, value in env.items() if not key.lower().endswith("_proxy")}


@contextmanager
def http_proxy(directory: Path) -> Iterator[RunningProxy]:
    """proxy.py listening on 127.0.0.1 (a port it picks), stopped on leaving."""
    port_file = directory / "proxy.port"
    tunnels = directory / "proxy.tunnels"
    log = (directory / "proxy.log").open("w")
    command = [
        *(sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0"),
        *("--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1"),
        *("--plugins", f"{__name__}.MarkForwarded", "--log-level", "WARNING"),
    ]
    env = without_proxies(dict(os.environ)) | {"PYTHONPATH": str(ROOT), TUNNELS_VARIABLE: str(tunnels)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = _wait_for_port(port_file, process)
        yield RunningProxy(f"http://127.0.0.1:{port}", tunnels)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_for_port(port_file: Path, process: subprocess.Popen[Any]) -> int:
    """The port proxy.py writes once it listens; it fails the test if the proxy exits first."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"proxy.py exited with {process.returncode} before listening")
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text.isdigit():
            with socket.create_connection(("127.0.0.1", int(text)), timeout=5):
                return int(text)
        time.sleep(0.05)
    raise RuntimeError(f"proxy.py did not listen within {START_SECONDS:g} s")


class TLSFront:
    """A TLS listener on 127.0.0.1 relaying each connection's plain bytes to `upstream` (the fake API),
    with a certificate for 127.0.0.1 signed by a CA made for the test (`ca_file`). Counts the
    connections accepted, handshakes that failed included."""

    def __init__(self, upstream: tuple[str, int], directory: Path) -> None:
        authority = trustme.CA()
        self.ca_file = directory / "test-ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_file))
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(self._context)
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TLSFront:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        self._listener.close()
        self._thread.join(timeout=10)

    def base_url(self, path: str = "/api/paas/v4") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with suppress(OSError), client:
            client.settimeout(30)
            secure = self._context.wrap_socket(client, server_side=True)
            with secure, socket.create_connection(self._upstream, timeout=30) as upstream:
                back = threading.Thread(target=_pump, args=(upstream, secure), daemon=True)
                back.start()
                _pump(secure, upstream)
                back.join(timeout=30)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(64 * 1024):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
