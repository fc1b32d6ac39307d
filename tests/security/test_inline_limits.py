"""One maximal glm_chat cannot take the server's memory: the images a request inlines are capped in
all (GLM_MAX_INLINE_MB), refused before they are all read, and the request body is sent from the
base64 strings themselves, so a call at the cap costs about the inline total once, not several copies.
The installed server over stdio, its peak RSS read from /proc.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import server_env
from tests.fake_glm import FakeGLM
from tests.samples import png
from tests.support.stdio import RawSession

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
IMAGE = png(os.urandom(3 * MIB).hex().encode()[: int(4.5 * MIB)])  # a whole PNG of 4.5 MiB


def images(directory: Path, count: int) -> list[str]:
    paths = []
    for number in range(count):
        path = directory / f"photo-{number}.png"
        path.write_bytes(IMAGE)
        paths.append(str(path))
    return paths


def test_a_chat_at_the_inline_cap_costs_its_images_about_once(fake: FakeGLM, isolated_dirs: Path) -> None:
    given = images(isolated_dirs, 10)  # 45 MiB, under the default 50 MiB cap
    session = RawSession(server_env(fake))
    try:
        session.call("glm_chat", {"prompt": "warm up"})
        before = session.peak_rss_mib()
        answer = session.call("glm_chat", {"prompt": "compare these", "images": given})
        grown = session.peak_rss_mib() - before
    finally:
        session.kill()
    assert not answer.get("isError"), answer
    [request] = [
        r for r in fake.requests_to("chat/completions") if r.json["messages"][-1]["content"][0] != "w"
    ]
    assert len(request.body) > 10 * len(IMAGE)  # all ten went, as base64
    inline = 10 * len(IMAGE) / MIB
    print(f"peak RSS grew {grown:.1f} MiB for {inline:.0f} MiB of images ({grown / inline:.2f}x)")
    assert grown < 2.5 * inline


def test_images_over_the_cap_are_refused_before_they_are_sent(fake: FakeGLM, isolated_dirs: Path) -> None:
    given = images(isolated_dirs, 4)  # 18 MiB
    session = RawSession(server_env(fake, GLM_MAX_INLINE_MB="10"))
    try:
        answer = session.call("glm_chat", {"prompt": "compare these", "images": given})
        assert answer["isError"]
        [block] = answer["content"]
        assert "10 MiB" in block["text"] and "GLM_MAX_INLINE_MB" in block["text"]
        assert "\n" not in block["text"]
        assert not session.call("glm_chat", {"prompt": "still serving?"}).get("isError")
    finally:
        session.kill()
    assert [r.json["messages"][-1]["content"] for r in fake.requests_to("chat/completions")] == [
        "still serving?"
    ]
