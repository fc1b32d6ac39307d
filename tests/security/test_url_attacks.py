"""Issue 5 §2, hostile URLs.

transcribe `file` is the one argument the server itself fetches: every non-http scheme, internal
address (literal, by name, or reached by a redirect) and oversized body must be refused with one line,
before anything is sent to the GLM API and without the internal address being contacted.

Image arguments (glm_chat `images`, generate_video `image`) are different: a public http(s) URL is handed to
the GLM API as it is, for the API to fetch; the server never fetches it. One naming localhost or a literal
internal address is refused before anything is sent. A task id, which goes into an API path, must be a
plain name.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpcore2
import pytest

from tests.conftest import in_process
from tests.fake_glm import FakeGLM
from tests.security.conftest import WAV, call, refusal

pytestmark = pytest.mark.anyio

PUBLIC = "93.184.215.14"  # what the test's public name resolves to; connections to it go to the local server


class Local:
    """A plain HTTP server on 127.0.0.1 that records every path it is asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        local = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                local.hits.append(self.path)
                port = local.port
                redirects = {
                    "/to-loopback": f"http://127.0.0.1:{port}/secret",
                    "/to-localhost": f"http://localhost:{port}/secret",
                    "/to-ipv6-loopback": f"http://[::1]:{port}/secret",
                    "/to-metadata": "http://169.254.169.254/latest/meta-data/",
                    "/to-private": "http://10.0.0.1/secret",
                    "/to-file": "file:///etc/passwd",
                    "/to-gopher": "gopher://127.0.0.1:70/_x",
                }
                if self.path in redirects:
                    self.send_response(302)
                    self.send_header("Location", redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/speech.wav":
                    self._send(WAV)
                elif self.path == "/announced-big.wav":
                    self.send_response(200)
                    self.send_header("Content-Length", str(3 * 1024 * 1024))
                    self.end_headers()
                    self.wfile.write(WAV)  # the rest never comes: the guard must not wait for it
                elif self.path == "/streamed-big.wav":
                    self.send_response(200)
                    self.end_headers()  # no length: HTTP/1.0 close-delimited
                    with contextlib.suppress(OSError):
                        self.wfile.write(WAV + bytes(3 * 1024 * 1024))
                else:
                    self._send(b"internal secret", status=200)

            def _send(self, data: bytes, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Local:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local() -> Iterator[Local]:
    with Local() as server:
        yield server


@pytest.fixture
def public_name(local: Local, monkeypatch: pytest.MonkeyPatch) -> str:
    """`public.example` resolves to a public address (so the guard lets it through) and connections to
    that address really reach the local server: redirects from a "public" host can be tested end to end
    with the guard's address check left intact."""
    real_getaddrinfo = anyio.getaddrinfo
    real_connect = httpcore2.AnyIOBackend.connect_tcp

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == "public.example":
            return [(2, 1, 6, "", (PUBLIC, port))]
        return await real_getaddrinfo(host, port, **kwargs)

    async def connect_tcp(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host == PUBLIC:
            host = "127.0.0.1"
        return await real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(anyio, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(httpcore2.AnyIOBackend, "connect_tcp", connect_tcp)
    return f"http://public.example:{local.port}"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("ftp://example.com/a.wav", "ftp URLs are not read"),
        ("gopher://127.0.0.1:{port}/_x", "gopher URLs are not read"),
        ("javascript:alert(1)", "javascript URLs are not read"),
        ("file:///etc/passwd", "outside the allowed directories"),
        ("file://localhost/etc/passwd", "outside the allowed directories"),
        ("file://127.0.0.1/etc/passwd", "a file URL must name a local file"),
        ("http://127.0.0.1:{port}/x.wav", "127.0.0.1 is a loopback address"),
        ("http://[::1]:{port}/x.wav", "::1 is a loopback address"),
        ("http://10.0.0.1/x.wav", "10.0.0.1 is a private address"),
        ("http://192.168.1.1/x.wav", "192.168.1.1 is a private address"),
        ("http://172.16.0.1/x.wav", "172.16.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://0.0.0.0:{port}/x.wav", "0.0.0.0 is an unspecified address"),
        ("http://[::ffff:127.0.0.1]:{port}/x.wav", "::ffff:127.0.0.1 is a loopback address"),
        ("http://2130706433:{port}/x.wav", "2130706433 (127.0.0.1) is a loopback address"),
        ("https://127.0.0.1:{port}/x.wav", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/x.wav", "localhost resolves to "),
        ("HTTP://LOCALHOST:{port}/x.wav", "resolves to "),
        ("http://user:pw@127.0.0.1:{port}/x.wav", "URLs with a user name or password are not fetched"),
    ],
)
async def test_transcribe_refuses_internal_and_non_http_urls(
    fake: FakeGLM, local: Local, template: str, words: str
) -> None:
    url = template.format(port=local.port)
    async with in_process(fake) as client:
        text = refusal("transcribe", await call(client, "transcribe", {"file": url}))
        assert words in text, text
        assert "internal secret" not in text
        assert not (await call(client, "web_search", {"query": "after"})).is_error
    assert local.hits == []
    assert [r.route for r in fake.requests] == ["web_search"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/to-loopback", "127.0.0.1 is a loopback address"),
        ("/to-localhost", "localhost resolves to "),
        ("/to-ipv6-loopback", "::1 is a loopback address"),
        ("/to-metadata", "169.254.169.254 is a link-local address"),
        ("/to-private", "10.0.0.1 is a private address"),
        ("/to-file", "only http and https URLs are fetched"),
        ("/to-gopher", "only http and https URLs are fetched"),
    ],
)
async def test_transcribe_refuses_redirects_to_internal_addresses(
    fake: FakeGLM, local: Local, public_name: str, path: str, words: str
) -> None:
    async with in_process(fake) as client:
        text = refusal("transcribe", await call(client, "transcribe", {"file": public_name + path}))
        assert words in text and "after a redirect to" in text, text
    assert local.hits == [path]  # the public hop only; the internal target was never contacted
    assert fake.requests == []


async def test_transcribe_fetches_a_public_url(fake: FakeGLM, local: Local, public_name: str) -> None:
    """The control for the redirect rows: the same route does fetch a public file."""
    async with in_process(fake) as client:
        result = await call(client, "transcribe", {"file": public_name + "/speech.wav"})
        assert not result.is_error, result
    assert local.hits == ["/speech.wav"]
    assert [r.route for r in fake.requests] != []


@pytest.mark.parametrize(
    ("path", "words"),
    [("/announced-big.wav", "it is 3 MiB, more than"), ("/streamed-big.wav", "larger than")],
)
async def test_transcribe_refuses_oversized_bodies(
    fake: FakeGLM, local: Local, public_name: str, path: str, words: str
) -> None:
    async with in_process(fake, max_audio_mb=1) as client:
        text = refusal("transcribe", await call(client, "transcribe", {"file": public_name + path}))
        assert words in text and "1 MiB limit" in text, text
        assert not (await call(client, "web_search", {"query": "after"})).is_error
    assert [r.route for r in fake.requests] == ["web_search"]


def image_arguments(tool: str, ref: str) -> dict[str, Any]:
    if tool == "glm_chat":
        return {"prompt": "see", "images": [ref]}
    return {"prompt": "see", "image": ref, "wait_seconds": 0}


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("http://127.0.0.1:{port}/a.png", "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1:22/", "127.0.0.1 is a loopback address"),
        ("HTTP://127.0.0.1:{port}/a.png", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/a.png", "10.0.0.1 is a private address"),
        ("https://192.168.1.1/a.png", "192.168.1.1 is a private address"),
        ("http://[::1]:{port}/a.png", "::1 is a loopback address"),
        ("http://2130706433:{port}/a.png", "2130706433 (127.0.0.1) is a loopback address"),
        ("http://127.1/a.png", "127.1 (127.0.0.1) is a loopback address"),
        ("http://public.example@10.0.0.1/a.png", "10.0.0.1 is a private address"),
        ("http://0.0.0.0:{port}/a.png", "0.0.0.0 is an unspecified address"),
        ("http://localhost:{port}/a.png", "localhost is this machine"),
        ("Http://LocalHost.:{port}/a.png", "localhost is this machine"),
        ("http://admin.localhost/a.png", "admin.localhost is this machine"),
    ],
)
@pytest.mark.parametrize("tool", ["glm_chat", "generate_video"])
async def test_image_urls_of_internal_hosts_are_refused_before_reaching_the_api(
    fake: FakeGLM, local: Local, tool: str, template: str, words: str
) -> None:
    """The API fetches an http(s) image from its own network: a URL naming this machine or a private
    network (cloud metadata, a router, an SSH port) is not handed to it, and not fetched here either."""
    ref = template.format(port=local.port)
    async with in_process(fake) as client:
        text = refusal(tool, await call(client, tool, image_arguments(tool, ref)))
        assert f"image URL {json.dumps(ref)} is refused: {words}" in text, text
        assert not (await call(client, "web_search", {"query": "after"})).is_error
    assert local.hits == []
    assert [r.route for r in fake.requests] == ["web_search"]


@pytest.mark.parametrize("tool", ["glm_chat", "generate_video"])
async def test_public_image_urls_are_passed_to_the_api_and_not_fetched(
    fake: FakeGLM, local: Local, public_name: str, tool: str
) -> None:
    """A public URL goes to the API as it is, for the API to fetch; in upper case as well (its scheme
    lower-cased), rather than being fetched and inlined here."""
    refs = {"https://example.com/a.png": "https://example.com/a.png"}
    refs[public_name.replace("http://", "HTTP://") + "/a.png"] = public_name + "/a.png"
    async with in_process(fake) as client:
        for ref in refs:
            result = await call(client, tool, image_arguments(tool, ref))
            assert not result.is_error, result
    assert local.hits == []
    bodies = [request.body.decode() for request in fake.requests]
    assert len(bodies) == len(refs)
    for body, sent in zip(bodies, refs.values(), strict=True):
        assert json.dumps(sent) in body, body
        assert "base64" not in body


@pytest.mark.parametrize("task_id", [".", "..", "...", "a/b", "", "x" * 129])
async def test_get_task_refuses_ids_that_are_not_plain_names(fake: FakeGLM, task_id: str) -> None:
    """An id goes into the API path (`async-result/<id>`): "." or ".." would name another path."""
    async with in_process(fake) as client:
        text = refusal("get_task", await call(client, "get_task", {"task_id": task_id, "wait_seconds": 0}))
        assert text.startswith("Error executing tool get_task: invalid arguments: task_id: String "), text
    assert fake.requests == []


def test_the_guard_is_installed_on_httpx2s_private_pool() -> None:
    """The guard rides on httpx2's private `_pool` (files/ssrf.py): if httpx2 renames it or stops sending
    through it, this fails here, by name, rather than the guard silently not being on the path."""
    import httpx2

    from mcp_server_glm.files import ssrf

    transport = ssrf.guarded_transport()
    assert ssrf.guard_installed(transport)
    assert isinstance(vars(transport)["_pool"]._network_backend, ssrf._GuardedNetwork)
    assert "_pool" in httpx2.AsyncHTTPTransport.handle_async_request.__code__.co_names
    assert not ssrf.guard_installed(httpx2.AsyncHTTPTransport())  # the control: httpx2's own pool
