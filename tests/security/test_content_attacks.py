"""Files that only begin like media, with text after the first bytes, given to the installed server over
stdio: each is refused with one line and none of the text reaches the GLM API; whole media still goes.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM
from tests.samples import MP3, PNG, WAV

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SECRET = b"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" * 40

# name: (the file's bytes, the kind of argument it is given as)
CRAFTED = {
    "png-magic.png": (b"\x89PNG\r\n\x1a\n" + SECRET, "image"),
    "png-ihdr.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + SECRET, "image"),
    "png-then-text.png": (PNG + SECRET, "image"),
    "jpeg-magic.jpg": (b"\xff\xd8\xff\xe0" + SECRET, "image"),
    "gif-magic.gif": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + SECRET, "image"),
    "webp-magic.webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + SECRET, "image"),
    "id3-frame.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + SECRET, "audio"),
    "frame-sync.mp3": (b"\xff\xfb\x90" + SECRET, "audio"),
    "mp3-then-text.mp3": (MP3 + SECRET, "audio"),
    "wav-header.wav": (WAV[:44] + SECRET, "audio"),
    "wav-then-text.wav": (WAV + SECRET, "audio"),
}


def arguments(kind: str, path: Path) -> tuple[str, dict[str, object]]:
    if kind == "image":
        return "glm_chat", {"prompt": "look", "model": "glm-4.6v", "images": [str(path)]}
    return "transcribe", {"file": str(path)}


async def test_files_that_only_begin_like_media_are_refused_and_never_sent(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path
) -> None:
    for name, (data, _) in CRAFTED.items():
        (isolated_dirs / name).write_bytes(data)
    (isolated_dirs / "whole.png").write_bytes(PNG)
    (isolated_dirs / "whole.wav").write_bytes(WAV)
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        for name, (_, kind) in CRAFTED.items():
            tool, args = arguments(kind, isolated_dirs / name)
            result = await client.call_tool(tool, args)
            text = text_of(result)
            assert result.is_error, (name, text)
            assert "but is not one: " in text and "\n" not in text, (name, text)
            assert "AWS_SECRET" not in text
        assert fake.requests == []
        for name, kind in (("whole.png", "image"), ("whole.wav", "audio")):
            tool, args = arguments(kind, isolated_dirs / name)
            assert not (await client.call_tool(tool, args)).is_error
    assert len(fake.requests) == 2
    line = SECRET.splitlines()[0]
    assert all(line not in r.body and base64.b64encode(line) not in r.body for r in fake.requests)
