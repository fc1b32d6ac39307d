"""Issue 5's fault matrix, each row over stdio and Streamable HTTP against the real HTTP fake of the GLM API.

Figures (requests, retries, gaps) are printed: run with -s to see them."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp.types import TextResourceContents

from tests.conftest import text_of
from tests.fake_glm import FakeGLM, Fault, TaskPlan
from tests.reliability.conftest import MAX_RETRIES, SLOW, Target, media_files, structured

pytestmark = pytest.mark.anyio

ATTEMPTS = MAX_RETRIES + 1


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope, so that the module's stdio client session lives across its tests."""
    return "asyncio"


def routes(fake: FakeGLM) -> list[str]:
    return [
        r.route.partition("/")[0] if r.route.startswith("async-result/") else r.route for r in fake.requests
    ]


async def tasks_resource(client: object) -> list[dict[str, object]]:
    [contents] = (await client.read_resource("glm://tasks")).contents  # type: ignore[attr-defined]
    assert isinstance(contents, TextResourceContents)
    listed: list[dict[str, object]] = json.loads(contents.text)
    return listed


# ---------------------------------------------------------------- 429: busy, then quota


@pytest.mark.parametrize("code", ["1302", "1305"])
async def test_busy_twice_then_success_honours_retry_after(fake: FakeGLM, target: Target, code: str) -> None:
    fake.script(
        "web_search",
        Fault(status=429, code=code, retry_after=0.5),
        Fault(status=429, code=code),
    )
    async with target.session() as client:
        found = await client.call_tool("web_search", {"query": "busy platform"})
    assert not found.is_error, text_of(found)
    first, second, third = fake.requests_to("web_search")
    gaps = [second.time - first.time, third.time - second.time]
    print(f"[{target.transport}] 429/{code} x2 then 200: 3 requests, gaps {gaps[0]:.3f} s, {gaps[1]:.3f} s")
    assert gaps[0] >= 0.5  # Retry-After: 0.5 was honoured
    assert gaps[1] > 0  # the backoff of the second retry (no Retry-After)


@pytest.mark.parametrize(
    ("code", "words"),
    [("1113", "balance"), ("1308", "plan's usage limit"), ("1313", "fair-use")],
)
async def test_quota_codes_fail_at_once_naming_the_cause(
    fake: FakeGLM, target: Target, code: str, words: str
) -> None:
    fake.script("chat/completions", Fault(status=429, code=code))
    async with target.session() as client:
        answer = await client.call_tool("glm_chat", {"prompt": "out of quota"})
    assert answer.is_error
    text = text_of(answer)
    print(f"[{target.transport}] 429/{code}: {len(fake.requests_to('chat/completions'))} request: {text}")
    assert len(fake.requests_to("chat/completions")) == 1
    assert f"code {code}" in text
    assert words in text


# ---------------------------------------------------------------- 5xx bursts


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_burst_gives_up_after_max_retries(
    fake: FakeGLM, target: Target, status: int
) -> None:
    fake.script("web_search", *[Fault(status=status, code="500" if status == 500 else None)] * ATTEMPTS)
    async with target.session() as client:
        failed = await client.call_tool("web_search", {"query": "a failing platform"})
        tried = len(fake.requests_to("web_search"))
        assert failed.is_error
        assert f"HTTP {status}" in text_of(failed)
        assert f"gave up after {ATTEMPTS} attempts" in text_of(failed)
        again = await client.call_tool("web_search", {"query": "still serving"})
    print(f"[{target.transport}] {status} burst: {tried} requests ({MAX_RETRIES} retries): {text_of(failed)}")
    assert tried == ATTEMPTS
    assert not again.is_error
    assert len(fake.requests_to("web_search")) == ATTEMPTS + 1


# ---------------------------------------------------------------- connection reset


@pytest.mark.parametrize(
    ("tool", "route", "arguments"),
    [
        ("glm_chat", "chat/completions", {"prompt": "reset once"}),
        ("web_search", "web_search", {"query": "reset once"}),
    ],
)
async def test_reset_is_retried_for_idempotent_calls(
    fake: FakeGLM, target: Target, tool: str, route: str, arguments: dict[str, object]
) -> None:
    fake.script(route, Fault(drop=True))
    async with target.session() as client:
        answer = await client.call_tool(tool, arguments)
    print(f"[{target.transport}] {tool} reset once: {len(fake.requests_to(route))} requests")
    assert not answer.is_error, text_of(answer)
    assert len(fake.requests_to(route)) == 2


