"""The network, end to end over stdio with the installed server: proxies from the environment (a real
proxy.py on 127.0.0.1), the URL guard under a proxy, TLS certificate failures, nothing listening at the
base URL, and a base URL given as the chat endpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import over_stdio, server_env, text_of
from tests.fake_glm import FakeGLM
from tests.local_servers import VIA, RunningProxy, TLSFront, http_proxy, without_proxies
from tests.support.stdio import installed_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[RunningProxy]:
    with http_proxy(tmp_path) as running:
        yield running


@pytest.fixture
def proxy_url(proxy: RunningProxy) -> str:
    return proxy.url


def env_with_proxy(fake: FakeGLM, proxy: str, no_proxy: str = "") -> dict[str, str]:
    env = without_proxies(server_env(fake))
    env.update({"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": no_proxy})
    return env


def short_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(8000)
        sink.writeframes(bytes(16000))
    return path


async def test_api_calls_and_media_downloads_go_through_the_proxy(
    fake: FakeGLM, proxy_url: str, isolated_dirs: Path, tmp_path: Path
) -> None:
    audio = short_wav(isolated_dirs / "hello.wav")
    async with over_stdio(env_with_proxy(fake, proxy_url), tmp_path / "stderr.log") as client:
        chat = await client.call_tool("glm_chat", {"prompt": "hello"})
        image = await client.call_tool("generate_image", {"prompt": "a red square"})
        heard = await client.call_tool("transcribe", {"file": str(audio)})
    for result in (chat, image, heard):
        assert not result.is_error, text_of(result)
    routes = [request.route for request in fake.requests]
    assert routes[0] == "chat/completions"
    assert "images/generations" in routes
    assert any(route.startswith("media/image-") for route in routes)  # the download of GLM's URL
    assert "audio/transcriptions" in routes
    assert all("via" in request.headers for request in fake.requests), routes  # only proxies add one
    assert any(request.headers["via"] == VIA for request in fake.requests)  # kept-alive, too
    [upload] = fake.requests_to("audio/transcriptions")
    assert upload.files["file"] == audio.read_bytes()


async def test_https_to_the_api_goes_through_a_connect_tunnel(
    fake: FakeGLM, proxy: RunningProxy, tmp_path: Path
) -> None:
    host, port = urlsplit(fake.root_url).hostname, urlsplit(fake.root_url).port
    assert host is not None and port is not None
    with TLSFront((host, port), tmp_path) as front:
        env = env_with_proxy(fake, proxy.url) | {
            "ZAI_BASE_URL": front.base_url(),
            "SSL_CERT_FILE": str(front.ca_file),
        }
        async with over_stdio(env, tmp_path / "stderr.log") as client:
            chat = await client.call_tool("glm_chat", {"prompt": "hello"})
        assert not chat.is_error, text_of(chat)
        assert proxy.tunnels() == [f"127.0.0.1:{front.port}"]
    assert [request.route for request in fake.requests] == ["chat/completions"]


async def test_no_proxy_exempts_the_api_and_its_media(fake: FakeGLM, proxy_url: str, tmp_path: Path) -> None:
    env = env_with_proxy(fake, proxy_url, no_proxy="127.0.0.1")
    async with over_stdio(env, tmp_path / "stderr.log") as client:
        image = await client.call_tool("generate_image", {"prompt": "a red square"})
    assert not image.is_error, text_of(image)
    assert len(fake.requests) == 2
    assert all("via" not in request.headers for request in fake.requests)


async def test_a_client_url_is_refused_while_a_proxy_would_fetch_it(
    fake: FakeGLM, proxy_url: str, tmp_path: Path
) -> None:
    url = "http://localhost:9/talk.wav"
    async with over_stdio(env_with_proxy(fake, proxy_url), tmp_path / "stderr.log") as client:
        proxied = await client.call_tool("transcribe", {"file": url})
    assert proxied.is_error
    message = text_of(proxied)
    assert "\n" not in message
    assert f'audio "{url}" is refused: it cannot be checked' in message
    assert f"{urlsplit(proxy_url).netloc} (HTTP_PROXY) would fetch it" in message
    assert "add localhost to NO_PROXY" in message
    # Exempted from the proxy, the URL meets the guard itself, which checks where it connects.
    exempt = env_with_proxy(fake, proxy_url, no_proxy="localhost")
    async with over_stdio(exempt, tmp_path / "stderr.log") as client:
        direct = await client.call_tool("transcribe", {"file": url})
    assert direct.is_error
    assert "localhost resolves to 127.0.0.1, a loopback address" in text_of(direct)
    assert fake.requests == []


async def test_an_untrusted_certificate_is_one_line_and_not_retried(fake: FakeGLM, tmp_path: Path) -> None:
    host, port = urlsplit(fake.root_url).hostname, urlsplit(fake.root_url).port
    assert host is not None and port is not None
    with TLSFront((host, port), tmp_path) as front:
        env = without_proxies(server_env(fake, ZAI_BASE_URL=front.base_url()))
        env.pop("SSL_CERT_FILE", None)
        async with over_stdio(env, tmp_path / "stderr.log") as client:
            refused = await client.call_tool("glm_chat", {"prompt": "hello"})
            listed = await client.list_tools()
        assert front.accepted == 1  # GLM_MAX_RETRIES is 3: a refused certificate is not retried
        message = text_of(refused)
        assert refused.is_error
        assert "\n" not in message
        assert "the server's TLS certificate was refused (" in message
        assert f"connecting to {front.base_url()}; not retried" in message
        assert "SSL_CERT_FILE" in message
        assert listed.tools  # the server keeps serving
        assert fake.requests == []
        # What the message says to do works: trusting the test's CA, the same call goes through.
        async with over_stdio(env | {"SSL_CERT_FILE": str(front.ca_file)}, tmp_path / "e.log") as client:
            answered = await client.call_tool("glm_chat", {"prompt": "hello"})
    assert not answered.is_error, text_of(answered)
    assert [request.route for request in fake.requests] == ["chat/completions"]


async def test_nothing_listening_says_what_to_check(fake: FakeGLM, tmp_path: Path) -> None:
    # A bound socket that does not listen: connections to its port are refused, and no one takes it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{closed.getsockname()[1]}/api/paas/v4"
        env = without_proxies(server_env(fake, ZAI_BASE_URL=base, GLM_MAX_RETRIES="1"))
        async with over_stdio(env, tmp_path / "stderr.log") as client:
            failed = await client.call_tool("glm_chat", {"prompt": "hello"})
            again = await client.call_tool("web_search", {"query": "still serving"})
    message = text_of(failed)
    assert failed.is_error
    assert "\n" not in message
    assert f"could not connect to {base}: connection refused: nothing listens there" in message
    assert "Check ZAI_BASE_URL, the network and any proxy setting (HTTPS_PROXY)" in message
    assert "run `mcp-server-glm doctor`" in message
    assert "(gave up after 2 attempts)" in message
    assert again.is_error
    assert "could not connect" in text_of(again)


@pytest.mark.parametrize("suffix", ["/chat/completions", "/chat/completions/", "/Chat/Completions"])
def test_a_chat_endpoint_as_base_url_is_refused_at_start(fake: FakeGLM, suffix: str) -> None:
    given = fake.base_url + suffix
    done = subprocess.run(
        [installed_server()],
        env=server_env(fake, ZAI_BASE_URL=given),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()[-1:]
    assert "invalid configuration" in line
    assert f"is the chat endpoint, not the base URL: set ZAI_BASE_URL to {fake.base_url}" in line
    assert os.linesep not in line
    assert fake.requests == []
