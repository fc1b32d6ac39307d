"""A directory on an input's path swapped for a symlink out of the allowed directories, again and again,
while the installed server reads the input: nothing outside may ever reach the GLM API.

The swap is atomic (renameat2 with RENAME_EXCHANGE), so at any moment the path names either the real
directory inside or a link to one outside: a guard that checks the path and then opens it by name
again reads the outside file whenever the swap lands between the two.
"""

from __future__ import annotations

import base64
import ctypes
import os
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import over_stdio, server_env, text_of, wav_file
from tests.fake_glm import FakeGLM

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's"),
]

CALLS = 200
AT_FDCWD = -100
RENAME_EXCHANGE = 2


def png(text: bytes) -> bytes:
    """A real 1x1 PNG carrying `text` in a tEXt chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00" + text)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def exchange_function() -> Callable[[int, bytes, int, bytes, int], int]:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        function = libc.renameat2
    except AttributeError:
        pytest.skip("this C library has no renameat2")
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


@pytest.fixture
def swapping(isolated_dirs: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """`<inputs>/sub` (a real directory holding pic.png and speech.wav) swapped with `<inputs>/link` (a
    symlink to a directory outside holding secret files of the same names) until the test ends."""
    inside, outside = isolated_dirs / "sub", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (inside / "pic.png").write_bytes(png(b"public"))
    (inside / "speech.wav").write_bytes(wav_file(b"\x00\x01" * 800))
    (outside / "pic.png").write_bytes(png(b"SECRET-outside"))
    (outside / "speech.wav").write_bytes(wav_file(b"\x7f\x7e" * 800))
    (isolated_dirs / "link").symlink_to(outside, target_is_directory=True)
    exchange = exchange_function()
    a, b = os.fsencode(inside), os.fsencode(isolated_dirs / "link")
    if exchange(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        pytest.skip(f"RENAME_EXCHANGE is not supported here ({os.strerror(ctypes.get_errno())})")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            exchange(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield inside, outside
    finally:
        stop.set()
        thread.join()


async def test_a_directory_swapped_for_a_link_never_leaks_what_is_outside(
    fake: FakeGLM, tmp_path: Path, swapping: tuple[Path, Path]
) -> None:
    inside, outside = swapping
    secrets = {
        "image": base64.b64encode((outside / "pic.png").read_bytes()),
        "audio": (outside / "speech.wav").read_bytes(),
    }
    outcomes: dict[str, int] = {"sent": 0, "refused": 0}
    async with over_stdio(server_env(fake), tmp_path / "stderr.log") as client:
        for number in range(CALLS):
            if number % 2:
                result = await client.call_tool("transcribe", {"file": str(inside / "speech.wav")})
            else:
                arguments = {"prompt": "look", "model": "glm-4.6v", "images": [str(inside / "pic.png")]}
                result = await client.call_tool("glm_chat", arguments)
            outcomes["refused" if result.is_error else "sent"] += 1
            if result.is_error:
                assert "\n" not in text_of(result), text_of(result)
    leaked = [
        request.route
        for request in fake.requests
        if secrets["image"] in request.body or secrets["audio"] in request.body
    ]
    assert leaked == [], f"{len(leaked)} of {len(fake.requests)} requests carried a file from outside"
    print(f"{CALLS} calls while swapping: {outcomes}")
    assert outcomes["sent"] > 0, outcomes  # the inside files were really read now and then
