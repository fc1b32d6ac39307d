"""The GLM adapter against the loopback fake: retries by business code, errors, SSE assembly, redaction."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from mcp_server_glm.errors import (
    AuthenticationFailed,
    BadResponse,
    ConnectionFailed,
    ContentFiltered,
    GLMError,
    InvalidRequest,
    QuotaExhausted,
    RateLimited,
    ServerFailed,
    StreamBroken,
)
from mcp_server_glm.glm.client import ON_RETRY, GLMClient
from mcp_server_glm.glm.models import ChatCompletion, WebSearchRequest
from tests.conftest import CANARY_KEY
from tests.fake_glm import FakeGLM, Fault
from tests.local_servers import TLSFront
from tests.support.calls import HELLO, fake_address

pytestmark = pytest.mark.anyio


@pytest.fixture
async def glm(fake: FakeGLM) -> AsyncIterator[GLMClient]:
    async with GLMClient(CANARY_KEY, fake.base_url, max_retries=3, retry_backoff=0.01, timeout=5) as client:
        yield client


async def test_chat_streams_and_assembles(glm: GLMClient, fake: FakeGLM) -> None:
    seen: list[int] = []

    async def on_delta(completion: ChatCompletion) -> None:
        seen.append(completion.received)

    completion = await glm.chat(HELLO, on_delta=on_delta)
    assert completion.content == "Fake GLM answer to: hello there"
    assert completion.reasoning == "Thinking about: hello there"
    assert completion.finish_reason == "stop"
    assert completion.complete
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert seen == sorted(seen) and len(seen) > 3  # one call per delta that carried text
    [request] = fake.requests_to("chat/completions")
    assert request.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.json["stream"] is True
    assert request.json["request_id"] == completion.request_id
    assert "thinking" not in request.json and None not in request.json.values()


async def test_rate_limit_is_retried_with_backoff(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script(
        "chat/completions", Fault(status=429, code="1302"), Fault(status=429, code="1305", retry_after=0.4)
    )
    completion = await glm.chat(HELLO)
    assert completion.complete
    requests = fake.requests_to("chat/completions")
    assert len(requests) == 3
    assert requests[2].time - requests[1].time >= 0.4  # Retry-After honoured
    assert len({r.json["request_id"] for r in requests}) == 3  # a fresh request id per attempt


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        ("1113", QuotaExhausted, "no balance"),
        ("1308", QuotaExhausted, "usage limit"),
        ("1313", QuotaExhausted, "fair-use"),
        ("1304", QuotaExhausted, "daily"),
    ],
)
async def test_quota_codes_are_not_retried(
    glm: GLMClient, fake: FakeGLM, code: str, kind: type[Exception], words: str
) -> None:
    fake.script("chat/completions", Fault(status=429, code=code))
    with pytest.raises(kind) as caught:
        await glm.chat(HELLO)
    assert len(fake.requests_to("chat/completions")) == 1
    message = str(caught.value)
    assert f"HTTP 429, code {code}" in message
    assert words in message
    assert "[request mcp-" in message
    assert "\n" not in message


async def test_server_errors_give_up_after_max_retries(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("web_search", *[Fault(status=503)] * 5)
    with pytest.raises(ServerFailed, match="gave up after 4 attempts"):
        await glm.web_search(WebSearchRequest(search_query="x", search_engine="search-prime"))
    assert len(fake.requests_to("web_search")) == 4


async def test_giving_up_adds_the_attempts_to_the_message_not_to_the_error(
    glm: GLMClient, fake: FakeGLM
) -> None:
    fake.script("web_search", *[Fault(status=503)] * 5)
    notices: list[str] = []

    async def on_retry(error: GLMError, seconds: float) -> None:
        notices.append(str(error))

    token = ON_RETRY.set(on_retry)
    try:
        with pytest.raises(ServerFailed) as caught:
            await glm.web_search(WebSearchRequest(search_query="x", search_engine="search-prime"))
    finally:
        ON_RETRY.reset(token)
    error = caught.value
    assert error.attempts == 4
    assert "gave up" not in error.args[0]
    assert str(error) == f"{error.args[0]} (gave up after 4 attempts)"
    # The errors shown while a retry is waited for were not given up on: they say nothing of it.
    assert len(notices) >= 3
    assert not any("gave up" in notice for notice in notices)


WEB_SEARCH_TOOL = {
    "type": "web_search",
    "web_search": {"enable": True, "search_engine": "search_pro_jina", "search_result": True},
}


async def test_a_whole_json_answer_reads_as_the_streamed_one(glm: GLMClient, fake: FakeGLM) -> None:
    request = HELLO.model_copy(update={"tools": [WEB_SEARCH_TOOL]})
    streamed = await glm.chat(request)
    # The fake's own non-streamed answer to the same request, sent to a stream request as plain JSON.
    whole = httpx2.post(
        f"{fake.base_url}/chat/completions",
        json=request.model_copy(update={"stream": False, "request_id": "whole-1"}).body(),
        headers={"Authorization": f"Bearer {CANARY_KEY}", "User-Agent": "mcp-server-glm"},
    ).json()
    assert whole["choices"][0]["message"]["reasoning_content"]
    fake.script(
        "chat/completions", Fault(status=200, body=json.dumps(whole), content_type="application/json")
    )
    read = await glm.chat(request)
    for completion in (streamed, read):
        assert completion.content.startswith("Fake GLM answer to: hello there")
        assert completion.reasoning == "Thinking about: hello there"
        assert completion.finish_reason == "stop"
        assert completion.complete
        assert len(completion.web_search) == 2
    assert (read.content, read.reasoning, read.usage, read.web_search) == (
        streamed.content,
        streamed.reasoning,
        streamed.usage,
        streamed.web_search,
    )
    assert read.request_id == "whole-1"


async def test_retry_after_past_the_deadline_is_not_waited_for(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(status=429, code="1302", retry_after=60))
    async with GLMClient(CANARY_KEY, fake.base_url, deadline=5, retry_backoff=0.01) as glm:
        with pytest.raises(RateLimited, match="would pass the 5 s deadline"):
            await glm.chat(HELLO)
    assert len(fake.requests_to("chat/completions")) == 1


async def test_content_filter_is_its_own_error(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(status=400, code="1301"))
    with pytest.raises(ContentFiltered, match="content filter"):
        await glm.chat(HELLO)
    assert len(fake.requests_to("chat/completions")) == 1


async def test_sensitive_finish_reason_is_content_filtered(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(finish_reason="sensitive", cut_after=3))
    with pytest.raises(ContentFiltered, match="finish_reason sensitive"):
        await glm.chat(HELLO)


async def test_refused_key_names_the_platform_mismatch(fake: FakeGLM) -> None:
    async with GLMClient("wrong-key", fake.base_url, retry_backoff=0.01) as glm:
        with pytest.raises(AuthenticationFailed) as caught:
            await glm.chat(HELLO)
    message = str(caught.value)
    assert "HTTP 401, code 1000" in message
    assert "api.z.ai or open.bigmodel.cn" in message and "Coding Plan" in message
    assert len(fake.requests_to("chat/completions")) == 1


async def test_unknown_model_is_invalid_request(glm: GLMClient, fake: FakeGLM) -> None:
    with pytest.raises(InvalidRequest, match="code 1211"):
        await glm.chat(HELLO.model_copy(update={"model": "glm-99"}))


async def test_read_timeout_is_retried(fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(delay=1.5))
    async with GLMClient(CANARY_KEY, fake.base_url, timeout=0.5, retry_backoff=0.01) as glm:
        completion = await glm.chat(HELLO)
    assert completion.complete
    assert len(fake.requests_to("chat/completions")) == 2


async def test_read_timeout_every_time_is_a_clear_error(fake: FakeGLM) -> None:
    fake.script("web_search", *[Fault(delay=1.0)] * 3)
    async with GLMClient(CANARY_KEY, fake.base_url, timeout=0.3, max_retries=2, retry_backoff=0.01) as glm:
        with pytest.raises(ConnectionFailed, match=r"no data from the GLM API for 0.3 s \(read timeout\)"):
            await glm.web_search(WebSearchRequest(search_query="x", search_engine="search-prime"))
    assert len(fake.requests_to("web_search")) == 3


async def test_connection_refused_is_a_connection_error() -> None:
    async with GLMClient(
        CANARY_KEY, "http://127.0.0.1:9/api/paas/v4", max_retries=1, retry_backoff=0.01
    ) as glm:
        with pytest.raises(ConnectionFailed, match=r"could not connect to http://127\.0\.0\.1:9"):
            await glm.chat(HELLO)


async def test_dropped_connection_is_retried(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(drop=True))
    completion = await glm.chat(HELLO)
    assert completion.complete
    assert len(fake.requests_to("chat/completions")) == 2


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        (
            Fault(status=200, body='{"choices": [', content_type="application/json"),
            BadResponse,
            "not JSON (HTTP 200",
        ),
        (Fault(status=200, body="", content_type="application/json"), BadResponse, "empty body (HTTP 200)"),
        (
            Fault(status=502, body="<html><body>Bad gateway</body></html>", content_type="text/html"),
            ServerFailed,
            "HTTP 502): the API answered with an HTML page",
        ),
    ],
)
async def test_malformed_bodies_name_the_status(
    fake: FakeGLM, fault: Fault, kind: type[Exception], words: str
) -> None:
    fake.script("web_search", *[fault] * 2)
    async with GLMClient(CANARY_KEY, fake.base_url, max_retries=1, retry_backoff=0.01) as glm:
        with pytest.raises(kind, match=words.replace("(", r"\(").replace(")", r"\)")):
            await glm.web_search(WebSearchRequest(search_query="x", search_engine="search-prime"))


async def test_numeric_code_and_top_level_envelope_are_understood(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script(
        "web_search",
        Fault(
            status=429,
            body='{"error": {"code": 1113, "message": "no money"}}',
            content_type="application/json",
        ),
    )
    with pytest.raises(QuotaExhausted, match="code 1113"):
        await glm.web_search(WebSearchRequest(search_query="x", search_engine="search-prime"))
    fake.script(
        "web_search",
        Fault(status=400, body='{"code": 1214, "message": "bad engine"}', content_type="application/json"),
    )
    with pytest.raises(InvalidRequest, match=r"code 1214.*bad engine"):
        await glm.web_search(WebSearchRequest(search_query="x", search_engine="search-prime"))


async def test_stream_cut_after_content_keeps_the_part(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(cut_after=8))
    completion = await glm.chat(HELLO)
    assert not completion.complete
    assert completion.finish_reason is None
    assert completion.interruption is not None and "connection broke" in completion.interruption
    assert completion.received > 0
    assert len(fake.requests_to("chat/completions")) == 1  # content arrived: not re-sent


async def test_stream_cut_before_content_is_retried(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(cut_after=0))
    completion = await glm.chat(HELLO)
    assert completion.complete
    assert len(fake.requests_to("chat/completions")) == 2


async def test_stream_that_never_delivers_is_an_error(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", *[Fault(cut_after=0)] * 4)
    with pytest.raises(StreamBroken, match="before any content arrived"):
        await glm.chat(HELLO)


async def test_network_error_finish_marks_the_answer_incomplete(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(finish_reason="network_error", cut_after=6))
    completion = await glm.chat(HELLO)
    assert completion.finish_reason == "network_error"
    assert not completion.complete


async def test_missing_done_after_finish_is_still_complete(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(no_done=True))
    completion = await glm.chat(HELLO)
    assert completion.complete and completion.finish_reason == "stop"


async def test_key_echoed_by_the_api_is_redacted(glm: GLMClient, fake: FakeGLM) -> None:
    fake.script("chat/completions", Fault(status=400, code="1214", message=f"bad header Bearer {CANARY_KEY}"))
    with pytest.raises(InvalidRequest) as caught:
        await glm.chat(HELLO)
    assert CANARY_KEY not in str(caught.value)
    assert "Bearer ***" in str(caught.value)
    assert CANARY_KEY not in repr(glm)


async def test_connections_are_pooled(glm: GLMClient, fake: FakeGLM) -> None:
    before = fake.connections
    for _ in range(5):
        await glm.web_search(WebSearchRequest(search_query="pool", search_engine="search-prime"))
    assert fake.connections - before == 1


async def test_streamed_chats_reuse_one_connection(glm: GLMClient, fake: FakeGLM) -> None:
    before = fake.connections
    for _ in range(5):
        assert (await glm.chat(HELLO)).complete
    assert fake.connections - before == 1  # the body after [DONE] is read, so the connection is reused


async def test_nothing_listening_names_what_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as closed:  # bound, not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{closed.getsockname()[1]}/api/paas/v4"
        async with GLMClient(CANARY_KEY, base, max_retries=1, retry_backoff=0.01) as glm:
            with pytest.raises(ConnectionFailed) as caught:
                await glm.chat(HELLO)
    message = str(caught.value)
    assert message.startswith(f"could not connect to {base}: connection refused: nothing listens there. ")
    assert "Check ZAI_BASE_URL, the network and any proxy setting (HTTPS_PROXY)" in message
    assert "run `mcp-server-glm doctor`" in message
    assert message.endswith("(gave up after 2 attempts)")


async def test_an_untrusted_certificate_is_not_retried(
    fake: FakeGLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with TLSFront(fake_address(fake), tmp_path) as front:
        async with GLMClient(CANARY_KEY, front.base_url(), max_retries=3, retry_backoff=0.01) as glm:
            with pytest.raises(ConnectionFailed) as caught:
                await glm.chat(HELLO)
        assert front.accepted == 1
        message = str(caught.value)
        assert not caught.value.retryable
        assert message.startswith("the server's TLS certificate was refused (")
        assert "certificate" in message.partition("(")[2]  # the verifier's reason
        assert f"connecting to {front.base_url()}; not retried." in message
        assert "system clock" in message and "SSL_CERT_FILE" in message
        # The advice works: with the CA trusted, the same client settings reach the API.
        monkeypatch.setenv("SSL_CERT_FILE", str(front.ca_file))
        async with GLMClient(CANARY_KEY, front.base_url(), retry_backoff=0.01) as glm:
            assert (await glm.chat(HELLO)).complete
    assert len(fake.requests_to("chat/completions")) == 1


async def test_tls_to_a_plain_http_port_is_not_retried(fake: FakeGLM) -> None:
    before = fake.connections
    https = fake.base_url.replace("http://", "https://")
    async with GLMClient(CANARY_KEY, https, max_retries=3, retry_backoff=0.01) as glm:
        with pytest.raises(ConnectionFailed) as caught:
            await glm.chat(HELLO)
    assert str(caught.value).startswith("the TLS handshake failed (")
    assert f"connecting to {https}; not retried" in str(caught.value)
    assert fake.connections - before == 1


async def test_a_tls_connection_dropped_mid_call_is_retried(
    fake: FakeGLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TLSFront(fake_address(fake), tmp_path) as front:
        monkeypatch.setenv("SSL_CERT_FILE", str(front.ca_file))
        fake.script("chat/completions", Fault(drop=True))
        async with GLMClient(CANARY_KEY, front.base_url(), retry_backoff=0.01) as glm:
            assert (await glm.chat(HELLO)).complete
        assert front.accepted == 2
    assert len(fake.requests_to("chat/completions")) == 2
