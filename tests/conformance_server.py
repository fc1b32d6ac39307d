"""Test-only entry point for the MCP conformance suite, driven by `.ci/conformance`.

`python tests/conformance_server.py PORT` builds the real server with `build_server`, adds the
fixtures the `@modelcontextprotocol/conformance` server scenarios call by fixed names (tools
`test_*`, resources `test://...`, prompts `test_*` and `logging/setLevel`; the server's own
completion and `resources/subscribe`/`unsubscribe` serve those scenarios), and serves it
through the project's own HTTP stack
(`mcp_server_glm.transports.serve`: Host/Origin checks, body cap, /healthz, uvicorn) at
http://127.0.0.1:PORT/mcp, on both protocol eras at once.

`python tests/conformance_server.py report ERA RESULTS_DIR BASELINE` reads the suite's results
(`-o RESULTS_DIR`) and checks them against the baseline: every scenario that ran must pass unless
the baseline lists it, and every listed scenario must have run and failed. This holds for the
scenarios a requirement set runs but does not score, too (the suite itself ignores those).

The fixtures live only here: the shipped server never has them (`tests/test_conformance_fixtures.py`
checks both). They answer with the texts the scenario descriptions give. Where a scenario names no
fixture, the shipped server answers: completion-complete is served by its own completion handler (it
completes the fixture prompt's `arg1` with no values, which the scenario accepts), and prompts-list
and the cache hints list its own prompts beside the fixtures.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer, Resolve, Sample, UserMessage
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import (
    AudioContent,
    ClientCapabilities,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    InputResponse,
    ListRootsRequest,
    ListRootsResult,
    SamplingMessage,
    SetLevelRequestParams,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from mcp_types import INTERNAL_ERROR
from pydantic import Field

from mcp_server_glm.server import GLMServer, build_server
from mcp_server_glm.settings import Settings
from mcp_server_glm.tasks import tasks_of
from mcp_server_glm.tools.spec import ToolSpec
from mcp_server_glm.transports import serve

log = logging.getLogger("conformance_server")

# A 1x1 PNG and a WAV header with two bytes of silence.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
WAV_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

# Environment variables that would change the server under test (API key, tools, hosts, token...).
ENV_PREFIXES = ("GLM_", "ZAI_", "ZHIPUAI_")

# json-schema-2020-12 (SEP-1613, SEP-2106): the tool's input schema must reach the client unchanged.
SCHEMA_2020_12_TOOL = "json_schema_2020_12_tool"
SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}

ResponseT = TypeVar("ResponseT", bound=InputResponse)


def conformance_settings(port: int, data_dir: Path) -> Settings:
    """Streamable HTTP on loopback, no API key (no fixture reaches the GLM API), a throwaway data dir."""
    return Settings(
        transport="streamable-http",
        host="127.0.0.1",
        port=port,
        api_key=None,
        data_dir=data_dir,
        allowed_dirs=[data_dir],
        log_level="WARNING",
    )


def build_conformance_server(settings: Settings) -> GLMServer:
    """The real server, as `build_server` makes it, plus the conformance fixtures."""
    server = build_server(settings)
    add_fixtures(server)
    return server


def add_fixtures(server: MCPServer[Any]) -> None:
    _add_content_tools(server)
    _add_client_request_tools(server)
    _add_input_required_tools(server)
    _add_task_tools(server)
    _add_resources(server)
    _add_prompts(server)
    _add_handlers(server)


def _add_content_tools(server: MCPServer[Any]) -> None:
    @server.tool(description="Returns a fixed text (conformance: tools-call-simple-text).")
    def test_simple_text() -> str:
        return "This is a simple text response for testing."

    @server.tool(description="Returns a 1x1 PNG (conformance: tools-call-image).")
    def test_image_content() -> list[ImageContent]:
        return [ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")]

    @server.tool(description="Returns a short WAV (conformance: tools-call-audio).")
    def test_audio_content() -> list[AudioContent]:
        return [AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")]

    @server.tool(description="Returns an embedded text resource (conformance: tools-call-embedded-resource).")
    def test_embedded_resource() -> list[EmbeddedResource]:
        return [_embedded("test://embedded-resource", "text/plain", "This is an embedded resource content.")]

    @server.tool(description="Returns text, an image and a resource (conformance: tools-call-mixed-content).")
    def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
        return [
            TextContent(type="text", text="Multiple content types test:"),
            ImageContent(type="image", data=PNG_BASE64, mime_type="image/png"),
            _embedded(
                "test://mixed-content-resource",
                "application/json",
                json.dumps({"test": "data", "value": 123}),
            ),
        ]

    @server.tool(
        description="Sends three info log messages 50 ms apart (conformance: tools-call-with-logging)."
    )
    async def test_tool_with_logging(ctx: Context) -> str:
        for step, message in enumerate(
            ["Tool execution started", "Tool processing data", "Tool execution completed"]
        ):
            if step:
                await anyio.sleep(0.05)
            await ctx.info(message)
        return "Tool with logging executed successfully"

    @server.tool(description="Always fails (conformance: tools-call-error).")
    def test_error_handling() -> str:
        raise ToolError("This tool intentionally returns an error for testing")

    @server.tool(description="Reports progress 0, 50 and 100 of 100 (conformance: tools-call-with-progress).")
    async def test_tool_with_progress(ctx: Context) -> str:
        for progress in (0, 50, 100):
            if progress:
                await anyio.sleep(0.05)
            await ctx.report_progress(progress, total=100, message=f"Completed step {progress} of 100")
        return "Tool with progress executed successfully"

    @server.tool(description="Echoes a parameter mirrored in an Mcp-Param header (conformance: SEP-2243).")
    def test_x_mcp_header(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        return f"Region: {region}"

    @server.tool(name=SCHEMA_2020_12_TOOL, description="Tool with JSON Schema 2020-12 features")
    def schema_2020_12(
        name: str | None = None,
        address: dict[str, str] | None = None,
        contactMethod: str | None = None,
        phone: str | None = None,
        email: str | None = None,
    ) -> str:
        return f"Received {name} by {contactMethod}"

    # The input schema as the scenario gives it, kept verbatim ($schema, $defs, composition, conditionals).
    tool = server._tool_manager.get_tool(SCHEMA_2020_12_TOOL)
    assert tool is not None
    tool.parameters = SCHEMA_2020_12

    @server.tool(description="Emits tools/list_changed (conformance: server-stateless).")
    async def test_trigger_tool_change(ctx: Context) -> str:
        await ctx.notify_tools_changed()
        return "tools/list_changed published"

    @server.tool(description="Emits prompts/list_changed (conformance: server-stateless).")
    async def test_trigger_prompt_change(ctx: Context) -> str:
        await ctx.notify_prompts_changed()
        return "prompts/list_changed published"


def _add_client_request_tools(server: MCPServer[Any]) -> None:
    """Tools that ask the client mid-call (handshake era: real server-to-client requests)."""

    @server.tool(
        description="Asks the client's LLM via sampling/createMessage (conformance: tools-call-sampling)."
    )
    async def test_sampling(prompt: str, ctx: Context) -> str:
        # related_request_id puts the request on this call's own SSE stream; without it, it goes to
        # the session's GET stream, which the client may not have opened yet (then it is lost).
        result = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
            max_tokens=100,
            related_request_id=ctx.request_id,
        )
        text = result.content.text if isinstance(result.content, TextContent) else "No response"
        return f"LLM response: {text}"

    @server.tool(description="Asks the user via elicitation/create (conformance: tools-call-elicitation).")
    async def test_elicitation(message: str, ctx: Context) -> str:
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
        return f"User response: action={result.action}, content={json.dumps(result.content or {})}"

    @server.tool(description="Elicits with defaults for every primitive type (conformance: SEP-1034).")
    async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
        }
        result = await ctx.session.elicit_form(
            "Please provide user information", schema, related_request_id=ctx.request_id
        )
        return f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"

    @server.tool(description="Elicits with the five enum schema shapes (conformance: SEP-1330).")
    async def test_elicitation_sep1330_enums(ctx: Context) -> str:
        schema = {
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Simple enum without titles",
                    "enum": ["option1", "option2", "option3"],
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Enum with titled options (oneOf)",
                    "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"},
                    ],
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Legacy enum with enumNames",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Multi-select without titles",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Multi-select with titled options",
                    "items": {
                        "anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"},
                        ]
                    },
                },
            },
        }
        result = await ctx.session.elicit_form(
            "Please select values using different enum schema types",
            schema,
            related_request_id=ctx.request_id,
        )
        return f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"

    @server.tool(description="Needs the sampling capability (conformance: server-stateless, -32021).")
    async def test_missing_capability(
        answer: Annotated[CreateMessageResult, Resolve(_needs_sampling)],
    ) -> str:
        return f"sampled: {_text_of(answer)}"


def _add_input_required_tools(server: MCPServer[Any]) -> None:
    """Tools driving the 2026-07-28 multi-round-trip flow by hand (SEP-2322), with the keys the
    scenarios expect. The SDK seals `request_state` on the way out and verifies it on the way in."""

    @server.tool(description="Asks for a name through InputRequiredResult (conformance: SEP-2322).")
    async def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
        name = _accepted(ctx, "user_name", "name")
        if name is None:
            return InputRequiredResult(input_requests={"user_name": _elicit("What is your name?", "name")})
        return f"Hello, {name}!"

    @server.tool(description="Samples through InputRequiredResult (conformance: SEP-2322).")
    async def test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
        answer = _response(ctx, "capital_question", CreateMessageResult)
        if answer is None:
            return InputRequiredResult(
                input_requests={"capital_question": _sample("What is the capital of France?", 100)}
            )
        return f"The model answered: {_text_of(answer)}"

    @server.tool(description="Lists roots through InputRequiredResult (conformance: SEP-2322).")
    async def test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
        roots = _response(ctx, "client_roots", ListRootsResult)
        if roots is None:
            return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})
        return "Client roots: " + ", ".join(str(root.uri) for root in roots.roots)

    @server.tool(description="Round-trips requestState (conformance: SEP-2322).")
    async def test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
        confirmed = _response(ctx, "confirm", ElicitResult)
        if confirmed is None or ctx.request_state != "awaiting-confirm":
            return InputRequiredResult(
                input_requests={"confirm": _elicit("Please confirm", "ok", "boolean")},
                request_state="awaiting-confirm",
            )
        return f"state-ok: confirmation {confirmed.action}"

    @server.tool(description="Asks three things at once (conformance: SEP-2322).")
    async def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
        name = _accepted(ctx, "user_name", "name")
        greeting = _response(ctx, "greeting", CreateMessageResult)
        roots = _response(ctx, "client_roots", ListRootsResult)
        if name is None or greeting is None or roots is None or ctx.request_state != "awaiting-three":
            return InputRequiredResult(
                input_requests={
                    "user_name": _elicit("What is your name?", "name"),
                    "greeting": _sample("Generate a greeting", 50),
                    "client_roots": ListRootsRequest(),
                },
                request_state="awaiting-three",
            )
        return f"{_text_of(greeting)} {name} ({len(roots.roots)} roots)"

    @server.tool(description="Two rounds of questions (conformance: SEP-2322).")
    async def test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
        state = ctx.request_state or ""
        if state.startswith("round-2:"):
            color = _accepted(ctx, "step2", "color")
            if color is not None:
                return f"{state.removeprefix('round-2:')} likes {color}"
        else:
            name = _accepted(ctx, "step1", "name")
            if name is not None and state == "round-1":
                state = f"round-2:{name}"
        if state.startswith("round-2:"):
            return InputRequiredResult(
                input_requests={"step2": _elicit("Step 2: What is your favorite color?", "color")},
                request_state=state,
            )
        return InputRequiredResult(
            input_requests={"step1": _elicit("Step 1: What is your name?", "name")}, request_state="round-1"
        )

    @server.tool(description="Rejects a tampered requestState (conformance: SEP-2322).")
    async def test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
        confirmed = _response(ctx, "confirm", ElicitResult)
        if confirmed is None or ctx.request_state != "issued":
            return InputRequiredResult(
                input_requests={"confirm": _elicit("Please confirm", "ok", "boolean")}, request_state="issued"
            )
        return "state-ok"

    @server.tool(description="Asks only what the client can answer (conformance: SEP-2322).")
    async def test_input_required_result_capabilities(ctx: Context) -> str | InputRequiredResult:
        answers = ctx.input_responses or {}
        if answers:
            return f"Answered: {', '.join(sorted(answers))}"
        capabilities = ctx.client_capabilities or ClientCapabilities()
        requests: dict[str, InputRequest] = {}
        if capabilities.elicitation is not None:
            requests["user_name"] = _elicit("What is your name?", "name")
        if capabilities.sampling is not None:
            requests["greeting"] = _sample("Generate a greeting", 50)
        if capabilities.roots is not None:
            requests["client_roots"] = ListRootsRequest()
        if not requests:
            return "The client declared no capability to ask through"
        return InputRequiredResult(input_requests=requests)


def _add_task_tools(server: MCPServer[Any]) -> None:
    """The tasks extension's fixtures (SEP-2663 scenarios), run as tasks by the server's own tasks
    package (a run of the tool in the process, like transcribe's)."""
    tasks = tasks_of(server)
    assert tasks is not None, "GLM_TASKS is on in the conformance server"

    @server.tool(description="Says hello; never a task (conformance: tasks-*).")
    def greet(name: str) -> str:
        return f"Hello, {name}!"

    @server.tool(description="Sleeps `seconds`, then answers (conformance: tasks-*).")
    async def slow_compute(seconds: float = 1.0, label: str = "") -> str:
        await anyio.sleep(seconds)
        return f"Computed {label} after {seconds:g} s"

    @server.tool(description="Fails as a tool after about 1 s (conformance: tasks-lifecycle).")
    async def failing_job() -> str:
        await anyio.sleep(1)
        raise ToolError("failing_job always fails")

    @server.tool(description="Fails with a protocol error (conformance: tasks-lifecycle).")
    async def protocol_error_job() -> str:
        await anyio.sleep(0.5)
        raise MCPError(INTERNAL_ERROR, "protocol_error_job always fails with a protocol error")

    def question(message: str, field: str) -> dict[str, Any]:
        asked = _elicit(message, field, "boolean")
        return asked.model_dump(by_alias=True, mode="json", exclude_none=True)

    @server.tool(
        description="Asks, once running as a task, whether to delete (conformance: tasks-mrtr-input)."
    )
    async def confirm_delete(filename: str = "file.txt") -> str:
        answers = await tasks.ask({"confirm": question(f"Delete {filename}?", "confirm")})
        content = answers["confirm"].get("content") or {}
        return f"Deleted {filename}" if content.get("confirm") else f"Kept {filename}"

    @server.tool(description="Asks two things at once as a task (conformance: tasks-mrtr-input).")
    async def multi_input() -> str:
        answers = await tasks.ask({"first": question("First?", "ok"), "second": question("Second?", "ok")})
        return f"Answered {len(answers)} questions"

    @server.tool(
        description="Asks a name by MRTR, then runs as a task (conformance: tasks-mrtr-composition)."
    )
    async def test_tool_with_task(ctx: Context) -> str | InputRequiredResult:
        name = _accepted(ctx, "user_name", "name")
        if name is None:
            return InputRequiredResult(input_requests={"user_name": _elicit("What is your name?", "name")})
        return f"Hello, {name}!"

    runs = ("slow_compute", "failing_job", "protocol_error_job", "confirm_delete", "multi_input")
    for name in (*runs, "test_tool_with_task"):
        spec = ToolSpec(name=name, title=name, annotations=ToolAnnotations(), purpose="", summary="")
        tasks.add(spec, required=name in ("failing_job", "test_tool_with_task"))


def _add_resources(server: MCPServer[Any]) -> None:
    @server.resource(
        "test://static-text",
        name="static-text",
        description="A static text resource (conformance: resources-read-text).",
        mime_type="text/plain",
    )
    def static_text() -> str:
        return "This is the content of the static text resource."

    @server.resource(
        "test://static-binary",
        name="static-binary",
        description="A 1x1 PNG (conformance: resources-read-binary).",
        mime_type="image/png",
    )
    def static_binary() -> bytes:
        return base64.b64decode(PNG_BASE64)

    @server.resource(
        "test://template/{id}/data",
        name="template-data",
        description="JSON naming its id (conformance: resources-templates-read).",
        mime_type="application/json",
    )
    def template_data(id: str) -> str:
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @server.resource(
        "test://watched-resource",
        name="watched-resource",
        description="A resource to subscribe to (conformance: resources-subscribe).",
        mime_type="text/plain",
    )
    def watched_resource() -> str:
        return "Watched resource content"


def _add_prompts(server: MCPServer[Any]) -> None:
    @server.prompt(description="A prompt without arguments (conformance: prompts-get-simple).")
    def test_simple_prompt() -> list[UserMessage]:
        return [UserMessage("This is a simple prompt for testing.")]

    @server.prompt(description="A prompt with two arguments (conformance: prompts-get-with-args).")
    def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
        return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]

    @server.prompt(description="A prompt embedding a resource (conformance: prompts-get-embedded-resource).")
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
        return [
            UserMessage(_embedded(resourceUri, "text/plain", "Embedded resource content for testing.")),
            UserMessage("Please process the embedded resource above."),
        ]

    @server.prompt(description="A prompt with an image (conformance: prompts-get-with-image).")
    def test_prompt_with_image() -> list[UserMessage]:
        return [
            UserMessage(ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")),
            UserMessage("Please analyze the image above."),
        ]

    @server.prompt(description="Asks for context first (conformance: SEP-2322 on prompts/get).")
    def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
        context = _accepted(ctx, "user_context", "context")
        if context is None:
            return InputRequiredResult(
                input_requests={"user_context": _elicit("What context should the prompt use?", "context")}
            )
        return [UserMessage(f"Answer with this context in mind: {context}")]


def _add_handlers(server: MCPServer[Any]) -> None:
    """The handshake-era methods MCPServer does not serve itself."""

    async def set_level(ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
        log.info("Client asked for log level %s", params.level)
        return EmptyResult()

    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)


def _needs_sampling() -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text="Say hello"))], max_tokens=10
    )


