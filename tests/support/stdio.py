"""The installed server over stdio for the tests and benchmarks that drive it by hand: where its console
script is, and `RawSession`, raw JSON-RPC lines to it (its process id, every byte it writes to stdout)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def installed_server() -> str:
    """The `mcp-server-glm` console script of the environment running the tests."""
    found = shutil.which("mcp-server-glm", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("mcp-server-glm is not installed in this environment: pip install -e '.[dev]'")
    return found


class RawSession:
    """The installed server (or `command`) driven with raw JSON-RPC lines over stdio (legacy era): the
    caller sees its process id and every byte it writes to stdout. The benchmarks use it too."""

    def __init__(
        self, env: dict[str, str], stderr: Any = subprocess.DEVNULL, command: list[str] | None = None
    ) -> None:
        self.process = subprocess.Popen(
            command or [installed_server()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
        )
        self.next_id = 0
        self.initialized = self.request(  # the initialize result
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def submit(self, method: str, params: dict[str, Any]) -> int:
        """Send a request without waiting for its answer; returns its id."""
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return its result; every line read must be JSON-RPC."""
        number = self.submit(method, params)
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            assert line, "the server closed stdout"
            reply = json.loads(line)
            assert reply["jsonrpc"] == "2.0"
            if reply.get("id") == number:
                result: dict[str, Any] = reply["result"]
                return result

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) / 1024

    def kill(self) -> None:
        """SIGKILL the server, then close the pipes to it."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.close_pipes()

    def close_pipes(self) -> None:
        """Close the pipes to the server (left open, they warn when collected)."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # stdin's flush to a dead process
                    pipe.close()