@pytest.mark.parametrize(
    ("tool", "route"),
    [("generate_image", "images/generations"), ("generate_video", "videos/generations")],
)
async def test_reset_paid_submission_is_not_resent(
    fake: FakeGLM, target: Target, tool: str, route: str
) -> None:
    fake.script(route, Fault(drop=True))
    arguments: dict[str, object] = {"prompt": "a paid picture"}
    if tool == "generate_video":
        arguments["wait_seconds"] = 0
    async with target.session() as client:
        answer = await client.call_tool(tool, arguments)
    print(f"[{target.transport}] {tool} reset: {len(fake.requests_to(route))} request: {text_of(answer)}")
    assert answer.is_error
    assert "not re-sent" in text_of(answer)
    assert len(fake.requests_to(route)) == 1


# ---------------------------------------------------------------- read timeouts


async def test_read_timeout_on_chat_is_retried(fake: FakeGLM, target: Target) -> None:
    fake.script("chat/completions", Fault(delay=SLOW))
    async with target.session() as client:
        answer = await client.call_tool("glm_chat", {"prompt": "slow first"})
    print(f"[{target.transport}] chat read timeout: {len(fake.requests_to('chat/completions'))} requests")
    assert not answer.is_error, text_of(answer)
    assert structured(answer)["content"] == "Fake GLM answer to: slow first"
    assert len(fake.requests_to("chat/completions")) == 2


async def test_read_timeout_on_video_submit_is_not_resent(fake: FakeGLM, target: Target) -> None:
    fake.script("videos/generations", Fault(delay=SLOW))
    async with target.session() as client:
        answer = await client.call_tool("generate_video", {"prompt": "slow submit", "wait_seconds": 0})
    print(f"[{target.transport}] submit read timeout: {text_of(answer)}")
    assert answer.is_error
    assert "read timeout" in text_of(answer)
    assert "not re-sent" in text_of(answer)
    assert len(fake.requests_to("videos/generations")) == 1


async def test_read_timeout_on_poll_is_retried_and_the_job_completes(fake: FakeGLM, target: Target) -> None:
    fake.task_plan = TaskPlan(polls=1)
    fake.script("async-result", Fault(delay=SLOW))
    async with target.session() as client:
        answer = await client.call_tool("generate_video", {"prompt": "slow poll", "wait_seconds": 20})
    polls = [r for r in fake.requests if r.route.startswith("async-result/")]
    print(f"[{target.transport}] poll read timeout: {len(polls)} polls")
    assert not answer.is_error, text_of(answer)
    assert structured(answer)["status"] == "SUCCESS"
    assert len(polls) >= 2
    assert len(fake.requests_to("videos/generations")) == 1


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        pytest.param(Fault(delay=SLOW), "read timeout", id="read-timeout"),
        pytest.param(Fault(cut_after=1000), "the connection failed", id="cut-midway"),
    ],
)
async def test_failed_download_leaves_no_partial_file(
    fake: FakeGLM, target: Target, fault: Fault, words: str
) -> None:
    fake.task_plan = TaskPlan(polls=0)
    fake.media_size = 256 * 1024
    fake.script("media", fault)
    async with target.session() as client:
        answer = await client.call_tool("generate_video", {"prompt": "failed download", "wait_seconds": 20})
        [task_id] = fake.tasks
        left = media_files(target.media_dir, task_id)
        listed = {task["id"]: task for task in await tasks_resource(client)}
        again = await client.call_tool("get_task", {"task_id": task_id, "wait_seconds": 5})
    print(f"[{target.transport}] download {words}: {text_of(answer)}; left behind: {left}")
    assert answer.is_error
    assert words in text_of(answer)
    assert "get_task" in text_of(answer)  # the job itself succeeded: it can be saved again
    assert left == []
    assert listed[task_id]["status"] == "PROCESSING"  # not marked done without its file
    assert not again.is_error, text_of(again)
    assert Path(structured(again)["path"]).stat().st_size == 256 * 1024
    assert len(fake.requests_to("videos/generations")) == 1


# ---------------------------------------------------------------- bodies that are not the documented shape


BAD_BODIES = [
    pytest.param(Fault(status=200, body="{not json"), 200, id="malformed-json"),
    pytest.param(
        Fault(status=403, body="<html><body>403 Forbidden</body></html>", content_type="text/html"),
        403,
        id="html-page",
    ),
    pytest.param(Fault(status=200, body=b""), 200, id="empty-body"),
]