def _embedded(uri: str, mime_type: str, text: str) -> EmbeddedResource:
    return EmbeddedResource(
        type="resource", resource=TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    )


def _elicit(message: str, field: str, kind: str = "string") -> ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


def _response(ctx: Context, key: str, kind: type[ResponseT]) -> ResponseT | None:
    answer = (ctx.input_responses or {}).get(key)
    return answer if isinstance(answer, kind) else None


def _accepted(ctx: Context, key: str, field: str) -> str | None:
    """The value of `field` in an accepted elicitation answer under `key`, if there is one."""
    answer = _response(ctx, key, ElicitResult)
    if answer is None or answer.action != "accept" or not answer.content:
        return None
    value = answer.content.get(field)
    return None if value is None else str(value)


def _text_of(result: CreateMessageResult) -> str:
    return result.content.text if isinstance(result.content, TextContent) else "(no text)"


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[1] == "report":
        return report(argv[2], Path(argv[3]), Path(argv[4]))
    if len(argv) != 2 or not argv[1].isdigit():
        print(f"usage: {argv[0]} PORT | report ERA RESULTS_DIR BASELINE", file=sys.stderr)
        return 2
    for name in [name for name in os.environ if name.startswith(ENV_PREFIXES)]:
        del os.environ[name]
    # The fixtures exercise deprecated protocol features (logging, sampling) on purpose.
    warnings.simplefilter("ignore", MCPDeprecationWarning)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="glm-conformance-") as data_dir:
        settings = conformance_settings(int(argv[1]), Path(data_dir))
        serve(build_conformance_server(settings), settings)
    return 0


