"""files.py: inputs confined to allowed roots and sniffed, the SSRF guard, and downloads that stream
into generated names without leaving anything partial behind.

HTTP tests use a tiny real server on 127.0.0.1, reached unguarded, or httpx2.MockTransport standing in
for public hosts on the guarded path.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import random
import re
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
import pytest

from mcp_server_glm.errors import InputRefused
from mcp_server_glm.files import FileRefused, Files, MediaKind, local, outputs
from tests.samples import GIF, JPEG, MOV, MOV_ATOM, MP3, MP3_FRAME, MP4, PNG, WAV, WEBP

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
LIMITS: dict[MediaKind, int] = {"image": 1 * MB, "audio": 2 * MB, "video": 4 * MB}


# -- a tiny HTTP server ----------------------------------------------------------------------------


Route = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """HTTP on 127.0.0.1 with routes each test sets; records the path of every request it gets."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                route = owner.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Server:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def body(data: bytes, *, length: bool = True, content_type: str = "application/octet-stream") -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def chunks(block: bytes, count: int, *, length: bool = True) -> Route:
    """`count` copies of `block`, written one by one, never all in memory."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if length:
            handler.send_header("Content-Length", str(len(block) * count))
        handler.end_headers()
        for _ in range(count):
            handler.wfile.write(block)

    return route


def trickle(first: bytes, *, pause: float, started: threading.Event | None = None) -> Route:
    """`first`, then a byte every `pause` seconds for up to 5 s (or until the client leaves)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 * MB))
        handler.end_headers()
        handler.wfile.write(first)
        handler.wfile.flush()
        if started is not None:
            started.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(pause)
            handler.wfile.write(b"\x00")
            handler.wfile.flush()

    return route


@pytest.fixture(scope="module")
def server_instance() -> Iterator[Server]:
    with Server() as server:
        yield server


@pytest.fixture
def server(server_instance: Server) -> Server:
    server_instance.routes.clear()
    server_instance.requests.clear()
    return server_instance


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path.resolve() / "out"


def make_files(root: Path, out: Path, **overrides: Any) -> Files:
    values: dict[str, Any] = {
        "allowed_dirs": [root],
        "output_dir": out,
        "input_limits": LIMITS,
        "max_download_bytes": 128 * MB,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "total_timeout": 30.0,
    }
    values.update(overrides)
    return Files(**values)


@pytest.fixture
async def files(root: Path, out: Path) -> AsyncIterator[Files]:
    async with make_files(root, out) as files:
        yield files


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def refused(call: Any) -> str:
    """The message of the FileRefused the awaitable raises, within 5 s."""
    with anyio.fail_after(5), pytest.raises(FileRefused) as caught:
        await call
    message = str(caught.value)
    assert "\n" not in message
    return message


def listing(directory: Path) -> list[str]:
    """Every name in `directory`, hidden ones included ([] when it does not exist)."""
    return sorted(os.listdir(directory)) if directory.exists() else []


# -- local inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind", "mime_type"),
    [
        (PNG, "image", "image/png"),
        (JPEG, "image", "image/jpeg"),
        (WEBP, "image", "image/webp"),
        (GIF, "image", "image/gif"),
        (WAV, "audio", "audio/wav"),
        (MP3, "audio", "audio/mpeg"),
        (MP3_FRAME, "audio", "audio/mpeg"),
        (MP4, "video", "video/mp4"),
        (MOV, "video", "video/quicktime"),
        (MOV_ATOM, "video", "video/quicktime"),
    ],
)
async def test_reads_media_by_path(
    files: Files, root: Path, data: bytes, kind: MediaKind, mime_type: str
) -> None:
    path = write(root / "sub" / "input.media", data)
    got = await files.read_input(str(path), kind)
    assert (got.data, got.mime_type, got.source, got.size) == (
        data,
        mime_type,
        str(path.resolve()),
        len(data),
    )
    assert got.data_url() == f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


async def test_reads_home_relative_path(
    tmp_path: Path, root: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(root / "a.png", PNG)
    async with make_files(Path("~/root"), out) as files:
        got = await files.read_input("~/root/a.png", "image")
    assert got.source == str((root / "a.png").resolve())


async def test_reads_file_url(files: Files, root: Path) -> None:
    path = write(root / "my clip.mp4", MP4)
    got = await files.read_input(path.as_uri(), "video")
    assert got.data == MP4
    assert got.source == str(path.resolve())
    assert files.resolve_local(path.as_uri()) == path.resolve()


async def test_file_url_naming_another_host_is_refused(files: Files) -> None:
    message = await refused(files.read_input("file://server/share/a.png", "image"))
    assert "file:///path" in message


async def test_reads_data_url_trusting_the_bytes_not_the_declared_type(files: Files) -> None:
    got = await files.read_input(f"data:text/plain;base64,{base64.b64encode(PNG).decode()}", "image")
    assert (got.data, got.mime_type, got.source) == (PNG, "image/png", "data URL")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("data:image/png,%89PNG", "only base64 data URLs"),
        ("data:image/png;base64,not*base64!", "base64 payload is invalid"),
        ("data:image/png;base64," + "A" * (2 * MB), "more than the 1 MiB limit"),
        ("data:image/png;base64," + base64.b64encode(b"just some words").decode(), "looks like text"),
    ],
)
async def test_bad_data_urls_are_refused(files: Files, ref: str, expected: str) -> None:
    message = await refused(files.read_input(ref, "image"))
    assert message.startswith("image data URL is refused: ")
    assert expected in message


