"""Issue 5 §2, hostile file references on every argument that takes a file, through the tools:
glm_chat `images`, generate_video `image` (alone and as the second of a pair) and transcribe `file`.

Each must be refused with one clear line before any request reaches the GLM API. (The file guard's own
unit tests are in tests/test_files.py; these check that every tool goes through it.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_process
from tests.fake_glm import FakeGLM
from tests.samples import PNG
from tests.security.conftest import WAV, call, refusal

pytestmark = pytest.mark.anyio

# (tool, the arguments for a reference, the kind of file it expects)
ArgumentsFor = Callable[[str, Path], dict[str, Any]]
TARGETS: dict[str, tuple[str, ArgumentsFor, str]] = {
    "chat-images": (
        "glm_chat",
        lambda ref, _: {"prompt": "look", "model": "glm-4.6v", "images": [ref]},
        "png",
    ),
    "chat-images-second": (
        "glm_chat",
        lambda ref, inputs: {"prompt": "look", "images": [str(inputs / "good.png"), ref]},
        "png",
    ),
    "video-image": ("generate_video", lambda ref, _: {"prompt": "move", "image": ref}, "png"),
    "video-image-pair": (
        "generate_video",
        lambda ref, inputs: {"prompt": "move", "image": [str(inputs / "good.png"), ref]},
        "png",
    ),
    "transcribe-file": ("transcribe", lambda ref, _: {"file": ref}, "wav"),
}


def header(kind: str) -> bytes:
    return PNG if kind == "png" else WAV


def build(case: str, inputs: Path, outside: Path, kind: str) -> str:
    """The hostile reference for `case`; the files it needs are made here, each of a valid kind so that
    only the rule under test can refuse it."""
    data = header(kind)
    target = outside / f"secret.{kind}"
    target.write_bytes(data)
    rel = os.path.relpath(target, inputs)
    if case == "dotdot":
        return f"{inputs}/{rel}"
    if case == "dotdot-file-url":
        return f"file://{inputs}/{rel}"
    if case == "symlink-out":
        (inputs / f"link.{kind}").symlink_to(target)
        return str(inputs / f"link.{kind}")
    if case == "symlink-out-file-url":
        (inputs / f"link.{kind}").symlink_to(target)
        return (inputs / f"link.{kind}").as_uri()
    if case == "symlinked-dir-out":
        (inputs / "sub").symlink_to(outside, target_is_directory=True)
        return str(inputs / "sub" / f"secret.{kind}")
    if case in ("hidden", "hidden-file-url"):
        hidden = inputs / ".ssh" / "id_rsa"
        hidden.parent.mkdir()
        hidden.write_bytes(data)
        return hidden.as_uri() if case == "hidden-file-url" else str(hidden)
    if case == "hidden-file":
        (inputs / f".secret.{kind}").write_bytes(data)
        return str(inputs / f".secret.{kind}")
    if case == "link-into-hidden":
        hidden = inputs / ".ssh"
        hidden.mkdir()
        (hidden / f"key.{kind}").write_bytes(data)
        (inputs / f"visible.{kind}").symlink_to(hidden / f"key.{kind}")
        return str(inputs / f"visible.{kind}")
    if case in ("fifo", "fifo-file-url"):
        pipe = inputs / f"pipe.{kind}"
        os.mkfifo(pipe)
        return pipe.as_uri() if case == "fifo-file-url" else str(pipe)
    if case == "hard-link-out":
        os.link(target, inputs / f"linked.{kind}")
        return str(inputs / f"linked.{kind}")
    if case == "directory":
        (inputs / f"dir.{kind}").mkdir()
        return str(inputs / f"dir.{kind}")
    if case == "long-name":
        return str(inputs / ("a" * 300 + f".{kind}"))
    if case == "long-path":
        return str(inputs) + "/x" * 3000 + f".{kind}"
    if case == "nul":
        (inputs / f"ok.{kind}").write_bytes(data)
        return f"{inputs}/ok.{kind}\x00.txt"
    if case == "nul-file-url":
        (inputs / f"ok.{kind}").write_bytes(data)
        return f"file://{inputs}/ok.{kind}%00.txt"
    if case == "fullwidth-solidus":
        return f"{inputs}\uff0f..\uff0f{rel}"
    if case == "division-slash":
        return f"{inputs}/..\u2215..\u2215{rel}"
    if case == "fullwidth-dots":
        return f"{inputs}/\uff0e\uff0e/{rel}"
    if case == "rtl-override":
        return f"{inputs}/\u202e{kind}.exe"
    if case == "percent-encoded-dotdot-file-url":
        return f"file://{inputs}/%2e%2e/{rel}"
    if case == "file-url-other-host":
        return f"file://evil.example{target}"
    raise AssertionError(case)


FIXED = {
    "etc-passwd": "/etc/passwd",
    "proc-environ": "/proc/self/environ",
    "dev-zero": "/dev/zero",
    "dev-urandom": "/dev/urandom",
    "etc-passwd-file-url": "file:///etc/passwd",
    "proc-environ-file-url": "file:///proc/self/environ",
    "dev-zero-file-url": "file:///dev/zero",
    "dev-urandom-file-url": "file:///dev/urandom",
    "home-ssh": "~/.ssh/id_rsa",
    "relative": "secret.png",
}
BUILT = [
    "dotdot",
    "dotdot-file-url",
    "symlink-out",
    "symlink-out-file-url",
    "symlinked-dir-out",
    "hidden",
    "hidden-file-url",
    "hidden-file",
    "link-into-hidden",
    "fifo",
    "fifo-file-url",
    "hard-link-out",
    "directory",
    "long-name",
    "long-path",
    "nul",
    "nul-file-url",
    "fullwidth-solidus",
    "division-slash",
    "fullwidth-dots",
    "rtl-override",
    "percent-encoded-dotdot-file-url",
    "file-url-other-host",
]


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("case", [*FIXED, *BUILT])
async def test_hostile_file_references_are_refused_before_any_request(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path, target: str, case: str
) -> None:
    tool, arguments_for, kind = TARGETS[target]
    inputs = isolated_dirs
    (inputs / "good.png").write_bytes(PNG)
    outside = tmp_path / "outside"
    outside.mkdir()
    ref = FIXED[case] if case in FIXED else build(case, inputs, outside, kind)
    async with in_process(fake) as client:
        result = await call(client, tool, arguments_for(ref, inputs))
        text = refusal(tool, result)
        assert "refused" in text, text
        assert "root:" not in text and "PATH=" not in text  # no file contents echoed
        assert fake.requests == []
        # and the server still serves
        assert not (await call(client, "web_search", {"query": "after"})).is_error


@pytest.mark.parametrize("target", list(TARGETS))
async def test_the_same_file_inside_the_root_is_accepted(
    fake: FakeGLM, isolated_dirs: Path, target: str
) -> None:
    """The control: each target does read a plain allowed file, so the refusals above are the rules'."""
    tool, arguments_for, kind = TARGETS[target]
    (isolated_dirs / "good.png").write_bytes(PNG)
    (isolated_dirs / f"fine.{kind}").write_bytes(header(kind))
    async with in_process(fake) as client:
        result = await call(
            client, tool, {**arguments_for(str(isolated_dirs / f"fine.{kind}"), isolated_dirs)}
        )
        assert not result.is_error, result
        assert fake.requests != []


