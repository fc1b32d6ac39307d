"""A large video is streamed to disk: the server's peak memory stays flat while 256 MiB arrive."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import server_env
from tests.fake_glm import FakeGLM, TaskPlan
from tests.support.stdio import RawSession

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


def test_video_download_does_not_grow_memory(fake: FakeGLM) -> None:
    fake.task_plan = TaskPlan(polls=0)
    fake.media_size = 256 * MIB
    session = RawSession(server_env(fake))
    try:
        warm = session.call("generate_image", {"prompt": "warm up"})
        assert warm["isError"] is False
        before = session.peak_rss_mib()
        done = session.call("generate_video", {"prompt": "big"})
        after = session.peak_rss_mib()
    finally:
        session.kill()
    assert done["isError"] is False, done
    saved = Path(done["structuredContent"]["path"])
    assert saved.stat().st_size == 256 * MIB
    print(f"server peak RSS {before:.1f} MiB before, {after:.1f} MiB after a 256 MiB download")
    assert after - before < 16