async def test_dot_dot_traversal_is_refused(files: Files, root: Path, tmp_path: Path) -> None:
    write(tmp_path / "outside.png", PNG)
    message = await refused(files.read_input(f"{root}/../outside.png", "image"))
    assert "is outside the allowed directories" in message
    assert str(root) in message


async def test_dot_dot_that_stays_inside_is_read(files: Files, root: Path) -> None:
    write(root / "a.png", PNG)
    (root / "sub").mkdir()
    assert (await files.read_input(f"{root}/sub/../a.png", "image")).data == PNG


async def test_absolute_path_outside_the_roots_is_refused(files: Files, tmp_path: Path) -> None:
    other = write(tmp_path / "elsewhere" / "a.png", PNG)
    assert "outside the allowed directories" in await refused(files.read_input(str(other), "image"))
    assert "outside the allowed directories" in await refused(files.read_input("/etc/passwd", "image"))


async def test_symlinks_out_of_the_root_are_refused(files: Files, root: Path, tmp_path: Path) -> None:
    other = write(tmp_path / "elsewhere" / "a.png", PNG)
    (root / "passwd.png").symlink_to("/etc/passwd")
    (root / "other.png").symlink_to(other)
    (root / "dir").symlink_to(other.parent)
    for name in ("passwd.png", "other.png", "dir/a.png"):
        message = await refused(files.read_input(str(root / name), "image"))
        assert "outside the allowed directories" in message
    with pytest.raises(FileRefused, match="outside the allowed directories"):
        files.resolve_local(str(root / "other.png"))


async def test_symlink_inside_the_root_is_followed(files: Files, root: Path) -> None:
    target = write(root / "pictures" / "a.png", PNG)
    (root / "latest.png").symlink_to(target)
    got = await files.read_input(str(root / "latest.png"), "image")
    assert got.source == str(target.resolve())


def swap_for_link(directory: Path, target: Path) -> None:
    """`directory` replaced by a symlink to `target` (what a racing process does between check and open)."""
    directory.rename(directory.with_name(directory.name + "-moved"))
    directory.symlink_to(target, target_is_directory=True)


@pytest.mark.parametrize("openat", [True, False], ids=["walk", "verify-after-open"])
async def test_a_directory_swapped_for_a_link_after_the_check_is_not_followed(
    files: Files, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openat: bool
) -> None:
    """The check passes on the real directory; the open then finds a link there and refuses, by the
    component-by-component walk or (where the system has no openat) by the opened file's real path."""
    monkeypatch.setattr(local, "OPENAT", openat)
    checked = files.local.resolve_input(str(write(root / "sub" / "a.png", PNG)))
    write(tmp_path / "outside" / "a.png", PNG)
    swap_for_link(root / "sub", tmp_path / "outside")
    with pytest.raises(InputRefused, match="a link appeared on its path while it was being opened"):
        files.local.open_checked(checked, MB)
    (root / "sub").unlink()
    (root / "sub-moved").rename(root / "sub")
    file, size = files.local.open_checked(checked, MB)  # the control: unswapped, it opens
    with file:
        assert size == len(PNG)


async def test_hard_links_are_refused_unless_allowed(root: Path, out: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "secret.png", PNG)
    os.link(secret, root / "a.png")
    async with make_files(root, out) as files:
        message = await refused(files.read_input(str(root / "a.png"), "image"))
        assert message == (
            f'image "{root / "a.png"}" is refused: it has 2 hard links, and another name may lie outside '
            "the allowed directories; copy the file, or set GLM_ALLOW_HARD_LINKS=true to read such files"
        )
        async with contextlib.AsyncExitStack() as stack:
            opening = stack.enter_async_context(files.open_input(str(root / "a.png"), "image"))
            assert "GLM_ALLOW_HARD_LINKS" in await refused(opening)
    async with make_files(root, out, allow_hard_links=True) as files:
        assert (await files.read_input(str(root / "a.png"), "image")).data == PNG


async def test_hidden_files_and_directories_are_refused(files: Files, root: Path, tmp_path: Path) -> None:
    key = write(root / ".ssh" / "id_rsa", PNG)  # a PNG header does not make it readable
    write(root / ".env", PNG)
    good = write(root / "a.png", PNG)
    (root / "visible.png").symlink_to(key)  # a visible link into a hidden directory
    (root / ".hidden.png").symlink_to(good)  # a hidden link to a visible file
    write(tmp_path / ".cache" / "placeholder", b"")
    (tmp_path / ".cache" / "link.png").symlink_to(good)  # a hidden directory outside pointing in
    cases = {
        str(key): ".ssh",
        str(root / ".env"): ".env",
        str(root / "visible.png"): ".ssh",
        str(root / ".hidden.png"): ".hidden.png",
        str(tmp_path / ".cache" / "link.png"): ".cache",
        key.as_uri(): ".ssh",
    }
    for ref, part in cases.items():
        message = await refused(files.read_input(ref, "image"))
        assert f'hidden files and directories ("{part}") are never read' in message, message
        assert message.startswith(f'image "{ref}" is refused: ')


