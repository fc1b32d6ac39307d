"""Builds the MCP server: its tools, resources, prompts and completions, and a lifespan that hands every
call the server's state (GLM client, files, store: each made on first use) and closes it at the end.

`build_server(settings)` is the one factory; the transports run what it returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CallToolResult,
    DiscoverResult,
    EmptyResult,
    GetPromptResult,
    InputRequiredResult,
    ReadResourceRequestParams,
    ReadResourceResult,
    RequestParams,
    Resource,
    ServerCapabilities,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)
from mcp.types import Tool as ToolEntry
from mcp_types import INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import AnyUrl, ValidationError

from . import __version__, caps, completions, identity, prompts, resources, tasks
from .errors import (
    AuthenticationFailed,
    ConfigError,
    GLMError,
    JobError,
    NotOnPlatform,
    NotPermitted,
    QuotaExhausted,
    Refusal,
)
from .presentation import (
    CACHE_HINTS,
    DESCRIPTION,
    ICONS,
    STATIC,
    STATIC_RESOURCES,
    TASKS_EXTENSION,
    WEBSITE_URL,
    configured,
    instructions,
)
from .settings import Settings
from .state import AppState, LazyStore

if TYPE_CHECKING:
    from .auth import Policy
from .tools import listing
from .tools.spec import PLATFORM_NAMES, ToolSpec

log = logging.getLogger(__name__)


class GLMServer(MCPServer[AppState]):
    """MCPServer whose tools are listed from listing.json and built on first call, and whose tool
    failures always read as one actionable line. Tools added the usual way (`server.tool()`) work too.
    `elsewhere`: registered tools of another platform, not listed; a call says where they are.
    `tasks_instructions`: the instructions for a client that can run tools as MCP tasks, given on
    server/discover when the server serves the tasks extension and the client declares it (tasks
    exist only on 2026-07-28, so initialize always gives `instructions`)."""

    def __init__(
        self,
        *,
        glm_tools: Sequence[listing.Listed] = (),
        elsewhere: Sequence[ToolSpec] = (),
        settings: Settings | None = None,
        tasks_instructions: str | None = None,
        **options: Any,
    ) -> None:
        self._specs = {listed.spec.name: listed.spec for listed in glm_tools}
        self._listed = {
            listed.spec.name: listed.entry if settings is None else configured(listed, settings)
            for listed in glm_tools
        }
        self._elsewhere = {spec.name: spec for spec in elsewhere}
        self._platform = settings.platform if settings is not None else None
        self._built: dict[str, Tool] = {}
        self.store: LazyStore | None = None  # the one build_server made (its health is /healthz's)
        self.state: AppState | None = None  # what every call is handed (see `hosting`)
        self.auth: Policy | None = None  # the OAuth sign-in's scopes, set by the HTTP transport
        self._prompts: set[str] = set()
        super().__init__(**options)
        # The SDK advertises prompts whenever it serves prompts/list, which MCPServer always does; a
        # client would list an empty set. The capabilities are derived by the low-level server, which
        # MCPServer exposes no public way to reach or configure: its method is wrapped instead.
        lowlevel = self._lowlevel_server
        derive = lowlevel.get_capabilities

        def capabilities(*args: Any, **kwargs: Any) -> ServerCapabilities:
            found = derive(*args, **kwargs)
            return found if self._prompts else found.model_copy(update={"prompts": None})

        lowlevel.get_capabilities = capabilities  # type: ignore[method-assign]
        if tasks_instructions is not None:
            self._serve_discover(tasks_instructions)
        self._serve_subscriptions()

    def _serve_discover(self, tasks_instructions: str) -> None:
        """server/discover as the SDK answers it, with the instructions for what this client can use."""
        lowlevel = self._lowlevel_server

        async def discover(
            ctx: ServerRequestContext[AppState], params: RequestParams | None
        ) -> DiscoverResult:
            declared = ctx.session.client_capabilities
            tasks = TASKS_EXTENSION in lowlevel.extensions and TASKS_EXTENSION in (
                (declared.extensions if declared is not None else None) or {}
            )
            return DiscoverResult(
                supported_versions=list(MODERN_PROTOCOL_VERSIONS),
                capabilities=lowlevel.get_capabilities(protocol_version=ctx.protocol_version),
                instructions=tasks_instructions if tasks else lowlevel.instructions,
            )

        lowlevel.add_request_handler("server/discover", RequestParams, discover)

    def _serve_subscriptions(self) -> None:
        """Resource updates for subscribers: resources/subscribe and unsubscribe (2025-11-25, which the
        SDK leaves to the server), and subscriptions/listen (2026-07-28, the SDK's handler) wrapped to
        record which resources each open stream watches (the job poller follows them)."""
        lowlevel = self._lowlevel_server

        async def subscribe(ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
            if isinstance(state := ctx.lifespan_context, AppState):
                state.updates.subscribe(ctx.session, str(params.uri))
            return EmptyResult()

        async def unsubscribe(
            ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams
        ) -> EmptyResult:
            if isinstance(state := ctx.lifespan_context, AppState):
                state.updates.unsubscribe(ctx.session, str(params.uri))
            return EmptyResult()

        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
        served = lowlevel.get_request_handler("subscriptions/listen")
        if served is None:
            return
        stream = served.handler

        async def listen(
            ctx: ServerRequestContext[Any], params: SubscriptionsListenRequestParams
        ) -> SubscriptionsListenResult:
            if not isinstance(state := ctx.lifespan_context, AppState):
                return cast(SubscriptionsListenResult, await stream(ctx, params))
            with state.updates.listening(params.notifications.resource_subscriptions or ()):
                return cast(SubscriptionsListenResult, await stream(ctx, params))

        lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen)

    def add_prompt(self, prompt: Prompt) -> None:
        super().add_prompt(prompt)
        self._prompts.add(prompt.name)

    def remove_prompt(self, name: str) -> None:
        super().remove_prompt(name)
        self._prompts.discard(name)

    def read_only_tools(self) -> dict[str, bool]:
        """Each GLM tool's read_only_hint: the sign-in asks a read or a generate scope by it."""
        return {name: bool(spec.annotations.read_only_hint) for name, spec in self._specs.items()}

    async def list_tools(self) -> list[ToolEntry]:
        return [*self._listed.values(), *await super().list_tools()]

    # The SDK's Streamable HTTP transport (2026-07-28 era) checks a tools/call's Mcp-Param-* headers
    # against the called tool's input schema, which MCPServer looks up with this method before any
    # middleware runs; its own finds only the tools in its tool manager, so it would skip ours (listed
    # from listing.json, built on first call). MCPServer hands this bound method to its low-level server
    # in __init__ and has no public parameter or hook for the lookup, hence the override. No tool of ours
    # declares an x-mcp-header yet, so today it changes nothing a client sees; it keeps a tool that will
    # from being waved through unchecked.
    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        listed = self._listed.get(name)
        return listed.input_schema if listed is not None else super()._tool_input_schema(name)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        caller = _caller(context)
        with identity.acting(caller):
            return await self._call_tool(name, arguments, context, caller)

    async def _call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        context: Context[AppState, Any] | None,
        caller: identity.Caller | None,
    ) -> CallToolResult | InputRequiredResult:
        try:
            if caller is not None and self.auth is not None:
                # The HTTP layer answered 403 already; this holds for any way a call reaches here.
                needed = self.auth.scope_for(name)
                if needed not in caller.scopes:
                    raise NotPermitted(f"{name} needs the scope {needed}: sign in again asking for it")
                limited = None if self.auth.over_http else self.auth.limiter.refusal(caller.user)
                if limited is not None:
                    raise NotPermitted(limited[0])
            if name in self._elsewhere:
                raise NotOnPlatform(_elsewhere(self._elsewhere[name], self._platform))
            if name not in self._listed:
                return await super().call_tool(name, arguments, context)
            tool = self._built.get(name)
            if tool is None:  # built in one go, without awaiting: concurrent first calls cannot race
                tool = self._built[name] = listing.build(self._specs[name])
            if context is not None and name in caps.CAPS:
                # Refused before the tool runs: the cap's line as it is, without the tool's prefix.
                await caps.check(context.request_context.lifespan_context, name)
            result: CallToolResult | InputRequiredResult = await tool.run(
                arguments, context or Context(mcp_server=self), convert_result=True
            )
            return result
        except (GLMError, Refusal, JobError) as exc:  # before the tool ran: its platform, a daily cap
            raise ToolError(one_line(exc) + await _window_reset(exc, context)) from exc
        except UnexpectedToolError as exc:
            # The SDK wraps whatever a tool raised that is not a ToolError: a failure of the error tree
            # is the tool's one line; anything else a crash.
            if isinstance(failure := exc.__cause__, GLMError | Refusal | JobError):
                line = one_line(failure) + await _window_reset(failure, context)
                raise ToolError(f"Error executing tool {name}: {line}") from failure
            log.error("Tool %r crashed", name, exc_info=exc.__cause__)
            raise ToolError(
                f"Error executing tool {name}: internal error in mcp-server-glm "
                f"({type(exc.__cause__).__name__}); the server log has the details."
            ) from exc.__cause__
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"Error executing tool {name}: {_describe(exc.__cause__)}") from exc.__cause__
            raise

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[AppState, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        # An unknown name or a wrong set of arguments is the caller's mistake: invalid params, not an
        # internal error with a traceback.
        listed = {prompt.name: prompt for prompt in await self.list_prompts()}
        if name not in listed:
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {name}")
        declared = listed[name].arguments or []
        given = set(arguments or {})
        missing = [argument.name for argument in declared if argument.required and argument.name not in given]
        unknown = sorted(given - {argument.name for argument in declared})
        if missing or unknown:
            problems = [
                f"{label} argument {', '.join(names)}"
                for label, names in (("missing", missing), ("unknown", unknown))
                if names
            ]
            takes = ", ".join(argument.name for argument in declared) or "no arguments"
            raise MCPError(INVALID_PARAMS, f"Prompt {name}: {'; '.join(problems)}; it takes {takes}.")
        return await super().get_prompt(name, arguments, context)

    async def list_resources(self) -> list[Resource]:
        # The recent media too, so that a host's attach menu offers them.
        listed = await super().list_resources()
        return listed if self.store is None else [*listed, *await resources.recent_media(self.store)]

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[AppState, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        with identity.acting(_caller(context)):
            return await self._read_resource(uri, context)

    async def _read_resource(
        self, uri: AnyUrl | str, context: Context[AppState, Any] | None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        # Saved media is served with each file's own MIME type, which a resource template cannot vary.
        text = str(uri)
        if text.startswith(resources.MEDIA_PREFIX) and context is not None:
            name = unquote(text.removeprefix(resources.MEDIA_PREFIX))
            state: AppState = context.request_context.lifespan_context
            data, mime_type = await resources.read_media(state.settings, state.store, name)
            if mime_type.startswith("text/"):  # a page or document's text, saved as UTF-8: read as text
                return [ReadResourceContents(content=data.decode("utf-8", "replace"), mime_type=mime_type)]
            return [ReadResourceContents(content=data, mime_type=mime_type)]
        return await super().read_resource(uri, context)

    # A cache hint per resource: MCPServer builds the read's result in this handler (the one its
    # low-level server calls) and offers no hook for its ttlMs/cacheScope; the method-wide hint
    # (`cache_hints`) cannot tell the catalogue from a job.
    async def _handle_read_resource(
        self, ctx: ServerRequestContext[AppState], params: ReadResourceRequestParams
    ) -> ReadResourceResult | InputRequiredResult:
        result = await super()._handle_read_resource(ctx, params)
        if isinstance(result, ReadResourceResult) and str(params.uri) in STATIC_RESOURCES:
            return result.model_copy(update={"ttl_ms": STATIC.ttl_ms, "cache_scope": STATIC.scope})
        return result


def _caller(context: Context[AppState, Any] | None) -> identity.Caller | None:
    """The signed-in caller of the HTTP request this call came in (None: stdio, or no sign-in)."""
    if context is None:
        return None
    try:
        request = context.request_context.request
    except ValueError:  # no request: a call made inside the server
        return None
    return identity.of_request(request)


def _elsewhere(spec: ToolSpec, platform: str | None) -> str:
    where = " or ".join(PLATFORM_NAMES.get(name, name) for name in spec.platforms)
    setting = " or ".join(f"GLM_PLATFORM={name}" for name in spec.platforms)
    here = PLATFORM_NAMES.get(platform or "", platform or "another platform")
    return (
        f"{spec.name} is a tool of {where} only and this server is set up for {here}: "
        f"start it with {setting} and a key of that platform to use {spec.name}."
    )


SETTINGS_TO_CHECK = "Settings to check: the key, GLM_PLATFORM (zai or bigmodel) and GLM_CODING_PLAN."


def one_line(failure: GLMError | Refusal | JobError) -> str:
    """The line a user reads for a failure of the error tree (errors.py): its message, and for a
    refused key the settings that decide which key goes where."""
    if isinstance(failure, AuthenticationFailed):
        return f"{failure} {SETTINGS_TO_CHECK}"
    return str(failure)


async def _window_reset(
    failure: GLMError | Refusal | JobError, context: Context[AppState, Any] | None
) -> str:
    """For a Coding Plan's spent 5-hour window (1308) whose message gives no reset time: when the plan's
    quota says it resets, or nothing (the quota query is undocumented: any failure of it is silent)."""
    if not (isinstance(failure, QuotaExhausted) and failure.code == "1308") or "reset" in failure.api_message:
        return ""
    state = context.request_context.lifespan_context if context is not None else None
    client = state.glm if state is not None and state.settings.on_coding_plan else None
    if client is None:
        return ""
    try:
        quota = await client.plan_quota()
    except GLMError:
        return ""
    when = quota.tokens.next_reset if quota is not None and quota.tokens is not None else None
    return f" The 5-hour window resets at {when.astimezone(UTC):%H:%M} UTC." if when is not None else ""


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'arguments'}: {item['msg']}"
        for item in error.errors(include_url=False)
    ]
    return "invalid arguments: " + "; ".join(problems)


def _lifespan(state: AppState) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if state.hosted:  # one SSE connection of many: the process's owner keeps the state
            yield state
            return
        async with _serving(state):
            yield state

    return lifespan


@asynccontextmanager
async def _serving(state: AppState) -> AsyncIterator[None]:
    """The state in use: usage written in the background, updates pushed to subscribers and watched
    jobs polled (stopped first at the end); at the end the store and clients closed."""
    if state.settings.api_key is None:
        log.warning("No GLM API key configured: tools will answer with how to set ZAI_API_KEY")
    async with state.store.serving():
        try:
            async with state.serving():
                yield
        finally:
            await state.aclose()


@asynccontextmanager
async def hosting(server: GLMServer) -> AsyncIterator[None]:
    """Serve the server's state once for the whole process, for transports whose SDK app enters the
    lifespan once per connection (SSE): one client leaving then closes nothing the others use."""
    state = server.state
    if state is None:
        yield
        return
    async with _serving(state):
        state.hosted = True
        try:
            yield
        finally:
            state.hosted = False


def build_server(settings: Settings, registered: Mapping[str, listing.Listed] | None = None) -> GLMServer:
    """The MCP server with the tools `settings` selects (the default ones unless GLM_TOOLS names
    others) and every resource. `registered`: the tools to choose from (default: the registry's)."""
    tools = listing.load() if registered is None else registered
    names = settings.tools or listing.defaults(tools)
    unknown = [name for name in names if name not in tools]
    if unknown:
        raise ConfigError(
            f"unknown tools in GLM_TOOLS / --tools: {', '.join(unknown)}; valid: {', '.join(tools)}"
        )
    chosen = [tools[name] for name in dict.fromkeys(names)]
    enabled = [listed for listed in chosen if settings.platform in listed.spec.platforms]
    elsewhere = [listed.spec for listed in chosen if settings.platform not in listed.spec.platforms]
    store = LazyStore(settings)
    state = AppState(settings, store)
    added = tasks.extensions([listed.spec for listed in enabled], one_line) if settings.tasks else []
    server = GLMServer(
        glm_tools=enabled,
        elsewhere=elsewhere,
        settings=settings,
        name="mcp-server-glm",
        title="GLM",
        description=DESCRIPTION,
        website_url=WEBSITE_URL,
        icons=ICONS,
        version=__version__,
        instructions=instructions([listed.spec for listed in enabled]),
        tasks_instructions=instructions([listed.spec for listed in enabled], tasks=True),
        lifespan=_lifespan(state),
        log_level=settings.log_level,
        cache_hints=CACHE_HINTS,
        extensions=added,
        subscriptions=state.listeners,
    )
    tasks.install(server, added)
    resources.register(server, settings, store)
    served = prompts.register(server, settings, [listed.spec.name for listed in enabled])
    completions.register(server, settings, store, served)
    server.store = store
    server.state = state
    return server