@pytest.mark.parametrize(("fault", "status"), BAD_BODIES)
@pytest.mark.parametrize(
    ("tool", "route", "arguments"),
    [
        ("web_search", "web_search", {"query": "odd body"}),
        ("glm_chat", "chat/completions", {"prompt": "odd body"}),
    ],
)
async def test_bad_bodies_are_tool_errors_with_the_status(
    fake: FakeGLM,
    target: Target,
    fault: Fault,
    status: int,
    tool: str,
    route: str,
    arguments: dict[str, object],
) -> None:
    fake.script(route, fault)
    async with target.session() as client:
        answer = await client.call_tool(tool, arguments)
        again = await client.call_tool(tool, arguments)
    print(f"[{target.transport}] {tool}: {text_of(answer)}")
    assert answer.is_error
    assert f"HTTP {status}" in text_of(answer)
    assert text_of(answer).strip() not in (f"Error executing tool {tool}", f"Error executing tool {tool}:")
    assert len(fake.requests_to(route)) == 2  # not retried; the next call went through
    assert not again.is_error


# ---------------------------------------------------------------- broken streams


# "Thinking about: <6 words>" is 8 reasoning events, then "Fake GLM answer to: <6 words>" 10 content events.
CUT_PROMPT = "a long enough question to cut"


@pytest.mark.parametrize(
    ("fault", "finish_reason", "partial"),
    [
        pytest.param(Fault(cut_after=11), "incomplete", "Fake GLM answer", id="cut-midway"),
        pytest.param(
            Fault(finish_reason="network_error"),
            "network_error",
            f"Fake GLM answer to: {CUT_PROMPT}",
            id="network-error",
        ),
    ],
)
async def test_broken_stream_is_marked_incomplete(
    fake: FakeGLM, target: Target, fault: Fault, finish_reason: str, partial: str
) -> None:
    fake.script("chat/completions", fault)
    async with target.session() as client:
        answer = await client.call_tool("glm_chat", {"prompt": CUT_PROMPT})
    print(f"[{target.transport}] {finish_reason}: {text_of(answer)!r}")
    assert not answer.is_error
    assert structured(answer)["finish_reason"] == finish_reason
    assert structured(answer)["content"] == partial
    assert text_of(answer).startswith(partial)
    assert "[INCOMPLETE ANSWER" in text_of(answer)
    assert len(fake.requests_to("chat/completions")) == 1


async def test_stream_cut_during_reasoning_is_retried_once_then_an_error(
    fake: FakeGLM, target: Target
) -> None:
    """Only reasoning arrived: never a clean-looking empty answer. The break is retried once, so one cut
    gives the whole answer, and a second cut a one-line error."""
    fake.script("chat/completions", Fault(cut_after=3))
    async with target.session() as client:
        answer = await client.call_tool("glm_chat", {"prompt": CUT_PROMPT})
    print(f"[{target.transport}] cut in reasoning once: error={answer.is_error} {text_of(answer)!r}")
    assert not answer.is_error
    assert structured(answer)["finish_reason"] == "stop"
    assert structured(answer)["content"]
    assert len(fake.requests_to("chat/completions")) == 2
    fake.script("chat/completions", Fault(cut_after=3), Fault(cut_after=3))
    async with target.session() as client:
        broken = await client.call_tool("glm_chat", {"prompt": CUT_PROMPT})
    print(f"[{target.transport}] cut in reasoning twice: {text_of(broken)!r}")
    assert broken.is_error
    assert "still reasoning" in text_of(broken)
    assert "\n" not in text_of(broken)
    assert len(fake.requests_to("chat/completions")) == 4


async def test_stream_cut_before_any_content_is_an_error(fake: FakeGLM, target: Target) -> None:
    fake.script("chat/completions", *[Fault(cut_after=0)] * ATTEMPTS)
    async with target.session() as client:
        answer = await client.call_tool("glm_chat", {"prompt": "nothing arrives"})
    print(
        f"[{target.transport}] cut at 0: {len(fake.requests_to('chat/completions'))} requests: "
        f"{text_of(answer)}"
    )
    assert answer.is_error
    assert "before any content" in text_of(answer) or "no content" in text_of(answer)
    assert len(fake.requests_to("chat/completions")) == ATTEMPTS