async def test_a_hidden_root_is_allowed(tmp_path: Path, out: Path) -> None:
    data_root = tmp_path / ".data"
    path = write(data_root / "a.png", PNG)
    write(data_root / ".secret" / "b.png", PNG)
    async with make_files(data_root, out) as files:
        assert (await files.read_input(str(path), "image")).data == PNG
        assert ".secret" in await refused(files.read_input(str(data_root / ".secret" / "b.png"), "image"))


async def test_a_root_inside_a_hidden_directory_of_another_root(tmp_path: Path) -> None:
    # The default set-up: the home directory, and an output directory under ~/.local/share.
    home = tmp_path / "home"
    media = home / ".local" / "share" / "mcp-server-glm" / "media"
    saved = write(media / "image-1.png", PNG)
    write(home / ".local" / "share" / "other" / "a.png", PNG)
    async with make_files(home, media, allowed_dirs=[home, media]) as files:
        assert (await files.read_input(str(saved), "image")).data == PNG
        message = await refused(files.read_input(str(home / ".local" / "share" / "other" / "a.png"), "image"))
    assert '(".local") are never read' in message


async def test_device_files_are_refused(files: Files, root: Path, out: Path) -> None:
    (root / "zero.png").symlink_to("/dev/zero")
    assert "outside the allowed directories" in await refused(
        files.read_input(str(root / "zero.png"), "image")
    )
    async with make_files(Path("/dev"), out) as dev:
        message = await refused(dev.read_input("/dev/zero", "image"))
    assert "not a regular file (it is a device)" in message


async def test_a_named_pipe_is_refused_without_blocking(files: Files, root: Path) -> None:
    os.mkfifo(root / "pipe.wav")
    message = await refused(files.read_input(str(root / "pipe.wav"), "audio"))
    assert "not a regular file (it is a named pipe)" in message


async def test_a_directory_is_refused(files: Files, root: Path) -> None:
    (root / "album.png").mkdir()
    assert "not a regular file (it is a directory)" in await refused(
        files.read_input(str(root / "album.png"), "image")
    )


async def test_symlink_loop(files: Files, root: Path) -> None:
    (root / "loop.png").symlink_to(root / "loop.png")
    message = await refused(files.read_input(str(root / "loop.png"), "image"))
    assert "symlink loop" in message or "Too many levels of symbolic links" in message


async def test_missing_file(files: Files, root: Path) -> None:
    assert "it does not exist" in await refused(files.read_input(str(root / "nope.png"), "image"))


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("/a\0.png", "contains a NUL byte"),
        ("/" + "a" * 300 + ".png", "component is longer than 255 characters"),
        ("/a" * 2100, "longer than 4096 characters"),
    ],
)
async def test_malformed_paths_are_refused(files: Files, root: Path, suffix: str, expected: str) -> None:
    message = await refused(files.read_input(f"{root}{suffix}", "image"))
    assert expected in message
    assert "\0" not in message


async def test_unicode_look_alikes_do_not_escape(files: Files, root: Path, tmp_path: Path) -> None:
    write(tmp_path / "outside.png", PNG)
    for trick in ("..\u2215outside.png", "..\uff0foutside.png", "\uff0e\uff0e/outside.png"):
        assert "it does not exist" in await refused(files.read_input(f"{root}/{trick}", "image"))
    # A file really named so is just a file inside the root.
    path = write(root / "pics\u2215..\u2215outside.png", PNG)
    assert (await files.read_input(str(path), "image")).source == str(path.resolve())


async def test_relative_paths_and_other_schemes_are_refused(files: Files) -> None:
    assert "give an absolute path" in await refused(files.read_input("notes/a.png", "image"))
    for ref in ("ftp://example.com/a.png", "gopher://example.com/", "javascript:alert(1)", "smb://host/a"):
        message = await refused(files.read_input(ref, "image"))
        assert "URLs are not read; give a path, or a file, data, http or https URL" in message


@pytest.mark.parametrize(
    ("data", "kind", "expected"),
    [
        (
            b"just some notes\n",
            "image",
            "it is not an image (it looks like text; it is not PNG, JPEG, WEBP or GIF)",
        ),
        (
            b"<!DOCTYPE html><html></html>",
            "video",
            "it is not a video (it looks like HTML; it is not MP4 or MOV)",
        ),
        (WAV, "image", "it is not an image (it is WAV audio)"),
        (PNG, "audio", "it is not audio (it is a PNG image)"),
        (b"\xff\xfeh\x00i\x00", "audio", "it is not audio (it is not WAV or MP3)"),  # UTF-16 text
        (bytes(range(256)), "video", "it is not a video (it is not MP4 or MOV)"),
        (b"", "image", "it is empty"),
        (
            b"\x89PNG\r\n\x1a\nSECRET=1\n" + bytes(8),
            "image",
            "it starts like a PNG image but is not one: it has an invalid chunk at byte 8",
        ),
        (
            b"\xff\xfb\x90" + b"SECRET=1\n" * 60,
            "audio",
            "it starts like MP3 audio but is not one: its MPEG audio frames stop at byte 417 of 543",
        ),
    ],
)
async def test_the_bytes_must_match_the_kind(
    files: Files, root: Path, data: bytes, kind: MediaKind, expected: str
) -> None:
    path = write(root / "notes.png", data)
    message = await refused(files.read_input(str(path), kind))
    assert message == f'{kind} "{path}" is refused: {expected}'


