"""The one registry of tools (tools/registry.py, each module's SPEC) and what follows from it: the listing
(listing.json, rebuilt when the mcp or pydantic version changes), the files generated from it, the
instructions, the descriptions with configured defaults, GLM_TOOLS, and the tools of one platform."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server_glm.errors import ConfigError
from mcp_server_glm.presentation import configured
from mcp_server_glm.server import build_server
from mcp_server_glm.settings import Settings
from mcp_server_glm.tools import artefacts, listing, registry
from mcp_server_glm.tools.spec import PLATFORMS
from tests.conftest import settings_for, text_of
from tests.fake_glm import FakeGLM

pytestmark = pytest.mark.anyio

REGISTERED = listing.load()


def with_test_tool(**changes: Any) -> dict[str, listing.Listed]:
    """The registry's tools and the test's BigModel-only registry_echo (its spec changed by `changes`)."""
    [(name, echo)] = listing.parse(listing.render(["tests.registry_tool"])).items()
    return {**REGISTERED, name: dataclasses.replace(echo, spec=dataclasses.replace(echo.spec, **changes))}


def test_the_listing_holds_the_registry_in_its_order() -> None:
    modules = [listed.spec.module for listed in REGISTERED.values()]
    assert modules == [f"mcp_server_glm.tools.{name}" for name in registry.MODULES]
    assert listing.specs() == [listed.spec for listed in REGISTERED.values()]


def test_every_spec_names_real_settings_platforms_and_arguments() -> None:
    settings = Settings(api_key=None)
    for name, listed in REGISTERED.items():
        spec = listed.spec
        assert spec.name == name == listed.entry.name
        assert set(spec.settings) <= set(Settings.model_fields), name
        assert spec.platforms and set(spec.platforms) <= set(PLATFORMS), name
        assert spec.purpose.startswith(name), name  # the instructions name the tool they describe
        properties = listed.entry.input_schema["properties"]
        assert set(spec.argument_texts) <= set(properties), name
        shown = configured(listed, settings).input_schema["properties"]
        for argument in spec.argument_texts:
            assert "{" not in shown[argument]["description"], (name, argument)


def test_the_generated_files_are_fresh() -> None:
    for path, text in artefacts.rendered().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run `python -m mcp_server_glm.tools.listing`"
        )


def stamped(tmp_path: Path, made_with: dict[str, str]) -> Path:
    saved = tmp_path / "package" / "listing.json"
    saved.parent.mkdir()
    shutil.copyfile(listing.LISTING, saved)
    data = json.loads(saved.read_text(encoding="utf-8"))
    saved.write_text(json.dumps({**data, "made_with": made_with}), encoding="utf-8")
    return saved


@pytest.mark.parametrize("package", ["mcp", "pydantic"])
def test_a_listing_made_with_other_versions_is_rebuilt_and_saved(tmp_path: Path, package: str) -> None:
    saved = stamped(tmp_path, {**listing.versions(), package: "0.0.1"})
    assert listing.load(saved) == REGISTERED
    assert saved.read_text(encoding="utf-8") == listing.render()
    assert [path.name for path in saved.parent.iterdir()] == ["listing.json"]  # no temporary file left


def test_a_missing_listing_is_rebuilt(tmp_path: Path) -> None:
    saved = tmp_path / "listing.json"
    assert listing.load(saved) == REGISTERED
    assert saved.read_text(encoding="utf-8") == listing.render()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes a read-only directory")
def test_a_rebuilt_listing_that_cannot_be_saved_still_serves(tmp_path: Path) -> None:
    saved = stamped(tmp_path, {"mcp": "0.0.1", "pydantic": "0.0.1"})
    before = saved.read_text(encoding="utf-8")
    saved.parent.chmod(0o555)
    try:
        assert listing.load(saved) == REGISTERED
    finally:
        saved.parent.chmod(0o755)
    assert saved.read_text(encoding="utf-8") == before
    assert [path.name for path in saved.parent.iterdir()] == ["listing.json"]


def test_instructions_and_glm_tools_follow_the_specs() -> None:
    every = list(REGISTERED)
    for platform in PLATFORMS:
        server = build_server(Settings(api_key=None, tools=every, platform=platform))  # type: ignore[arg-type]
        assert server.instructions is not None
        for listed in REGISTERED.values():  # a tool of the other platform only is not served here
            assert (listed.spec.purpose in server.instructions) == (platform in listed.spec.platforms)
        assert "never submit the same job again" in server.instructions
    jobs = [name for name, listed in REGISTERED.items() if listed.spec.job]
    assert jobs
    without = build_server(Settings(api_key=None, tools=jobs))
    assert without.instructions is not None
    assert "never submit the same job again" not in without.instructions  # no get_task to follow them
    with pytest.raises(ConfigError) as caught:
        build_server(Settings(api_key=None, tools=["glm_chat", "nope"]))
    assert str(caught.value) == f"unknown tools in GLM_TOOLS / --tools: nope; valid: {', '.join(every)}"


async def test_a_tool_of_another_platform_is_not_listed_and_says_where_it_is(fake: FakeGLM) -> None:
    server = build_server(settings_for(fake), with_test_tool())  # the fake is Z.AI
    assert server.instructions is not None
    assert "registry_echo" not in server.instructions
    async with Client(server) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        answer = await client.call_tool("registry_echo", {"text": "hi"})
        still = await client.call_tool("glm_chat", {"prompt": "still serving?"})
    assert names == listing.defaults(REGISTERED, "zai")
    assert answer.is_error
    assert text_of(answer) == (
        "registry_echo is a tool of BigModel only and this server is set up for Z.AI: "
        "start it with GLM_PLATFORM=bigmodel and a key of that platform to use registry_echo."
    )
    assert not still.is_error


async def test_a_tool_of_this_platform_is_listed_with_its_configured_texts(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    server = build_server(settings_for(fake, asr_model="glm-asr"), with_test_tool())
    assert server.instructions is not None
    assert "registry_echo says a text back" in server.instructions
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        answer = await client.call_tool("registry_echo", {"text": "hi"})
    assert list(tools) == [*listing.defaults(REGISTERED, "bigmodel"), "registry_echo"]
    voice = tools["registry_echo"].input_schema["properties"]["voice"]["description"]
    assert voice == "Default glm-asr on bigmodel."
    assert text_of(answer) == "hi (default voice)"


async def test_an_opt_in_tool_is_listed_only_when_glm_tools_names_it(fake: FakeGLM) -> None:
    fake.platform = "bigmodel"
    tools = with_test_tool(default=False)
    async with Client(build_server(settings_for(fake), tools)) as client:
        unnamed = [tool.name for tool in (await client.list_tools()).tools]
    async with Client(build_server(settings_for(fake, tools=["registry_echo"]), tools)) as client:
        named = [tool.name for tool in (await client.list_tools()).tools]
    assert "registry_echo" not in unnamed
    assert named == ["registry_echo"]


def test_the_sdk_finds_a_listed_tools_schema_before_its_first_call() -> None:
    # What the Streamable HTTP transport checks Mcp-Param-* headers against (GLMServer._tool_input_schema).
    server = build_server(Settings(api_key=None))
    lookup = server._lowlevel_server.get_tool_input_schema
    assert lookup is not None
    assert lookup("glm_chat") == REGISTERED["glm_chat"].entry.input_schema
    assert lookup("no_such_tool") is None
