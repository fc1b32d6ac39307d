"""A large video is streamed to disk: the server's peak memory stays flat while 256 MiB arrive."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import installed_server, server_env
from tests.fake_glm import FakeGLM, TaskPlan

MIB = 1024 * 1024


class RawSession:
    """JSON-RPC over the installed server's stdio, so the test knows its process id."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [installed_server()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.next_id = 0
        self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        )
        self.notify("notifications/initialized")

    def notify(self, method: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": method}) + "\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        while True:
            reply = json.loads(self.process.stdout.readline())
            if reply.get("id") == self.next_id:
                result: dict[str, Any] = reply["result"]
                return result

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) / 1024

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def test_video_download_does_not_grow_memory(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=0)
    fake.media_size = 256 * MIB
    session = RawSession(server_env(fake))
    try:
        warm = session.request("tools/call", {"name": "generate_image", "arguments": {"prompt": "warm up"}})
        assert warm["isError"] is False
        before = session.peak_rss_mib()
        done = session.request("tools/call", {"name": "generate_video", "arguments": {"prompt": "big"}})
        after = session.peak_rss_mib()
    finally:
        session.close()
    assert done["isError"] is False, done
    saved = Path(done["structuredContent"]["path"])
    assert saved.stat().st_size == 256 * MIB
    print(f"server peak RSS {before:.1f} MiB before, {after:.1f} MiB after a 256 MiB download")
    assert after - before < 16