async def test_oversize_is_refused_from_stat_before_reading(files: Files, root: Path) -> None:
    path = write(root / "huge.png", PNG)
    with path.open("r+b") as file:
        file.truncate(8 * 1024 * MB)  # sparse: 8 GiB that take no space and would take long to read
    message = await refused(files.read_input(str(path), "image"))
    assert message.endswith("is refused: it is 8 GiB, more than the 1 MiB limit")


async def test_a_file_that_grows_after_the_check_is_cut_off(
    files: Files, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(root / "growing.png", PNG)
    real_fstat = os.fstat

    def measure_then_grow(fd: int) -> os.stat_result:
        measured = real_fstat(fd)
        if measured.st_ino == path.stat().st_ino:
            with path.open("ab") as file:
                file.write(bytes(2 * MB))
        return measured

    monkeypatch.setattr(os, "fstat", measure_then_grow)
    assert "grew past the 1 MiB limit" in await refused(files.read_input(str(path), "image"))


async def test_a_file_that_grows_before_it_is_opened_is_measured_open(
    files: Files, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(root / "growing.png", PNG)
    real_open = os.open

    def grow_then_open(target: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(target) == path.name:  # opened by name in its directory
            with path.open("ab") as file:
                file.write(bytes(2 * MB))
        return real_open(target, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", grow_then_open)
    assert "more than the 1 MiB limit" in await refused(files.read_input(str(path), "image"))
    async with contextlib.AsyncExitStack() as stack:
        message = await refused(stack.enter_async_context(files.open_input(str(path), "image")))
    assert "more than the 1 MiB limit" in message


# -- the SSRF guard --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("http://127.0.0.1:{port}/x", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/x", "localhost resolves to "),  # 127.0.0.1 or ::1, a loopback address
        (
            "http://169.254.169.254/latest/meta-data",
            "169.254.169.254 is a link-local address (where cloud metadata services live)",
        ),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://[::1]:{port}/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "::ffff:127.0.0.1 is a loopback address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address (where cloud metadata services live)"),
        ("http://[fd00::1]/", "fd00::1 is a private address"),
        ("http://0.0.0.0:{port}/", "0.0.0.0 is an unspecified address"),
        ("http://[::]:{port}/", ":: is an unspecified address"),
        ("http://2130706433:{port}/", "2130706433 (127.0.0.1) is a loopback address"),
        ("http://0x7f.1:{port}/", "0x7f.1 (127.0.0.1) is a loopback address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://[2002:7f00:1::1]/", "2002:7f00:1::1 is a loopback address"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1 is a private address"),  # NAT64 around 10.0.0.1
        ("https://user:secret@example.com/", "URLs with a user name or password are not fetched"),
    ],
)
async def test_guarded_fetch_refuses_internal_addresses(
    files: Files, server: Server, template: str, expected: str
) -> None:
    server.routes["/x"] = server.routes["/"] = body(PNG)
    url = template.format(port=server.port)
    message = await refused(files.read_input(url, "image"))
    assert message.startswith(f'image "{url}" is refused: {expected}')
    if "password" not in expected:
        assert message.endswith("; only public addresses are fetched")
    download = await refused(files.download(url, kind="image", stem="x", guarded=True))
    assert download.startswith(f'download of image "{url}" is refused: {expected}')
    assert server.requests == []


async def test_every_resolved_address_must_be_public(files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        assert host == "mixed.example"
        return [(2, 1, 6, "", ("93.184.215.14", port)), (2, 1, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(anyio, "getaddrinfo", getaddrinfo)
    message = await refused(files.read_input("http://mixed.example/a.png", "image"))
    assert "mixed.example resolves to 10.1.2.3, a private address" in message


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://example.com/"])
@pytest.mark.parametrize("guarded", [True, False])
async def test_downloads_only_fetch_http(files: Files, out: Path, url: str, guarded: bool) -> None:
    message = await refused(files.download(url, kind="image", stem="x", guarded=guarded))
    assert message == f'download of image "{url}" is refused: only http and https URLs are fetched'
    assert listing(out) == []


def public_host(routes: dict[str, httpx2.Response], seen: list[httpx2.Request]) -> httpx2.MockTransport:
    """A stand-in for public hosts: answers by URL, records every request."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return routes.get(str(request.url), httpx2.Response(404))

    return httpx2.MockTransport(handle)


async def test_a_redirect_to_an_internal_address_is_refused(root: Path, out: Path, server: Server) -> None:
    seen: list[httpx2.Request] = []
    secret = server.url("/secret")
    routes = {
        "http://media.example/a.png": httpx2.Response(302, headers={"Location": secret}),
        "http://media.example/b.png": httpx2.Response(301, headers={"Location": "file:///etc/passwd"}),
        "http://media.example/c.png": httpx2.Response(307, headers={"Location": "/d.png"}),
        "http://media.example/d.png": httpx2.Response(308, headers={"Location": "http://[::1]/"}),
    }
    async with make_files(root, out, transport=public_host(routes, seen)) as files:
        message = await refused(files.read_input("http://media.example/a.png", "image"))
        assert message == (
            'image "http://media.example/a.png" is refused: 127.0.0.1 is a loopback address; only public '
            f'addresses are fetched (after a redirect to "{secret}")'
        )
        assert 'only http and https URLs are fetched (after a redirect to "file:' in (
            await refused(files.read_input("http://media.example/b.png", "image"))
        )
        assert "::1 is a loopback address" in await refused(
            files.read_input("http://media.example/c.png", "image")
        )
    assert [str(request.url) for request in seen] == [
        "http://media.example/a.png",
        "http://media.example/b.png",
        "http://media.example/c.png",
        "http://media.example/d.png",
    ]
    assert server.requests == []


async def test_redirects_are_followed_at_most_five_times(root: Path, out: Path) -> None:
    seen: list[httpx2.Request] = []
    routes = {
        f"http://media.example/{n}": httpx2.Response(302, headers={"Location": f"/{n + 1}"}) for n in range(5)
    }
    routes["http://media.example/5"] = httpx2.Response(200, content=PNG)
    routes["http://media.example/loop"] = httpx2.Response(302, headers={"Location": "/loop"})
    async with make_files(root, out, transport=public_host(routes, seen)) as files:
        assert (await files.read_input("http://media.example/0", "image")).data == PNG
        message = await refused(files.read_input("http://media.example/loop", "image"))
        assert message.endswith("could not be fetched: it redirects more than 5 times")
    assert len(seen) == 6 + 6


async def test_guarded_fetch_reads_a_public_image(root: Path, out: Path) -> None:
    seen: list[httpx2.Request] = []
    routes = {
        "https://cdn.example/a": httpx2.Response(
            302, headers={"Location": "/b", "Set-Cookie": "session=abc; Path=/"}
        ),
        "https://cdn.example/b": httpx2.Response(200, content=JPEG, headers={"Content-Type": "text/html"}),
        "https://cdn.example/big": httpx2.Response(200, content=bytes(2 * MB)),
        "https://cdn.example/gone": httpx2.Response(410),
    }
    async with make_files(root, out, transport=public_host(routes, seen)) as files:
        got = await files.read_input("https://cdn.example/a", "image")
        assert (got.data, got.mime_type, got.source) == (JPEG, "image/jpeg", "https://cdn.example/a")
        await files.read_input("https://cdn.example/a", "image")
        message = await refused(files.read_input("https://cdn.example/big", "image"))
        assert message.endswith("could not be fetched: it is 2 MiB, more than the 1 MiB limit")
        assert (await refused(files.read_input("https://cdn.example/gone", "image"))).endswith("HTTP 410")
    for request in seen:
        assert "cookie" not in request.headers
        assert "authorization" not in request.headers


# -- inputs as open files (audio too big to hold) ---------------------------------------------------


async def test_open_input_gives_the_checked_file_itself_and_closes_it(files: Files, root: Path) -> None:
    path = write(root / "talk.wav", WAV)
    async with files.open_input(str(path), "audio") as got:
        assert (got.mime_type, got.size, got.source) == ("audio/wav", len(WAV), str(path.resolve()))
        got.file.seek(0)
        assert got.file.read() == WAV
        assert os.path.samestat(os.fstat(got.file.fileno()), path.stat())
    assert got.file.closed


async def test_open_input_keeps_what_a_url_gives_in_an_unnamed_temporary_file(root: Path, out: Path) -> None:
    routes = {
        "https://cdn.example/talk": httpx2.Response(200, content=MP3),
        "https://cdn.example/big": httpx2.Response(200, content=bytes(2 * MB)),
    }
    data_url = f"data:audio/wav;base64,{base64.b64encode(WAV).decode()}"
    async with make_files(root, out, transport=public_host(routes, [])) as files:
        for ref, data, mime_type in (
            ("https://cdn.example/talk", MP3, "audio/mpeg"),
            (data_url, WAV, "audio/wav"),
        ):
            async with files.open_input(ref, "audio") as got:
                assert (got.mime_type, got.size) == (mime_type, len(data))
                got.file.seek(0)
                assert got.file.read() == data
                if os.name == "posix":
                    assert os.fstat(got.file.fileno()).st_nlink == 0  # nothing left behind on disk
            assert got.file.closed
        async with contextlib.AsyncExitStack() as stack:
            message = await refused(
                stack.enter_async_context(files.open_input("https://cdn.example/big", "image"))
            )
        assert message.endswith("could not be fetched: it is 2 MiB, more than the 1 MiB limit")


async def test_open_input_says_when_no_temporary_file_can_be_written(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any, **kwargs: Any) -> IO[bytes]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", disk_full)
    data_url = f"data:audio/wav;base64,{base64.b64encode(WAV).decode()}"
    async with contextlib.AsyncExitStack() as stack:
        message = await refused(stack.enter_async_context(files.open_input(data_url, "audio")))
    assert (
        message
        == "audio data URL could not be fetched: no temporary file to keep it in (No space left on device)"
    )


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (".hidden.wav", "hidden files"),
        ("talk.png", "it is not audio (it is a PNG image)"),
        ("empty.wav", "empty"),
        ("notes.wav", "it starts like WAV audio but is not one: its RIFF header gives"),
    ],
)
async def test_open_input_refuses_what_read_input_refuses(
    files: Files, root: Path, name: str, words: str
) -> None:
    data = {"empty.wav": b"", "talk.png": PNG, "notes.wav": WAV[:44] + b"SECRET=1\n"}.get(name, WAV)
    path = write(root / name, data)
    async with contextlib.AsyncExitStack() as stack:
        message = await refused(stack.enter_async_context(files.open_input(str(path), "audio")))
    assert words in message
    assert message == await refused(files.read_input(str(path), "audio"))


# -- downloads -------------------------------------------------------------------------------------


async def test_download_names_the_file_from_its_bytes(files: Files, server: Server, out: Path) -> None:
    server.routes["/result?id=1"] = body(PNG, content_type="text/plain")
    stem = Files.output_stem("image", "task-1")
    saved = await files.download(server.url("/result?id=1"), kind="image", stem=stem)
    assert saved.name == f"{stem}.png"
    assert saved.path == out / saved.name
    assert saved.path.is_absolute()
    assert (saved.mime_type, saved.size, saved.source_url) == (
        "image/png",
        len(PNG),
        server.url("/result?id=1"),
    )
    assert saved.path.read_bytes() == PNG
    assert listing(out) == [saved.name]


@pytest.mark.parametrize(
    ("path", "data", "kind", "name", "mime_type"),
    [
        ("/clip.bin", MP4, "video", "v.mp4", "video/mp4"),
        ("/clip", MOV, "video", "v.mov", "video/quicktime"),
        ("/speech.mp4", WAV, "audio", "v.wav", "audio/wav"),
        ("/photo.JPEG", PNG, "image", "v.png", "image/png"),
    ],
)
async def test_download_extension_comes_from_the_bytes(
    files: Files, server: Server, path: str, data: bytes, kind: MediaKind, name: str, mime_type: str
) -> None:
    server.routes[path] = body(data)
    saved = await files.download(server.url(path), kind=kind, stem="v")
    assert (saved.name, saved.mime_type) == (name, mime_type)


@pytest.mark.parametrize(
    ("data", "kind", "words"),
    [
        (b"<!doctype html><title>502</title>", "video", "it is not a video (it looks like HTML"),
        (PNG, "video", "it is not a video (it is a PNG image)"),
        (b"unknown", "image", "it is not an image"),
    ],
)
async def test_download_of_the_wrong_kind_is_refused_and_removed(
    files: Files, server: Server, out: Path, data: bytes, kind: MediaKind, words: str
) -> None:
    server.routes["/x.mp4"] = body(data)
    message = await refused(files.download(server.url("/x.mp4"), kind=kind, stem="v"))
    assert message.startswith(f'download of {kind} "{server.url("/x.mp4")}" is refused: ')
    assert words in message
    assert listing(out) == []


async def test_download_never_overwrites(files: Files, server: Server, out: Path) -> None:
    server.routes["/a"] = body(PNG)
    write(out / "same.png", b"mine")
    first = await files.download(server.url("/a"), kind="image", stem="same")
    second = await files.download(server.url("/a"), kind="image", stem="same")
    assert (first.name, second.name) == ("same-2.png", "same-3.png")
    assert (out / "same.png").read_bytes() == b"mine"
    assert listing(out) == ["same-2.png", "same-3.png", "same.png"]


async def test_concurrent_downloads_of_one_stem_get_distinct_names(
    files: Files, server: Server, out: Path
) -> None:
    server.routes["/a"] = body(WAV)
    names: list[str] = []

    async def one() -> None:
        names.append((await files.download(server.url("/a"), kind="audio", stem="same")).name)

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(one)
    expected = ["same-2.wav", "same-3.wav", "same-4.wav", "same-5.wav", "same.wav"]
    assert sorted(names) == listing(out) == expected


async def test_guarded_download_of_a_public_url(root: Path, out: Path) -> None:
    seen: list[httpx2.Request] = []
    routes = {"https://cdn.example/v": httpx2.Response(200, content=MP4)}
    async with make_files(root, out, transport=public_host(routes, seen)) as files:
        saved = await files.download("https://cdn.example/v", kind="video", stem="v", guarded=True)
    assert (saved.name, saved.path.read_bytes()) == ("v.mp4", MP4)


async def test_download_without_hard_links_publishes_by_rename(
    files: Files, server: Server, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    server.routes["/a"] = body(GIF)
    first = await files.download(server.url("/a"), kind="image", stem="g")
    second = await files.download(server.url("/a"), kind="image", stem="g")
    assert (first.name, second.name) == ("g.gif", "g-2.gif")
    assert second.path.read_bytes() == GIF
    assert listing(out) == ["g-2.gif", "g.gif"]


async def test_output_directory_is_created_private(root: Path, tmp_path: Path, server: Server) -> None:
    server.routes["/a"] = body(PNG)
    output = tmp_path / "data" / "media" / "out"
    async with make_files(root, output) as files:
        saved = await files.download(server.url("/a"), kind="image", stem="a")
    assert saved.path.parent == output
    for directory in (tmp_path / "data", tmp_path / "data" / "media", output):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.path.stat().st_mode) == 0o600


async def test_size_cap_exceeded_mid_stream_leaves_nothing(root: Path, out: Path, server: Server) -> None:
    server.routes["/endless"] = chunks(PNG + bytes(64 * 1024 - len(PNG)), 64, length=False)
    async with make_files(root, out, max_download_bytes=1 * MB) as files:
        message = await refused(files.download(server.url("/endless"), kind="image", stem="a"))
    assert (
        message == f'download of image "{server.url("/endless")}" failed: it is larger than the 1 MiB limit'
    )
    assert listing(out) == []


async def test_announced_size_over_the_cap_is_refused(root: Path, out: Path, server: Server) -> None:
    server.routes["/big"] = chunks(bytes(MB), 4)
    async with make_files(root, out, max_download_bytes=1 * MB) as files:
        message = await refused(files.download(server.url("/big"), kind="video", stem="a"))
    assert message.endswith("failed: it is 4 MiB, more than the 1 MiB limit")
    assert listing(out) == []


async def test_http_error_leaves_nothing(files: Files, server: Server, out: Path) -> None:
    message = await refused(files.download(server.url("/missing"), kind="image", stem="a"))
    assert message == f'download of image "{server.url("/missing")}" failed: HTTP 404'
    assert listing(out) == []


async def test_unreachable_server(files: Files, server: Server, out: Path) -> None:
    port = server.port
    with anyio.fail_after(5):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        free = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()
    assert port != free
    message = await refused(files.download(f"http://127.0.0.1:{free}/a", kind="image", stem="a"))
    assert "failed: could not connect" in message
    assert listing(out) == []


async def test_total_timeout_leaves_nothing(root: Path, out: Path, server: Server) -> None:
    server.routes["/slow"] = trickle(MP4, pause=0.05)
    async with make_files(root, out, total_timeout=0.5) as files:
        message = await refused(files.download(server.url("/slow"), kind="video", stem="a"))
    assert message.endswith("failed: it took longer than 0.5 s")
    assert listing(out) == []


async def test_read_timeout_leaves_nothing(root: Path, out: Path, server: Server) -> None:
    server.routes["/stalled"] = trickle(MP4, pause=2)
    async with make_files(root, out, read_timeout=0.3) as files:
        message = await refused(files.download(server.url("/stalled"), kind="video", stem="a"))
    assert message.endswith("failed: no data for 0.3 s (read timeout)")
    assert listing(out) == []


async def test_cancellation_leaves_nothing(files: Files, server: Server, out: Path) -> None:
    started = threading.Event()
    server.routes["/slow"] = trickle(MP4, pause=0.05, started=started)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(partial(files.download, server.url("/slow"), kind="video", stem="a"))
            await anyio.to_thread.run_sync(started.wait)
            await anyio.sleep(0.2)
            assert [name for name in listing(out) if name.endswith(".part")]
            group.cancel_scope.cancel()
    assert listing(out) == []


@pytest.fixture
def read_only(out: Path) -> Iterator[Path]:
    out.mkdir(mode=0o500)
    yield out
    out.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
async def test_read_only_output_directory(root: Path, read_only: Path, server: Server) -> None:
    server.routes["/a"] = body(PNG)
    async with make_files(root, read_only) as files:
        message = await refused(files.download(server.url("/a"), kind="image", stem="a"))
    assert message == f"cannot write to {read_only}: Permission denied"
    assert listing(read_only) == []


async def test_output_directory_that_cannot_exist(root: Path, tmp_path: Path, server: Server) -> None:
    server.routes["/a"] = body(PNG)
    write(tmp_path / "file", b"")
    async with make_files(root, tmp_path / "file" / "out") as files:
        message = await refused(files.download(server.url("/a"), kind="image", stem="a"))
    assert message == f"cannot write to {tmp_path / 'file' / 'out'}: Not a directory"


async def test_disk_full_mid_download_leaves_nothing(
    files: Files, server: Server, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_create = outputs.create_temp

    class FullDisk:
        def __init__(self, file: IO[bytes]) -> None:
            self.file, self.written = file, 0

        def write(self, data: bytes) -> int:
            self.written += len(data)
            if self.written > MB:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.file.write(data)

        def close(self) -> None:
            self.file.close()

    def create(directory: Path, stem: str) -> tuple[Path, Any]:
        temp, file = real_create(directory, stem)
        return temp, FullDisk(file)

    monkeypatch.setattr(outputs, "create_temp", create)
    server.routes["/big"] = chunks(bytes(MB), 4)
    message = await refused(files.download(server.url("/big"), kind="video", stem="a"))
    assert message == f"cannot write to {out}: No space left on device"
    assert listing(out) == []


async def test_large_download_streams_to_disk(files: Files, server: Server, out: Path) -> None:
    block = MP4 + random.Random(7).randbytes(MB - len(MP4))
    server.routes["/large.mp4"] = chunks(block, 64)
    expected = hashlib.sha256()
    for _ in range(64):
        expected.update(block)
    with anyio.fail_after(60):
        saved = await files.download(server.url("/large.mp4"), kind="video", stem="large")
    assert (saved.name, saved.size) == ("large.mp4", 64 * MB)
    digest = hashlib.sha256()
    with saved.path.open("rb") as file:
        while chunk := file.read(MB):
            digest.update(chunk)
    assert digest.hexdigest() == expected.hexdigest()
    assert listing(out) == ["large.mp4"]


async def test_stems_that_could_be_paths_are_rejected(files: Files) -> None:
    for stem in ("../a", "a/b", ".hidden", "", "a b"):
        with pytest.raises(ValueError, match="not a file name stem"):
            await files.download("http://127.0.0.1/", kind="image", stem=stem)


def test_output_stem() -> None:
    stem = Files.output_stem("video", "abc/../..;rm -rf ~" + "x" * 60)
    assert re.fullmatch(r"video-\d{8}-\d{6}-abcrm-rfx{32}", stem), stem
    assert re.fullmatch(r"image-\d{8}-\d{6}-[0-9a-f]{8}", Files.output_stem("image", None))
    assert re.fullmatch(r"audio-\d{8}-\d{6}-[0-9a-f]{8}", Files.output_stem("audio", "../"))


# -- saved files read back, temporary files ---------------------------------------------------------


async def test_a_saved_file_is_read_back_and_measured_only_in_the_output_directory(
    files: Files, server: Server, out: Path, tmp_path: Path
) -> None:
    server.routes["/a"] = body(PNG)
    saved = await files.download(server.url("/a"), kind="image", stem="a")
    with files.open_saved(saved.path) as file:
        assert file.read() == PNG
    assert await files.saved_size(saved.path) == len(PNG)
    assert await files.saved_size(str(saved.path)) == len(PNG)
    outside = write(tmp_path / "elsewhere" / "a.png", PNG)
    (out / "link.png").symlink_to(outside)
    (out / "sub").mkdir()
    below = write(out / "sub" / "b.png", PNG)
    for path in (outside, out / "link.png", below, out / "gone.png", out):
        assert await files.saved_size(path) is None, path
        with pytest.raises(FileRefused, match=r"is no longer a file in the output directory \("):
            files.open_saved(path)


async def test_bytes_a_tool_made_are_published_never_replacing_a_file(
    files: Files, root: Path, out: Path, tmp_path: Path
) -> None:
    first = await files.save_bytes(
        b'{"index":0}\n', stem="vectors", ext=".jsonl", mime_type="application/jsonl"
    )
    again = await files.save_bytes(b"other", stem="vectors", ext=".jsonl", mime_type="application/jsonl")
    assert (first.name, again.name) == ("vectors.jsonl", "vectors-2.jsonl")
    assert (first.path.read_bytes(), again.path.read_bytes()) == (b'{"index":0}\n', b"other")
    assert (first.size, first.mime_type, first.source_url) == (12, "application/jsonl", "")
    assert listing(out) == ["vectors-2.jsonl", "vectors.jsonl"]  # no temporary file left
    assert (out.stat().st_mode & 0o777) == 0o700
    with pytest.raises(ValueError, match="not a file name"):
        await files.save_bytes(b"x", stem="../up", ext=".jsonl", mime_type="text/plain")
    with pytest.raises(ValueError, match="not a file name"):
        await files.save_bytes(b"x", stem="ok", ext="/x", mime_type="text/plain")
    write(tmp_path / "file", b"")
    async with make_files(root, tmp_path / "file" / "out") as blocked:
        message = await refused(blocked.save_bytes(b"x", stem="v", ext=".jsonl", mime_type="text/plain"))
    assert message == f"cannot write to {tmp_path / 'file' / 'out'}: Not a directory"


async def test_temporary_files_are_unnamed_in_the_data_directory(
    root: Path, out: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data" / "deeper"
    async with make_files(root, out, temp_dir=data) as files:
        with files.temporary_file() as file:
            file.write(b"decoded audio")
            file.seek(0)
            assert file.read() == b"decoded audio"
            assert data.is_dir() and listing(data) == []  # made private, and the file has no name there
            assert stat.S_IMODE(data.stat().st_mode) == 0o700
        async with files.open_input(
            f"data:audio/wav;base64,{base64.b64encode(WAV).decode()}", "audio"
        ) as got:
            assert got.size == len(WAV)
            assert listing(data) == []


async def test_a_temporary_file_that_cannot_be_made_is_one_refusal(
    root: Path, out: Path, tmp_path: Path
) -> None:
    blocked = write(tmp_path / "a-file", b"")
    async with make_files(root, out, temp_dir=blocked / "tmp") as files:
        with pytest.raises(FileRefused, match=r"^no temporary file could be made in .*a-file/tmp: "):
            files.temporary_file()