# ---------------------------------------------------------------- async jobs that fail


async def test_failed_video_gives_the_upstream_reason(fake: FakeGLM, target: Target) -> None:
    fake.task_plan = TaskPlan(polls=1, outcome="FAIL", fail_message="The video broke the rules.")
    async with target.session() as client:
        answer = await client.call_tool("generate_video", {"prompt": "a forbidden scene", "wait_seconds": 20})
        [task_id] = fake.tasks
        again = await client.call_tool("get_task", {"task_id": task_id})
    print(f"[{target.transport}] video FAIL: {text_of(answer)}")
    assert answer.is_error
    assert "The video broke the rules." in text_of(answer)
    assert again.is_error
    assert "The video broke the rules." in text_of(again)


async def test_unknown_task_id_gives_the_upstream_reason(fake: FakeGLM, target: Target) -> None:
    async with target.session() as client:
        answer = await client.call_tool(
            "get_task", {"task_id": "20990101000000deadbeefdeadbeef", "wait_seconds": 0}
        )
    print(f"[{target.transport}] unknown task: {text_of(answer)}")
    assert answer.is_error
    assert "task id not found" in text_of(answer)
    assert "20990101000000deadbeefdeadbeef" in text_of(answer)


# ---------------------------------------------------------------- client cancellation


SETTLE = 0.3  # for the cancellation notice to reach the server


async def _cancel_when(fake: FakeGLM, started: object, call: object) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(call)  # type: ignore[arg-type]
        with anyio.fail_after(15):
            while not started():  # type: ignore[operator]  # noqa: ASYNC110 - the fake runs in its own thread
                await anyio.sleep(0.02)
        group.cancel_scope.cancel()


async def test_cancel_mid_poll_stops_polling(fake: FakeGLM, target: Target) -> None:
    fake.task_plan = TaskPlan(seconds=120)

    def polls() -> int:
        return sum(r.route.startswith("async-result/") for r in fake.requests)

    async with target.session() as client:

        async def call() -> None:
            await client.call_tool("generate_video", {"prompt": "abandoned", "wait_seconds": 60})

        await _cancel_when(fake, lambda: polls() >= 2, call)
        await anyio.sleep(SETTLE)
        before = polls()
        await anyio.sleep(1.0)
        after = polls()
        again = await client.call_tool("web_search", {"query": "after a cancelled poll"})
    print(
        f"[{target.transport}] cancel mid-poll: {before} polls at cancellation (+{SETTLE} s), "
        f"{after} 1 s later"
    )
    assert after == before
    assert not again.is_error
    assert len(fake.requests_to("videos/generations")) == 1


async def test_cancel_mid_stream_stops_the_stream(fake: FakeGLM, target: Target) -> None:
    fake.chunk_delay = 0.2
    async with target.session() as client:

        async def call() -> None:
            await client.call_tool("glm_chat", {"prompt": "a slow answer of many many words to abandon"})

        await _cancel_when(fake, lambda: len(fake.requests_to("chat/completions")) >= 1, call)
        await anyio.sleep(SETTLE)
        before = len(fake.requests)
        await anyio.sleep(1.0)
        after = len(fake.requests)
        fake.chunk_delay = 0.0
        again = await client.call_tool("glm_chat", {"prompt": "after a cancelled stream"})
    print(f"[{target.transport}] cancel mid-stream: {before} requests at cancellation, {after} 1 s later")
    assert after == before == 1
    assert not again.is_error


async def test_cancel_mid_download_leaves_no_partial_file(fake: FakeGLM, target: Target) -> None:
    fake.task_plan = TaskPlan(polls=0)
    fake.media_size = 8 * 1024 * 1024  # 8 chunks of 1 MiB, 0.3 s apart
    fake.chunk_delay = 0.3

    def downloading() -> bool:
        return any(r.route.startswith("media/video-") for r in fake.requests)

    async with target.session() as client:

        async def call() -> None:
            await client.call_tool("generate_video", {"prompt": "abandoned download", "wait_seconds": 20})

        await _cancel_when(fake, downloading, call)
        [task_id] = fake.tasks
        await anyio.sleep(SETTLE + 0.3)
        left = media_files(target.media_dir, task_id)
        fake.chunk_delay = 0.0
        again = await client.call_tool("web_search", {"query": "after a cancelled download"})
    print(f"[{target.transport}] cancel mid-download: left behind {left}")
    assert left == []
    assert not again.is_error