BIDI_AND_LINE_BREAKS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\x85"


@pytest.mark.parametrize("char", ["\u202e", "\u2028"])
async def test_refusal_escapes_bidi_and_unicode_line_breaks(
    fake: FakeGLM, isolated_dirs: Path, char: str
) -> None:
    async with in_process(fake) as client:
        result = await call(client, "transcribe", {"file": f"{isolated_dirs}/{char}vaw.exe"})
        text = refusal("transcribe", result)
        assert not any(c in text for c in BIDI_AND_LINE_BREAKS), ascii(text)
        assert len(text.splitlines()) == 1


@pytest.mark.parametrize("target", list(TARGETS))
async def test_a_hard_link_is_read_when_the_setting_allows_it(
    fake: FakeGLM, isolated_dirs: Path, tmp_path: Path, target: str
) -> None:
    """GLM_ALLOW_HARD_LINKS lifts the refusal above, and only it."""
    tool, arguments_for, kind = TARGETS[target]
    (isolated_dirs / "good.png").write_bytes(PNG)
    outside = tmp_path / "outside"
    outside.mkdir()
    ref = build("hard-link-out", isolated_dirs, outside, kind)
    async with in_process(fake) as client:
        refused = await call(client, tool, arguments_for(ref, isolated_dirs))
        assert "GLM_ALLOW_HARD_LINKS" in refusal(tool, refused)
    async with in_process(fake, allow_hard_links=True) as client:
        result = await call(client, tool, arguments_for(ref, isolated_dirs))
        assert not result.is_error, result
    assert fake.requests != []