# Reading the suite's results -------------------------------------------------------------------

# `-o DIR` holds one `server-<scenario>-<UTC timestamp>/checks.json` per scenario run.
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
# A check with either status fails its scenario (the suite's own rule for baselines).
FAILING = ("FAILURE", "WARNING")


def read_baseline(path: Path) -> set[str]:
    """The scenario names under `server:` in an expected-failures file.

    Reads the subset of YAML these files use: comments, `server:` followed by `- name` items, or
    `server: []`. A `scenario:check-id` entry (accepted by newer suites) is refused: list whole
    scenarios.
    """
    names: set[str] = set()
    section = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "-")):
            key, _, rest = line.partition(":")
            section = key.strip()
            if rest.strip() not in ("", "[]"):
                raise ValueError(f"{path}:{number}: expected '{section}:' or '{section}: []'")
            continue
        item = line.strip()
        if section != "server" or not item.startswith("- "):
            raise ValueError(f"{path}:{number}: expected '- <scenario>' under 'server:'")
        name = item[2:].strip().strip("'\"")
        if not re.fullmatch(r"[a-z0-9-]+", name):
            raise ValueError(f"{path}:{number}: {name!r} is not a scenario name")
        names.add(name)
    return names


def read_results(results: Path) -> dict[str, list[dict[str, Any]]]:
    """Scenario name -> its failing checks (empty when it passed)."""
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for checks_file in sorted(results.glob("*/checks.json")):
        match = RESULT_DIR.match(checks_file.parent.name)
        if match is None:
            continue
        checks = json.loads(checks_file.read_text())
        failing = [check for check in checks if check.get("status") in FAILING]
        outcomes.setdefault(match["scenario"], []).extend(failing)
    return outcomes


def report(era: str, results: Path, baseline: Path) -> int:
    """Print how the run went against the baseline; 0 when the run matches it exactly."""
    expected = read_baseline(baseline)
    outcomes = read_results(results)
    if not outcomes:
        print(f"conformance ({era}): no results in {results}")
        return 1
    failed = {name for name, failing in outcomes.items() if failing}
    problems = 0
    for name in sorted(failed):
        if name in expected:
            print(f"  known failure (baseline): {name}")
            continue
        problems += 1
        for check in outcomes[name]:
            message = " ".join(str(check.get("errorMessage") or check.get("description", "")).split())
            print(f"  FAILED {name}: {check.get('id')} [{check.get('status')}] {message[:300]}")
    for name in sorted(expected - failed):
        problems += 1
        state = "now passes" if name in outcomes else "did not run"
        print(f"  STALE baseline entry {name}: {state}; remove it from {baseline}")
    passed = len(outcomes) - len(failed)
    line = f"conformance ({era}): {passed} of {len(outcomes)} scenarios pass"
    if expected & failed:
        line += f"; the other {len(expected & failed)} are known failures listed in {baseline}"
    if problems:
        line += f"; {problems} not as the baseline says"
    print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
