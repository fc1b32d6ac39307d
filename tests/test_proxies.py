"""Proxies from the environment in process: the GLM client and the API's media downloads use them (plain
HTTP and CONNECT tunnels, through a real proxy.py), the URL guard refuses what a proxy would fetch, and
messages name a proxy without its credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mcp_server_glm.errors import ConnectionFailed
from mcp_server_glm.files import FileRefused, Files
from mcp_server_glm.glm.client import GLMClient
from mcp_server_glm.glm.proxies import Proxy, proxy_for
from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM
from tests.local_servers import RunningProxy, TLSFront, http_proxy
from tests.support.calls import HELLO, fake_address

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # the proxies are processes (tests/local_servers.py)

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[RunningProxy]:
    with http_proxy(tmp_path) as running:
        yield running


@pytest.fixture
def proxy_url(proxy: RunningProxy) -> str:
    return proxy.url


def make_files(tmp_path: Path) -> Files:
    return Files(
        allowed_dirs=[tmp_path],
        output_dir=tmp_path / "out",
        input_limits={"image": 1024 * 1024},
        max_download_bytes=1024 * 1024,
    )


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "https://api.z.ai/api/paas/v4", None),
        ({"HTTPS_PROXY": "http://user:secret@proxy.corp:3128"}, "https://api.z.ai/x", "proxy.corp:3128"),
        ({"HTTPS_PROXY": "proxy.corp:3128"}, "http://api.z.ai/x", None),  # http takes HTTP_PROXY
        ({"ALL_PROXY": "http://proxy.corp:8080"}, "http://api.z.ai/x", "proxy.corp:8080"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "z.ai"}, "https://api.z.ai/x", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".z.ai,localhost"}, "https://api.z.ai/x", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://api.z.ai/x", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "bigmodel.cn"}, "https://api.z.ai/x", "p:1"),
    ],
)
def test_proxy_for_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = proxy_for(url)
    assert (found.address if found else None) == expected
    if found is not None:
        assert "secret" not in str(found) and "user" not in str(found)


async def test_the_api_is_reached_through_http_proxy(
    fake: FakeGLM, proxy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    async with GLMClient(CANARY_KEY, fake.base_url, retry_backoff=0.01) as glm:
        assert (await glm.chat(HELLO)).complete
    [request] = fake.requests_to("chat/completions")
    assert "via" in request.headers


async def test_https_goes_through_a_connect_tunnel(
    fake: FakeGLM, proxy: RunningProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TLSFront(fake_address(fake), tmp_path) as front:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(front.ca_file))
        async with GLMClient(CANARY_KEY, front.base_url(), retry_backoff=0.01) as glm:
            assert (await glm.chat(HELLO)).complete
            assert (await glm.chat(HELLO)).complete
        assert proxy.tunnels() == [f"127.0.0.1:{front.port}"]  # one tunnel, kept for both calls
        assert front.accepted == 1
    [request, _] = fake.requests_to("chat/completions")
    assert "via" not in request.headers  # inside a tunnel the proxy sees only encrypted bytes


async def test_a_proxy_that_cannot_connect_is_named(proxy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    host_port = urlsplit(proxy_url).netloc
    monkeypatch.setenv("HTTPS_PROXY", proxy_url.replace("://", "://user:secret@"))
    async with GLMClient(CANARY_KEY, "https://127.0.0.1:9/api/paas/v4", max_retries=0) as glm:
        with pytest.raises(ConnectionFailed) as caught:
            await glm.chat(HELLO)
    message = str(caught.value)
    assert not caught.value.reached  # refused in answer to CONNECT: a paid call may be sent again
    assert message.startswith(f"the proxy at {host_port} (HTTPS_PROXY) refused the connection to https://")
    assert "NO_PROXY" in message
    assert "secret" not in message


async def test_a_proxy_that_is_down_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@127.0.0.1:9")
    async with GLMClient(CANARY_KEY, "http://api.example/api/paas/v4", max_retries=0) as glm:
        with pytest.raises(ConnectionFailed) as caught:
            await glm.chat(HELLO)
    message = str(caught.value)
    assert "could not connect to http://api.example/api/paas/v4 through the proxy at 127.0.0.1:9" in message
    assert "the network and the proxy at 127.0.0.1:9 (HTTP_PROXY), or run `mcp-server-glm doctor`" in message
    assert "secret" not in message


@pytest.mark.parametrize("value", ["foo://user:secret@127.0.0.1:9", "socks5://127.0.0.1:9"])
async def test_an_unusable_proxy_variable_is_one_line_not_a_crash(
    fake: FakeGLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", value)
    async with GLMClient(CANARY_KEY, fake.base_url, max_retries=3, retry_backoff=0.01) as glm:
        with pytest.raises(ConnectionFailed, match="a proxy set in the environment cannot be used") as caught:
            await glm.chat(HELLO)
    assert "correct or unset HTTPS_PROXY, HTTP_PROXY and ALL_PROXY" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert fake.requests == []
    async with make_files(tmp_path) as files:
        with pytest.raises(FileRefused, match="a proxy set in the environment cannot be used"):
            await files.download(fake.media_url("image-1.png"), kind="image", stem="image-1")


async def test_media_of_the_api_is_downloaded_through_the_proxy(
    fake: FakeGLM, proxy_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    async with make_files(tmp_path) as files:
        saved = await files.download(fake.media_url("image-1.png"), kind="image", stem="image-1")
    assert saved.mime_type == "image/png"
    [request] = fake.requests
    assert "via" in request.headers


async def test_a_client_url_a_proxy_would_fetch_is_refused_unfetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@127.0.0.1:9")
    async with make_files(tmp_path) as files:
        with pytest.raises(FileRefused) as caught:
            await files.read_input("https://images.example/cat.png", "image")
    message = str(caught.value)
    assert message.startswith('image "https://images.example/cat.png" is refused: it cannot be checked: ')
    assert str(Proxy("HTTPS_PROXY", "127.0.0.1:9")) + " would fetch it" in message
    assert "add images.example to NO_PROXY" in message
    assert "secret" not in message
