"""What the server says of itself (icon, description, website) on initialize and server/discover, the
instructions' tasks clause, and the cache hints of the 2026-07-28 era, in process."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.client import advertise
from PIL import Image

from mcp_server_glm import icon, presentation
from mcp_server_glm.server import build_server
from mcp_server_glm.tools import listing
from tests.conftest import in_process, settings_for
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]
HOUR_MS = 3_600_000


@pytest.mark.parametrize("mode", ERAS)
async def test_the_server_names_its_icon_description_and_website(fake: FakeGLM, mode: str) -> None:
    async with in_process(fake, mode=mode) as client:
        info = client.server_info
        # Every 2026-07-28 result carries the same serverInfo; a legacy one none.
        listed = await client.list_tools()
    assert info is not None
    assert info.name == "mcp-server-glm"
    assert info.title == "GLM"
    assert info.description == presentation.DESCRIPTION
    assert info.website_url == "https://github.com/mcp-server-glm/mcp-server-glm"
    [shown] = info.icons or []
    assert shown.mime_type == "image/png"
    assert shown.sizes == ["48x48"]
    assert shown.src == icon.PNG_DATA_URI
    stamp = (listed.meta or {}).get("io.modelcontextprotocol/serverInfo")
    assert (stamp is not None) == (mode == "auto")


def test_the_icon_is_a_small_png_of_its_stated_size() -> None:
    prefix, _, data = icon.PNG_DATA_URI.partition(",")
    assert prefix == "data:image/png;base64"
    png = base64.b64decode(data, validate=True)
    assert len(icon.PNG_DATA_URI) < 1024  # it travels in every 2026-07-28 result
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert f"{image.width}x{image.height}" == icon.SIZES


def test_no_tool_declares_an_icon() -> None:
    # Icons go on the server only: one per tool would cost every client's tools/list ~830 bytes each.
    assert all(listed.entry.icons is None for listed in listing.load().values())


async def test_cache_hints_on_2026_07_28(fake: FakeGLM) -> None:
    async with in_process(fake) as client:
        assert client.protocol_version == "2026-07-28"
        tools = await client.list_tools()
        prompts = await client.list_prompts()
        templates = await client.list_resource_templates()
        catalogue = await client.read_resource("glm://models")
        tasks = await client.read_resource("glm://tasks")
        usage = await client.read_resource("glm://usage")
        resources = await client.list_resources()
    for result in (tools, prompts, templates, catalogue):
        assert (result.ttl_ms, result.cache_scope) == (HOUR_MS, "public")
    for private in (tasks, usage, resources):
        assert (private.ttl_ms, private.cache_scope) == (0, "private")


def test_instructions_mention_tasks_only_when_the_client_can_use_them() -> None:
    specs = [listed.spec for listed in listing.load().values()]
    without = presentation.instructions(specs)
    with_tasks = presentation.instructions(specs, tasks=True)
    assert presentation.JOB_WORKFLOW in without
    assert "tasks/get" not in without
    assert with_tasks == f"{without} {presentation.TASKS_WORKFLOW}"
    # Without a job tool and get_task there is no job to follow either way.
    chat_only = [spec for spec in specs if spec.name == "glm_chat"]
    assert presentation.instructions(chat_only, tasks=True) == presentation.instructions(chat_only)


def test_icon_py_is_what_make_icon_writes() -> None:
    path = Path(__file__).resolve().parent.parent / "scripts" / "make_icon.py"
    spec = importlib.util.spec_from_file_location("make_icon", path)
    assert spec is not None
    assert spec.loader is not None
    make_icon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icon)
    assert make_icon.MODULE.read_text(encoding="utf-8") == make_icon.module(make_icon.small_png())


def test_the_description_is_server_jsons() -> None:
    published = json.loads((Path(__file__).resolve().parent.parent / "server.json").read_text())
    assert published["description"] == presentation.DESCRIPTION
    assert published["name"].startswith("io.github.mcp-server-glm/")  # where WEBSITE_URL comes from


@pytest.mark.parametrize("served", [True, False])
@pytest.mark.parametrize("declared", [True, False])
async def test_discover_gives_the_tasks_clause_only_to_a_client_that_can_use_tasks(
    fake: FakeGLM, served: bool, declared: bool
) -> None:
    built = build_server(settings_for(fake, tasks=served))  # GLM_TASKS: the extension served or not
    extensions = [advertise(presentation.TASKS_EXTENSION)] if declared else []
    async with Client(built, extensions=extensions) as client:
        assert client.protocol_version == "2026-07-28"
        given = client.instructions
    async with Client(built, mode="legacy", extensions=extensions) as client:
        legacy = client.instructions
    assert given is not None
    assert (presentation.TASKS_WORKFLOW in given) == (served and declared)
    assert presentation.JOB_WORKFLOW in given
    assert legacy == built.instructions  # the handshake era has no tasks
    assert presentation.TASKS_WORKFLOW not in (legacy or "")
