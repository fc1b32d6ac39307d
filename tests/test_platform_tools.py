"""The opt-in platform tools in process: translate (the agent, and a chat only where the route is refused),
embed (vectors to a file, never into the result), rerank and count_tokens; their local refusals naming the
limit, the wire bodies, the upstream failures and the usage they count."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import BlobResourceContents, CallToolResult, ResourceLink, TextResourceContents

from mcp_server_glm.tools import listing
from tests.conftest import in_process, text_of
from tests.fake_glm import FakeGLM, Fault

pytestmark = pytest.mark.anyio

OPT_IN = ["translate", "embed", "rerank", "count_tokens"]
NAMED = ["glm_chat", *OPT_IN]


async def call(fake: FakeGLM, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async with in_process(fake, tools=NAMED) as client:
        return await client.call_tool(tool, arguments)


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


def refused(result: CallToolResult, *words: str) -> str:
    """The one line of a refusal, which names each of `words`."""
    assert result.is_error
    line = text_of(result)
    assert "\n" not in line
    for word in words:
        assert word in line, line
    return line


async def read_json(client: Client, uri: str) -> Any:
    [contents] = (await client.read_resource(uri)).contents
    assert isinstance(contents, TextResourceContents)
    return json.loads(contents.text)


# ---------------------------------------------------------------- listing


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_opt_in_tools_are_listed_only_when_named(fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    registered = listing.load()
    assert [name for name, listed in registered.items() if not listed.spec.default] == OPT_IN
    async with in_process(fake) as client:
        default = {tool.name for tool in (await client.list_tools()).tools}
    assert default and not default & set(OPT_IN)
    async with in_process(fake, tools=NAMED) as client:
        named = [tool.name for tool in (await client.list_tools()).tools]
        if platform == "zai":
            elsewhere = await client.call_tool("embed", {"texts": ["x"]})
    here = ["translate", "count_tokens"] + (["embed", "rerank"] if platform == "bigmodel" else [])
    assert sorted(named) == sorted(["glm_chat", *here])
    if platform == "zai":
        refused(elsewhere, "embed is a tool of BigModel only", "GLM_PLATFORM=bigmodel")
        assert fake.requests == []


# ---------------------------------------------------------------- translate


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_translate_with_the_agent(fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    result = await call(
        fake,
        "translate",
        {"text": "hello world", "target": "ja", "source": "en", "glossary": "g-1", "strategy": "two_step"},
    )
    done = data(result)
    assert done == {
        "text": "[en->ja/two_step] hello world",
        "via": "agent",
        "model": "general_translation",
        "source": "en",
        "target": "ja",
    }
    assert "(via agent general_translation)" in text_of(result)
    [sent] = fake.requests_to("v1/agents")
    assert sent.json == {
        "agent_id": "general_translation",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
        "custom_variables": {
            "source_lang": "en",
            "target_lang": "ja",
            "glossary": "g-1",
            "strategy": "two_step",
        },
    }
    assert fake.requests_to("chat/completions") == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=404, code="1222"),
        Fault(status=404),
        Fault(status=400, code="1221"),
        Fault(status=403, code="1220"),
    ],
)
async def test_translate_falls_back_to_chat_only_when_the_route_is_refused(
    fake: FakeGLM, fault: Fault
) -> None:
    fake.script("v1/agents", fault)
    result = await call(fake, "translate", {"text": "bonjour", "target": "en", "glossary": "g-1"})
    done = data(result)
    assert done["via"] == "chat"
    assert done["model"] == "glm-5.3"  # glm_chat's model: the platform's recommended one
    assert done["text"]
    assert f"HTTP {fault.status}" in done["note"] and "without the agent's glossary" in done["note"]
    assert "(via chat model glm-5.3)" in text_of(result)
    [chat] = fake.requests_to("chat/completions")
    system, user = chat.json["messages"]
    assert system["role"] == "system" and "coded en" in system["content"]
    assert user == {"role": "user", "content": "bonjour"}
    assert len(fake.requests_to("v1/agents")) == 1


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault(status=401, code="1000"), "HTTP 401"),
        (Fault(status=429, code="1113"), "code 1113"),
        (Fault(status=400, code="1210"), "code 1210"),
        (Fault(status=500), "HTTP 500"),
        (Fault(status=429, code="1302"), "code 1302"),
    ],
)
async def test_translate_does_not_fall_back_on_a_real_error(fake: FakeGLM, fault: Fault, words: str) -> None:
    fake.script("v1/agents", fault, fault, fault, fault, fault)
    result = await call(fake, "translate", {"text": "bonjour", "target": "en"})
    refused(result, words)
    assert fake.requests_to("chat/completions") == []


async def test_translate_refusals_name_the_codes(fake: FakeGLM) -> None:
    refused(await call(fake, "translate", {"text": "x", "target": "english"}), "'english'", "en-GB", "zh-CN")
    refused(await call(fake, "translate", {"text": "x", "target": "en", "source": "en-US"}), "source 'en-US'")
    refused(await call(fake, "translate", {"text": "   ", "target": "en"}), "blank")
    refused(await call(fake, "translate", {"text": "x", "target": "en", "strategy": "cot"}))
    assert fake.requests == []


# ---------------------------------------------------------------- embed


async def test_embed_writes_the_vectors_to_a_file_not_the_result(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    texts = ["first text " * 20, "second"]
    async with in_process(fake, tools=NAMED) as client:
        result = await client.call_tool("embed", {"texts": texts, "dimensions": 256})
        done = data(result)
        [contents] = (await client.read_resource(done["uri"])).contents
    [sent] = fake.requests_to("embeddings")
    assert sent.json == {"model": "embedding-3", "input": texts, "dimensions": 256}
    assert (done["model"], done["count"], done["dimensions"]) == ("embedding-3", 2, 256)
    path = Path(done["path"])
    assert path.parent == tmp_path / "data" / "media" and path.suffix == ".jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["index"] for line in lines] == [0, 1]
    assert lines[0]["text"] == texts[0][:80] and lines[1]["text"] == "second"
    assert all(len(line["embedding"]) == 256 for line in lines)
    assert done["first"] == lines[0]["embedding"][:5]
    link = result.content[1]
    assert isinstance(link, ResourceLink) and str(link.uri) == done["uri"]
    assert isinstance(contents, BlobResourceContents)  # media is served as it was saved, as bytes
    assert base64.b64decode(contents.blob) == path.read_bytes()
    assert contents.mime_type == "application/jsonl"
    shown = json.dumps(result.model_dump(mode="json", exclude={"meta"}))  # the result, not serverInfo
    assert str(lines[1]["embedding"][0]) not in shown  # no vector beyond the glimpse is in the result
    assert len(shown) < 2000


async def test_embedding_2_takes_its_one_size_unsent(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    done = data(await call(fake, "embed", {"texts": ["a"], "model": "embedding-2", "dimensions": 1024}))
    assert done["dimensions"] == 1024
    [sent] = fake.requests_to("embeddings")
    assert sent.json == {"model": "embedding-2", "input": ["a"]}


async def test_embed_refusals_name_the_limit(fake: FakeGLM, tmp_path: Path) -> None:
    fake.platform = "bigmodel"
    refused(await call(fake, "embed", {"texts": ["x"] * 65}), "65 texts", "at most 64")
    refused(await call(fake, "embed", {"texts": ["x", " "]}), "texts[1] is blank")
    refused(await call(fake, "embed", {"texts": ["x"], "model": "rerank"}), "embedding-3 or embedding-2")
    refused(await call(fake, "embed", {"texts": ["x"], "dimensions": 300}), "2048, 1024, 512, 256", "300")
    refused(await call(fake, "embed", {"texts": ["x"], "model": "embedding-2", "dimensions": 512}), "1024")
    assert fake.requests == []
    refused(await call(fake, "embed", {"texts": ["word " * 3100]}), "code 1210", "3072 tokens")  # upstream
    fake.script("embeddings", Fault(status=500))
    refused(await call(fake, "embed", {"texts": ["x"]}), "HTTP 500")
    assert len(fake.requests_to("embeddings")) == 2  # the long text's and this one: paid, never re-sent
    assert not (tmp_path / "data" / "media").exists() or not list((tmp_path / "data" / "media").iterdir())


# ---------------------------------------------------------------- rerank


async def test_rerank_best_first_with_documents(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    documents = ["cats purr", "the stock market", "cats and dogs purr loudly"]
    result = await call(
        fake,
        "rerank",
        {"query": "why do cats purr", "documents": documents, "top_n": 2, "return_documents": True},
    )
    done = data(result)
    [sent] = fake.requests_to("rerank")
    assert sent.json == {
        "model": "rerank",
        "query": "why do cats purr",
        "documents": documents,
        "top_n": 2,
        "return_documents": True,
    }
    ranked = done["results"]
    assert len(ranked) == 2 and {item["index"] for item in ranked} == {0, 2}
    assert ranked[0]["score"] >= ranked[1]["score"]
    assert all(item["document"] == documents[item["index"]] for item in ranked)
    assert text_of(result).startswith("2 of 3 documents by relevance (rerank):")
    plain = data(await call(fake, "rerank", {"query": "cats", "documents": documents}))
    assert len(plain["results"]) == 3 and all("document" not in item for item in plain["results"])
    scores = [item["score"] for item in plain["results"]]
    assert scores == sorted(scores, reverse=True)


async def test_rerank_refusals_name_the_limit(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    refused(
        await call(fake, "rerank", {"query": "q", "documents": ["d"] * 129}), "129 documents", "at most 128"
    )
    refused(
        await call(fake, "rerank", {"query": "q", "documents": ["d", "x" * 4097]}), "documents[1]", "4096"
    )
    refused(await call(fake, "rerank", {"query": "q" * 4097, "documents": ["d"]}), "4097 characters", "4096")
    assert fake.requests == []
    fake.script("rerank", Fault(status=429, code="1113"))
    refused(await call(fake, "rerank", {"query": "q", "documents": ["d"]}), "code 1113")


# ---------------------------------------------------------------- count_tokens


@pytest.mark.parametrize("platform", ["zai", "bigmodel"])
async def test_count_tokens_of_text_images_and_videos(fake: FakeGLM, platform: str) -> None:
    fake.platform = platform
    text = data(await call(fake, "count_tokens", {"prompt": "how many tokens", "system": "be brief"}))
    assert text["model"] == "glm-4.6"
    assert (text["image_tokens"], text["video_tokens"]) == (0, 0)
    assert text["total_tokens"] == text["prompt_tokens"] > 0
    media = data(
        await call(
            fake,
            "count_tokens",
            {
                "prompt": "what is this",
                "images": ["https://i.example/a.png"],
                "videos": ["https://v.example/b.mp4"],
            },
        )
    )
    assert media["model"] == "glm-4.6v"
    assert (media["image_tokens"], media["video_tokens"]) == (1024, 4096)
    first, second = fake.requests_to("tokenizer")
    assert first.json["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "how many tokens"},
    ]
    assert second.json["messages"][0]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "https://i.example/a.png"}},
        {"type": "video_url", "video_url": {"url": "https://v.example/b.mp4"}},
    ]


async def test_count_tokens_refusals_name_the_models_and_limits(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    refused(await call(fake, "count_tokens", {"prompt": "x", "model": "glm-4.5"}), "glm-4.6, glm-4.6v")
    refused(await call(fake, "count_tokens", {"prompt": "x", "model": "glm-5.3"}), "does not count 'glm-5.3'")
    refused(
        await call(fake, "count_tokens", {"prompt": "x", "model": "glm-4.6", "images": ["https://i/a.png"]}),
        "cannot see images",
    )
    refused(await call(fake, "count_tokens", {"prompt": "x", "videos": ["https://v/a.mp4"] * 3}), "at most 2")
    refused(await call(fake, "count_tokens", {"prompt": "x", "images": ["/tmp/a.png"]}), "not an http(s) URL")
    assert fake.requests == []
    fake.platform = "zai"
    assert data(await call(fake, "count_tokens", {"prompt": "x", "model": "glm-4.5"}))["model"] == "glm-4.5"


# ---------------------------------------------------------------- usage


async def test_each_tool_counts_its_usage(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    async with in_process(fake, tools=NAMED) as client:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("translate", {"text": "hello", "target": "fr"}),
            ("embed", {"texts": ["a", "b"]}),
            ("rerank", {"query": "q", "documents": ["q d", "e"]}),
            ("count_tokens", {"prompt": "x"}),
        ]
        for tool, arguments in calls:
            data(await client.call_tool(tool, arguments))
        usage = await read_json(client, "glm://usage")
    rows = {(row["tool"], row["model"]): row for row in usage}
    assert set(rows) == {
        ("translate", "general_translation"),
        ("embed", "embedding-3"),
        ("rerank", "rerank"),
        ("count_tokens", "glm-4.6"),
    }
    assert all(row["calls"] == 1 for row in rows.values())
    assert rows["embed", "embedding-3"]["unit"] == "tokens" and rows["embed", "embedding-3"]["units"] == 2
    assert rows["translate", "general_translation"]["units"] > 0
    assert rows["count_tokens", "glm-4.6"]["unit"] == "counts"
