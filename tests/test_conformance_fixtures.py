"""The conformance fixtures (tests/conformance_server.py): never in the shipped server, working on both
eras in-process, and the baseline check `.ci/conformance` relies on. The suite itself runs in
`.ci/conformance` (it needs Node and the npm registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestParams,
    ElicitResult,
    EmbeddedResource,
    ImageContent,
    PromptReference,
    TextContent,
    TextResourceContents,
)

from mcp_server_glm.server import build_server
from mcp_server_glm.tools import listing
from tests.conformance_server import (
    build_conformance_server,
    conformance_settings,
    read_baseline,
    report,
)

ROOT = Path(__file__).parent
ERAS = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def _names(server: Any) -> set[str]:
    """Every tool, prompt, resource and template the server lists, plus the handshake-era methods."""
    names = {tool.name for tool in await server.list_tools()}
    names |= {prompt.name for prompt in await server.list_prompts()}
    names |= {str(resource.uri) for resource in await server.list_resources()}
    names |= {template.uri_template for template in await server.list_resource_templates()}
    lowlevel = server._lowlevel_server
    methods = ("logging/setLevel", "resources/subscribe", "resources/unsubscribe", "completion/complete")
    return names | {method for method in methods if lowlevel.get_request_handler(method) is not None}


@pytest.mark.anyio
async def test_the_shipped_server_has_none_of_the_fixtures(tmp_path: Path) -> None:
    settings = conformance_settings(8000, tmp_path)
    shipped = await _names(build_server(settings))
    fixtures = await _names(build_conformance_server(settings)) - shipped

    assert not [name for name in shipped if name.startswith(("test_", "test://", "json_schema_"))]
    assert {
        "test_simple_text",
        "test://static-text",
        "test://template/{id}/data",
        "test_simple_prompt",
    } <= fixtures
    assert "logging/setLevel" in fixtures
    # Completion and subscriptions are the shipped server's own (served for real).
    assert {"completion/complete", "resources/subscribe", "resources/unsubscribe"} <= shipped
    # The real tools are all still there.
    assert set(listing.defaults(listing.load(), settings.platform)) <= shipped


async def _elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(
        action="accept", content={"name": "Ada", "color": "green", "context": "tests", "ok": True}
    )


async def _sample(context: ClientRequestContext, params: CreateMessageRequestParams) -> CreateMessageResult:
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text="Paris"), model="m")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_fixtures_answer_on_both_eras(tmp_path: Path, mode: str) -> None:
    server = build_conformance_server(conformance_settings(8000, tmp_path))
    async with Client(server, mode=mode, elicitation_callback=_elicit) as client:
        text = await client.call_tool("test_simple_text", {})
        mixed = await client.call_tool("test_multiple_content_types", {})
        error = await client.call_tool("test_error_handling", {})
        data = await client.read_resource("test://template/42/data")
        prompt = await client.get_prompt("test_prompt_with_embedded_resource", {"resourceUri": "test://x"})
        completion = await client.complete(
            PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
            {"name": "arg1", "value": "par"},
        )

    assert text.content == [TextContent(type="text", text="This is a simple text response for testing.")]
    assert [type(block) for block in mixed.content] == [TextContent, ImageContent, EmbeddedResource]
    assert error.is_error
    [message] = error.content
    assert isinstance(message, TextContent)
    assert message.text.endswith("This tool intentionally returns an error for testing")
    [contents] = data.contents
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "application/json"
    assert json.loads(contents.text) == {"id": "42", "templateTest": True, "data": "Data for ID: 42"}
    first = prompt.messages[0].content
    assert isinstance(first, EmbeddedResource)
    assert str(first.resource.uri) == "test://x"
    # The shipped handler: a listed prompt whose argument it does not complete gets no values.
    assert completion.completion.values == []


@pytest.mark.anyio
async def test_input_required_fixtures_run_their_rounds(tmp_path: Path) -> None:
    server = build_conformance_server(conformance_settings(8000, tmp_path))
    async with Client(server, elicitation_callback=_elicit, sampling_callback=_sample) as client:
        assert client.protocol_version == "2026-07-28"
        hello = await client.call_tool("test_input_required_result_elicitation", {})
        rounds = await client.call_tool("test_input_required_result_multi_round", {})
        state = await client.call_tool("test_input_required_result_request_state", {})
        sampled = await client.call_tool("test_input_required_result_sampling", {})
        prompt = await client.get_prompt("test_input_required_result_prompt")

    assert hello.content == [TextContent(type="text", text="Hello, Ada!")]
    assert rounds.content == [TextContent(type="text", text="Ada likes green")]
    assert isinstance(state.content[0], TextContent)
    assert state.content[0].text.startswith("state-ok")
    assert sampled.content == [TextContent(type="text", text="The model answered: Paris")]
    assert prompt.messages


@pytest.mark.anyio
async def test_missing_capability_is_a_32021_error(tmp_path: Path) -> None:
    server = build_conformance_server(conformance_settings(8000, tmp_path))
    async with Client(server) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("test_missing_capability", {})
    assert raised.value.error.code == -32021


def _results(root: Path, outcomes: dict[str, list[str]]) -> Path:
    """A results directory as the suite writes it: scenario -> statuses of its checks."""
    for scenario, statuses in outcomes.items():
        folder = root / f"server-{scenario}-2026-11-22T20-01-02-345Z"
        folder.mkdir(parents=True)
        checks = [{"id": f"{scenario}-{i}", "status": status} for i, status in enumerate(statuses)]
        (folder / "checks.json").write_text(json.dumps(checks))
    return root


def test_the_baselines_list_only_what_cannot_pass() -> None:
    assert read_baseline(ROOT / "conformance-baseline.yml") == set()
    listed = read_baseline(ROOT / "conformance-baseline-2026-07-28.yml")
    assert listed
    assert all(name.startswith("tasks-") for name in listed)


def test_report_passes_only_an_exact_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.yml"
    baseline.write_text("# why\nserver:\n  - tasks-x  # the SDK lacks it\n")
    results = _results(tmp_path / "ok", {"a": ["SUCCESS", "INFO"], "tasks-x": ["SUCCESS", "FAILURE"]})
    assert report("era", results, baseline) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("conformance (era): 1 of 2 scenarios pass")

    unexpected = _results(tmp_path / "warn", {"a": ["WARNING"], "tasks-x": ["FAILURE"]})
    assert report("era", unexpected, baseline) == 1
    stale = _results(tmp_path / "stale", {"a": ["SUCCESS"], "tasks-x": ["SUCCESS"]})
    assert report("era", stale, baseline) == 1
    not_run = _results(tmp_path / "not-run", {"a": ["SUCCESS"]})
    assert report("era", not_run, baseline) == 1
    assert "STALE baseline entry tasks-x: did not run" in capsys.readouterr().out


def test_a_baseline_entry_must_be_a_whole_scenario(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.yml"
    baseline.write_text("server:\n  - tasks-x:some-check\n")
    with pytest.raises(ValueError, match="not a scenario name"):
        read_baseline(baseline)
