"""Resources: the catalogue, jobs, usage totals and saved media, listed with names and MIME types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client
from mcp.types import Resource, ResourceTemplate, TextResourceContents

from tests.conftest import in_process, settings_for
from tests.fake_glm import FakeGLM
from tests.support.stores import open_store

pytestmark = pytest.mark.anyio


async def read_json(client: Client, uri: str) -> Any:
    [contents] = (await client.read_resource(uri)).contents
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "application/json"
    return json.loads(contents.text)


async def test_listed_with_names_descriptions_and_types(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
    assert set(listed) == {"glm://models", "glm://tasks", "glm://usage"}
    assert set(templates) == {"glm://tasks/{task_id}", "glm://media/{name}"}
    entries: list[Resource | ResourceTemplate] = [*listed.values(), *templates.values()]
    for entry in entries:
        assert entry.name
        assert entry.description
        assert entry.mime_type


async def test_models_catalogue(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        models = await read_json(client, "glm://models")
    by_id = {model["id"]: model for model in models}
    assert by_id["glm-4.7-flash"]["free"] is True
    assert by_id["glm-4.7"]["kind"] == "chat"
    assert by_id["glm-4.7"]["context_tokens"] > 100_000
    assert by_id["glm-4.6v"]["kind"] == "vision"
    assert by_id["cogvideox-3"]["kind"] == "video"
    assert {"zai", "bigmodel"} <= set(by_id["glm-4.7"]["platforms"])
    assert by_id["glm-4-long"]["platforms"] == ["bigmodel"]


async def test_usage_totals_follow_the_calls(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        assert await read_json(client, "glm://usage") == []
        chat = await client.call_tool("glm_chat", {"prompt": "count my tokens"})
        await client.call_tool("glm_chat", {"prompt": "again"})
        await client.call_tool("web_search", {"query": "x"})
        await client.call_tool("generate_image", {"prompt": "y"})
        usage = await read_json(client, "glm://usage")
    assert chat.structured_content is not None
    rows = {(row["tool"], row["model"]): row for row in usage}
    assert rows["glm_chat", "glm-5.3"]["calls"] == 2  # the platform's recommended chat model
    assert rows["glm_chat", "glm-5.3"]["unit"] == "tokens"
    assert rows["glm_chat", "glm-5.3"]["units"] > chat.structured_content["usage"]["total_tokens"]
    assert rows["web_search", "search-prime"]["units"] == 1
    assert rows["generate_image", "cogview-4-250304"]["unit"] == "images"


async def test_unknown_task_and_media_are_not_found(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        for uri in ("glm://tasks/nope", "glm://media/nope.png", "glm://media/..%2F..%2Fetc%2Fpasswd"):
            with pytest.raises(Exception, match=r"No (task|media)"):
                await client.read_resource(uri)


async def test_usage_counted_as_the_server_stops_is_kept(fake: FakeGLM) -> None:
    # Counting happens in the background; the last rows are written when the server stops.
    async with in_process(fake) as client:
        for _ in range(3):
            await client.call_tool("glm_chat", {"prompt": "hi"})
    async with await open_store(settings_for(fake)) as store:
        totals = await store.usage_totals()
    assert [(total.tool, total.calls) for total in totals] == [("glm_chat", 3)]


async def test_job_times_are_iso_8601(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        video = await client.call_tool("generate_video", {"prompt": "a slow pan", "wait_seconds": 0})
        assert video.structured_content is not None
        task_id = video.structured_content["task_id"]
        [listed] = await read_json(client, "glm://tasks")
        one = await read_json(client, f"glm://tasks/{task_id}")
    for shown in (listed, one):
        for key in ("created_at", "updated_at"):
            when = datetime.fromisoformat(shown[key])
            assert when.tzinfo is not None
            assert abs((datetime.now(UTC) - when).total_seconds()) < 600
