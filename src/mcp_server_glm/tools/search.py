"""`web_search`: search the web through the GLM platform's Web Search API.

Each platform takes its own engines and fields: what it would refuse is refused here, naming the limit,
and only the fields it defines are sent. An account without search quota gets its error back, never an
empty list that looks like no results; a search that found nothing (or an engine with no data, 1703) is an
empty result with a note saying what to try.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import app_state, count_usage, glm_client, result
from ..errors import BadArguments, SearchUnavailable
from ..glm.errors import NO_SEARCH_DATA
from ..glm.models import SearchItem, WebSearchRequest, WebSearchResponse
from ..settings import SEARCH_ENGINES, Platform
from .spec import ToolSpec

SPEC = ToolSpec(
    name="web_search",
    title="Search the web",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    purpose="web_search returns current web results with links",
    summary="Search the web through GLM's Web Search API and get titles, links and summaries.",
    settings=("search_engine", "max_searches_per_day"),
)

PLATFORM_NAMES: dict[Platform, str] = {"zai": "Z.AI", "bigmodel": "BigModel"}
MAX_QUERY: dict[Platform, int] = {"bigmodel": 70}  # characters of search_query (BigModel's reference)
SOGOU_COUNTS = (10, 20, 30, 40, 50)


class Hit(BaseModel):
    title: str
    url: str
    content: str
    site: str | None = None
    published_date: str | None = None
    icon: str | None = None


class Intent(BaseModel):
    query: str
    intent: str
    keywords: str | None = None


class SearchResult(BaseModel):
    query: str
    engine: str
    results: list[Hit]
    intent: list[Intent] | None = None
    note: str | None = None


async def web_search(
    ctx: Context[Any, Any],
    query: Annotated[
        str,
        Field(
            min_length=1, max_length=1000, description="What to search for (BigModel: at most 70 characters)."
        ),
    ],
    engine: Annotated[
        str | None,
        Field(
            description="Z.AI: search-prime. BigModel: search_std, search_pro, search_pro_sogou, "
            "search_pro_quark."
        ),
    ] = None,
    count: Annotated[int, Field(ge=1, le=50, description="search_pro_sogou: 10, 20, 30, 40 or 50.")] = 10,
    domain_filter: Annotated[str | None, Field(description="Only results from this domain.")] = None,
    recency: Literal["oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"] = "noLimit",
    content_size: Annotated[
        Literal["medium", "high"] | None, Field(description="BigModel only: summary length.")
    ] = None,
) -> Annotated[CallToolResult, SearchResult]:
    """Search the web: titles, links, dates and summaries of current pages, to read or cite. For an answer
    written from a search use glm_chat with web_search. Billed per search."""
    settings = app_state(ctx).settings
    chosen = engine or settings.default_search_engine
    check(settings.platform, query, chosen, count, content_size)
    bigmodel = settings.platform == "bigmodel"
    request = WebSearchRequest(
        search_query=query,
        search_engine=chosen,
        search_intent=False if bigmodel else None,
        count=count,
        search_domain_filter=domain_filter,
        search_recency_filter=recency,
        content_size=content_size,
    )
    client = glm_client(ctx)
    try:
        response = await client.web_search(request)
    except SearchUnavailable as exc:
        if exc.code != NO_SEARCH_DATA:
            raise
        note = f"the engine returned no data (code {exc.code}): {_what_to_try(domain_filter, recency)}"
        empty = SearchResult(query=query, engine=chosen, results=[], note=note)
        return result(_text(empty), empty)
    count_usage(ctx, "web_search", chosen, 1, "searches")
    found = SearchResult(query=query, engine=chosen, results=[_hit(item) for item in response.search_result])
    found.intent = _intents(response) or None
    if not found.results:
        found.note = f"nothing matched: {_what_to_try(domain_filter, recency)}"
    return result(_text(found), found)


def _what_to_try(domain_filter: str | None, recency: str) -> str:
    """What a search that found nothing can change, naming the filters it used."""
    loosen = [
        *(["drop domain_filter"] if domain_filter else []),
        *([f"widen recency ({recency})"] if recency != "noLimit" else []),
    ]
    return "broaden or rephrase the query" + (f", or {' and '.join(loosen)}" if loosen else "") + "."


def check(platform: Platform, query: str, engine: str, count: int, content_size: str | None) -> None:
    """Refuse, in one line naming the limit, what the platform's Web Search API would refuse."""
    name = PLATFORM_NAMES[platform]
    engines = SEARCH_ENGINES[platform]
    if engine not in engines:
        other: Platform = "bigmodel" if platform == "zai" else "zai"
        whose = f" (a {PLATFORM_NAMES[other]} engine)" if engine in SEARCH_ENGINES[other] else ""
        raise BadArguments(
            f"{name}'s Web Search has no engine {engine!r}{whose}: use {' or '.join(engines)}."
        )
    if content_size is not None and platform == "zai":
        raise BadArguments(f"{name}'s Web Search has no content_size (a BigModel option): leave it out.")
    limit = MAX_QUERY.get(platform)
    if limit is not None and len(query) > limit:
        raise BadArguments(
            f"The query is {len(query)} characters; {name}'s Web Search takes at most {limit}: shorten it."
        )
    if engine == "search_pro_sogou" and count not in SOGOU_COUNTS:
        raise BadArguments(f"search_pro_sogou takes count 10, 20, 30, 40 or 50, not {count}.")


def _intents(response: WebSearchResponse) -> list[Intent]:
    return [
        Intent(query=item.query, intent=item.intent, keywords=item.keywords or None)
        for item in response.search_intent
        if item.intent or item.query
    ]


def _hit(item: SearchItem) -> Hit:
    return Hit(
        title=item.title,
        url=item.link,
        content=item.content,
        site=item.media or None,
        published_date=item.publish_date or None,
        icon=item.icon or None,
    )


def _text(found: SearchResult) -> str:
    hits = found.results
    lines = [
        f'{len(hits)} result{"s" if len(hits) > 1 else ""} for "{found.query}" ({found.engine}):'
        if hits
        else f'No results for "{found.query}" ({found.engine})' + (f": {found.note}" if found.note else ".")
    ]
    for intent in found.intent or ():
        keywords = f", keywords: {intent.keywords}" if intent.keywords else ""
        lines.append(f'Intent: {intent.intent or "unknown"} (searched as "{intent.query}"{keywords})')
    for number, hit in enumerate(hits, 1):
        about = " | ".join(part for part in (hit.url, hit.site, hit.published_date) if part)
        lines.append(f"\n{number}. {hit.title}\n   {about}\n   {hit.content}")
    return "\n".join(lines)
