"""Completions (`completion/complete`) for the prompts' arguments and the resource templates' parameters:
model ids of the configured platform, sizes per model, recent task ids and saved media names.

Values are prefix-filtered and at most MAX_VALUES; `total` counts every match, `has_more` says some
were left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from . import identity, prompts, resources
from .errors import StoreError
from .glm import catalog
from .settings import Settings
from .state import LazyStore

MAX_VALUES = 100  # the most a completion may hold (MCP)
TASK_TEMPLATE = "glm://tasks/{task_id}"


def register(
    server: MCPServer[Any], settings: Settings, store: LazyStore, served: Sequence[prompts.PromptSpec]
) -> None:
    """Serve completion/complete (which advertises the completions capability)."""
    completes = {spec.name: spec.completes for spec in served}

    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion:
        given = (context.arguments if context is not None else None) or {}
        if isinstance(ref, PromptReference):
            if ref.name not in {prompt.name for prompt in await server.list_prompts()}:
                raise MCPError(INVALID_PARAMS, f"Unknown prompt: {ref.name}")
            kind = completes.get(ref.name, {}).get(argument.name)
            return bounded(_prompt_values(settings, kind, given), argument.value)
        if ref.uri not in {template.uri_template for template in await server.list_resource_templates()}:
            raise MCPError(INVALID_PARAMS, f"Unknown resource template: {ref.uri}")
        try:
            if ref.uri == TASK_TEMPLATE and argument.name == "task_id":
                found = await (await store.get()).task_ids(
                    argument.value, MAX_VALUES + 1, identity.owner_filter()
                )
            elif ref.uri == resources.MEDIA_TEMPLATE and argument.name == "name":
                found = await (await store.get()).media_names(
                    argument.value, MAX_VALUES + 1, identity.owner_filter()
                )
            else:
                found = []
        except StoreError as exc:
            raise MCPError(INTERNAL_ERROR, str(exc)) from exc
        return bounded(found, argument.value, exact=len(found) <= MAX_VALUES)

    serve = server.completion()  # type: ignore[no-untyped-call]  # the SDK's decorator is untyped
    serve(complete)


def _prompt_values(settings: Settings, kind: str | None, given: dict[str, str]) -> list[str]:
    if kind == prompts.CHAT_MODEL:
        return model_ids(settings, "chat", settings.default_chat_model)
    if kind == prompts.VIDEO_MODEL:
        return model_ids(settings, "video", settings.video_model)
    if kind == prompts.VIDEO_SIZE:
        return sizes(settings, "video", given.get("model") or settings.video_model)
    return []


def model_ids(settings: Settings, kind: catalog.Kind, default: str) -> list[str]:
    """The catalogue's models of `kind` on the configured platform: the default first, legacy ones last."""
    found = [model for model in catalog.MODELS if model.kind == kind and model.on(settings.platform)]
    found.sort(key=lambda model: (model.name != default, model.legacy))
    return [model.name for model in found]


def sizes(settings: Settings, kind: catalog.Kind, name: str) -> list[str]:
    """The sizes the catalogue lists for model `name`; for a model it does not list (or one of another
    kind), every size its models of `kind` on the platform take."""
    model = catalog.find(name)
    if model is not None and model.kind == kind and model.sizes:
        return list(model.sizes)
    found = [
        size
        for model in catalog.MODELS
        if model.kind == kind and model.on(settings.platform)
        for size in model.sizes
    ]
    return list(dict.fromkeys(found))


def bounded(values: Sequence[str], prefix: str, *, exact: bool = True) -> Completion:
    """The values starting with `prefix` (case-insensitive), at most MAX_VALUES. `exact`: `values`
    holds every candidate (else it was cut at MAX_VALUES + 1 and the total is unknown)."""
    wanted = prefix.casefold()
    matches = [value for value in values if value.casefold().startswith(wanted)]
    more = len(matches) > MAX_VALUES
    return Completion(values=matches[:MAX_VALUES], total=len(matches) if exact else None, has_more=more)
