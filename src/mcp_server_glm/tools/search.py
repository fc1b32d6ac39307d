"""`web_search`: search the web through the GLM platform's Web Search API.

An account without search quota gets its error back, never an empty list that looks like no results.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..glm.models import SearchItem, WebSearchRequest
from .common import app_state, count_usage, glm_client, result, upstream_errors

TITLE = "Search the web"
ANNOTATIONS = ToolAnnotations(read_only_hint=True, open_world_hint=True)


class Hit(BaseModel):
    title: str
    url: str
    content: str
    site: str | None = None
    published_date: str | None = None
    icon: str | None = None


class SearchResult(BaseModel):
    query: str
    engine: str
    results: list[Hit]


async def web_search(
    ctx: Context[Any, Any],
    query: Annotated[str, Field(min_length=1, max_length=1000, description="What to search for.")],
    engine: Annotated[
        str | None,
        Field(description="search-prime (Z.AI); search_std, search_pro, search_pro_sogou, search_pro_quark."),
    ] = None,
    count: Annotated[int, Field(ge=1, le=50)] = 10,
    domain_filter: Annotated[str | None, Field(description="Only results from this domain.")] = None,
    recency: Literal["oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"] = "noLimit",
    content_size: Annotated[
        Literal["medium", "high"] | None, Field(description="Summary length: medium or high (longer).")
    ] = None,
) -> Annotated[CallToolResult, SearchResult]:
    """Search the web and get titles, links and summaries of current pages."""
    chosen = engine or app_state(ctx).settings.default_search_engine
    request = WebSearchRequest(
        search_query=query,
        search_engine=chosen,
        count=count,
        search_domain_filter=domain_filter,
        search_recency_filter=recency,
        content_size=content_size,
    )
    client = glm_client(ctx)
    with upstream_errors():
        response = await client.web_search(request)
    count_usage(ctx, "web_search", chosen, 1, "searches")
    hits = [_hit(item) for item in response.search_result]
    return result(_text(query, chosen, hits), SearchResult(query=query, engine=chosen, results=hits))


def _hit(item: SearchItem) -> Hit:
    return Hit(
        title=item.title,
        url=item.link,
        content=item.content,
        site=item.media or None,
        published_date=item.publish_date or None,
        icon=item.icon or None,
    )


def _text(query: str, engine: str, hits: list[Hit]) -> str:
    if not hits:
        return f'No results for "{query}" ({engine}).'
    lines = [f'{len(hits)} result{"s" if len(hits) > 1 else ""} for "{query}" ({engine}):']
    for number, hit in enumerate(hits, 1):
        about = " | ".join(part for part in (hit.url, hit.site, hit.published_date) if part)
        lines.append(f"\n{number}. {hit.title}\n   {about}\n   {hit.content}")
    return "\n".join(lines)
