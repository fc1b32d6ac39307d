"""`read_webpage`: a web page as Markdown or text through GLM's reader (POST /reader), which fetches the
URL from GLM's servers: only public http(s) URLs are handed over. Long pages are cut inline, saved whole.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import count_usage, cut_note, glm_client, inline_text, media_link, result
from ..errors import BadArguments, InvalidRequest
from ..glm.platform_models import ReaderRequest
from .spec import ToolSpec

SPEC = ToolSpec(
    name="read_webpage",
    title="Read a web page",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    purpose="read_webpage gives a web page as Markdown",
    summary="Read a public web page as Markdown or text (GLM's servers fetch it), with its title, links "
    "and images.",
    settings=("max_inline_chars",),
)
MAX_ENTRIES = 100  # links and images kept in a result


class WebPage(BaseModel):
    url: str
    title: str
    content: str
    description: str | None = None
    published_time: str | None = None
    links: dict[str, str] | None = None
    images: dict[str, str] | None = None
    truncated: bool | None = None
    characters: int | None = None  # the whole content's length, when truncated
    file: str | None = None  # where the whole content is saved, when truncated
    note: str | None = None


async def read_webpage(
    ctx: Context[Any, Any],
    url: Annotated[str, Field(min_length=1, description="A public http(s) URL.")],
    format: Literal["markdown", "text"] = "markdown",
    links: Annotated[bool, Field(description="List its links.")] = False,
    images: Annotated[bool, Field(description="List its images.")] = False,
) -> Annotated[CallToolResult, WebPage]:
    """A web page as Markdown or text, with its title, description and date. GLM's servers fetch the URL.
    Billed per page."""
    target = _public_url(url)
    client = glm_client(ctx)
    request = ReaderRequest(
        url=target,
        return_format=format,
        with_links_summary=links or None,
        with_images_summary=images or None,
    )
    try:
        answer = await client.read_page(request)
    except InvalidRequest as exc:
        if exc.status != 400:
            raise
        # The platform's line may not say which page it means; the user's line must.
        sent = f", request {exc.request_id}" if exc.request_id else ""
        raise BadArguments(
            f"GLM's reader could not read {target} (code {exc.code}: {exc.api_message}{sent}): check that "
            "the page is public and opens in a browser, or try another URL."
        ) from exc
    count_usage(ctx, "read_webpage", "reader", 1, "pages")
    page = answer.reader_result
    ext = ".md" if format == "markdown" else ".txt"
    shown, saved = await inline_text(ctx, page.content, label="page", source=target, ext=ext)
    found = WebPage(
        url=page.url or target,
        title=page.title,
        content=shown,
        description=page.description or None,
        published_time=page.published_time,
    )
    cut: list[str] = []
    if links:
        found.links = dict(list(page.links.items())[:MAX_ENTRIES])
        if len(page.links) > MAX_ENTRIES:
            cut.append(f"the first {MAX_ENTRIES} of {len(page.links)} links are listed")
    if images:
        found.images = dict(list(page.images.items())[:MAX_ENTRIES])
        if len(page.images) > MAX_ENTRIES:
            cut.append(f"the first {MAX_ENTRIES} of {len(page.images)} images are listed")
    if saved is not None:
        found.truncated, found.characters = True, len(page.content)
        found.file = str(saved.path)
        cut.insert(
            0,
            cut_note(len(shown), len(page.content), saved),
        )
    if not page.content.strip():
        cut.insert(0, "the reader returned no content for this page")
    found.note = "; ".join(cut) or None
    return result(_text(found), found, [media_link(saved)] if saved is not None else [])


def _public_url(url: str) -> str:
    """`url` if it is an http(s) URL naming a public host: GLM's servers fetch it on the user's behalf."""
    from ..files import check_remote_url

    checked = check_remote_url(url.strip(), "page URL")
    if checked is None:
        raise BadArguments(
            f"read_webpage reads http(s) URLs only, not {url[:80]!r}: give the page's web address."
        )
    return checked


def _text(page: WebPage) -> str:
    head = [f"# {page.title or page.url}", page.url]
    if page.published_time:
        head.append(f"Published: {page.published_time}")
    if page.description:
        head.append(page.description)
    parts = ["\n".join(head), page.content]
    if page.links is not None:
        parts.append(
            "Links:\n" + ("\n".join(f"- {text}: {link}" for text, link in page.links.items()) or "(none)")
        )
    if page.images is not None:
        parts.append(
            "Images:\n" + ("\n".join(f"- {alt}: {link}" for alt, link in page.images.items()) or "(none)")
        )
    if page.note:
        parts.append(f"({page.note}.)")
    return "\n\n".join(parts)
