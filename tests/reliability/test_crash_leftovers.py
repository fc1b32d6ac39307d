"""What a server killed with SIGKILL leaves behind is cleaned or kept by the next start: a download's
temporary `.part` file is removed (one a live download holds is not), and a paid job is never lost.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import anyio
import pytest

from tests.conftest import over_stdio, server_env
from tests.fake_glm import FakeGLM, Fault
from tests.support.stdio import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def parts(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.part")) if directory.is_dir() else []


async def test_a_killed_download_leaves_nothing_after_the_next_start(
    fake: FakeGLM, tmp_path: Path, isolated_dirs: Path
) -> None:
    media = tmp_path / "data" / "media"  # the server's media directory under isolated_dirs' GLM_DATA_DIR
    fake.script("media", Fault(delay=30))  # the image download hangs until the server is killed
    session = RawSession(server_env(fake))
    try:
        session.submit("tools/call", {"name": "generate_image", "arguments": {"prompt": "a lighthouse"}})
        with anyio.fail_after(20):
            while not (parts(media) and any(r.route.startswith("media/") for r in fake.requests)):  # noqa: ASYNC110
                await anyio.sleep(0.05)
    finally:
        session.kill()
    [stale] = parts(media)

    # A download that is alive in another process (it holds its lock) must survive the sweep.
    live = media / ".image-live-0000.part"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
            result = await client.call_tool("generate_image", {"prompt": "a lighthouse at dusk"})
            assert not result.is_error
        assert not stale.exists()
        assert live.exists()
    finally:
        os.close(fd)
    assert parts(media) == [live]
