"""`parse_document`: a PDF or an image to Markdown and layout blocks with GLM-OCR (POST /layout_parsing).

The API parses a limited number of pages per request (catalogue: 30 on Z.AI, 100 on BigModel), so a
longer PDF is parsed in page ranges, one request at a time with progress, and joined in order.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import (
    app_state,
    count_usage,
    cut_note,
    glm_client,
    inline_text,
    media_link,
    progress,
    result,
    ticking,
)
from ..errors import BadArguments, GLMError
from ..glm import catalog
from ..glm.catalog import Model
from ..glm.platform_models import LayoutRequest, LayoutResponse
from .spec import ToolSpec

SPEC = ToolSpec(
    name="parse_document",
    title="Parse a document",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),
    purpose="parse_document turns a PDF or a scan into Markdown with its tables and formulas",
    summary="Turn a PDF or an image (PNG, JPEG) into Markdown and layout blocks with GLM-OCR, any number "
    "of pages.",
    settings=("max_inline_chars",),
    task_support=True,  # a long PDF takes a request per range: a client with tasks need not wait
)
log = logging.getLogger(__name__)
MAX_BLOCKS = 200  # layout blocks kept in a result
MAX_BLOCK_CHARS = 1000  # characters of each block's content kept
MB = 1024 * 1024


class Block(BaseModel):
    page: int
    label: str
    bbox: list[float]
    content: str


class Document(BaseModel):
    pages: int  # of the whole document
    start_page: int
    end_page: int
    markdown: str
    blocks: list[Block]
    truncated: bool | None = None
    characters: int | None = None  # the whole markdown's length, when truncated
    file: str | None = None  # where the whole markdown is saved, when truncated
    note: str | None = None


async def parse_document(
    ctx: Context[Any, Any],
    file: Annotated[
        str, Field(min_length=1, description="PDF, PNG or JPEG: a path, file://, http(s) or data: URL.")
    ],
    start_page: Annotated[int | None, Field(ge=1)] = None,
    end_page: Annotated[int | None, Field(ge=1)] = None,
) -> Annotated[CallToolResult, Document]:
    """A PDF or image as Markdown (tables, formulas) and layout blocks with boxes, any number of pages.
    GLM's servers fetch a URL. Billed per token."""
    if start_page is not None and end_page is not None and start_page > end_page:
        raise BadArguments(f"start_page ({start_page}) is after end_page ({end_page}): swap them.")
    platform = app_state(ctx).settings.platform
    model = _model(platform)
    per_request = model.pages_on(platform) or 30
    document, paged, source = await _document(ctx, file, model)
    first = start_page or 1
    run = await _parse_ranges(ctx, document, paged, first, end_page, per_request)
    answers, last, total, stopped = run.answers, run.last, run.total, run.stopped
    tokens = sum(answer.usage.total_tokens for answer in answers)
    count_usage(ctx, "parse_document", model.name, tokens, "tokens")
    markdown = "\n\n".join(answer.md_results.strip() for answer in answers if answer.md_results.strip())
    shown_md, saved = await inline_text(ctx, markdown, label="document", source=source)
    blocks = _blocks(answers, first if paged else 1)
    parsed = Document(
        pages=total or 1,
        start_page=first if paged else 1,
        end_page=last if paged else 1,
        markdown=shown_md,
        blocks=blocks[:MAX_BLOCKS],
    )
    notes: list[str] = []
    if saved is not None:
        parsed.truncated, parsed.characters = True, len(markdown)
        parsed.file = str(saved.path)
        notes.append(cut_note(len(shown_md), len(markdown), saved))
    if len(blocks) > MAX_BLOCKS:
        notes.append(f"the first {MAX_BLOCKS} of {len(blocks)} layout blocks are kept")
    if not markdown:
        notes.append("no text was recognised")
    if stopped:
        notes.insert(0, stopped)
    parsed.note = "; ".join(notes) or None
    text = _text(parsed, blocks, model.name, len(answers))
    return result(text, parsed, [media_link(saved)] if saved is not None else [])


@dataclass
class _Run:
    answers: list[LayoutResponse] = field(default_factory=list)
    last: int = 1
    total: int | None = None
    stopped: str = ""  # why the ranges stopped before the last page, and where to resume


async def _parse_ranges(
    ctx: Context[Any, Any], document: str, paged: bool, first: int, end_page: int | None, per_request: int
) -> _Run:
    """Parse `document` from page `first` in ranges of `per_request` pages, one request at a time, with
    progress. The pages to parse are known from the first answer (data_info.num_pages): the API's own
    count whatever the source (file, data URL or URL) and however the PDF stores its pages."""
    client = glm_client(ctx)
    report = progress(ctx)
    run = _Run(last=(end_page or first + per_request - 1) if paged else first)
    start = first
    while start <= run.last:
        end = min(run.last, start + per_request - 1)
        shown = f"pages {start}-{end}" + (f" of {run.total}" if run.total else "")
        await report(f"parsing {shown}", start - first, None if run.total is None else run.last - first + 1)

        def waiting(seconds: float, shown: str = shown) -> str:
            return f"parsing {shown}: {seconds:.0f} s"

        request = LayoutRequest(
            file=document, start_page_id=start if paged else None, end_page_id=end if paged else None
        )
        try:
            async with ticking(ctx, waiting):
                answer = await client.parse_layout(request)
        except GLMError as exc:
            if not run.answers:
                raise
            # The ranges parsed so far are paid for: they are given back, saying where to resume.
            run.stopped = (
                f"pages {start}-{run.last} were not parsed ({exc}): call again with start_page={start}"
            )
            log.warning("parse_document stopped at page %d: %s", start, exc)
            run.last = start - 1
            break
        run.answers.append(answer)
        if run.total is None:
            run.total = answer.data_info.num_pages or end
            run.last = min(end_page or run.total, run.total) if paged else first
        start = end + 1
    if len(run.answers) > 1:
        done = run.last - first + 1
        await report(f"parsed pages {first}-{run.last} in {len(run.answers)} requests", done, done)
    return run


def _model(platform: str) -> Model:
    name = catalog.default(platform, "ocr")  # type: ignore[arg-type]
    known = catalog.find(name)
    assert known is not None and known.kind == "ocr"  # the catalogue's default is catalogued
    return known


async def _document(ctx: Context[Any, Any], ref: str, model: Model) -> tuple[str, bool, str]:
    """What `file` carries to the API (a public URL as it is, else bare base64), whether it may have
    pages (a PDF, or a URL, which may be one), and how the saved Markdown names its source."""
    from ..files import check_remote_url

    url = check_remote_url(ref.strip(), "document URL")
    if url is not None:
        return url, True, url
    pdf_limit = model.max_pdf_bytes or 50 * MB
    image_limit = model.max_image_bytes or 10 * MB
    document = await app_state(ctx).files.read_input(ref, "document", limit=max(pdf_limit, image_limit))
    pdf = document.mime_type == "application/pdf"
    limit = pdf_limit if pdf else image_limit
    if document.size > limit:
        kind = "a PDF" if pdf else "an image"
        raise BadArguments(
            f"{document.source} is {document.size / MB:.1f} MB; GLM-OCR takes {kind} of at most "
            f"{limit // MB} MB: split or shrink it."
        )
    request = LayoutRequest.from_bytes(document.data)
    return request.file, pdf, document.source


def _blocks(answers: list[LayoutResponse], first: int) -> list[Block]:
    """The layout blocks of every parsed page, numbered by page, their content capped."""
    blocks: list[Block] = []
    page = first
    for answer in answers:
        for details in answer.layout_details:
            blocks += [
                Block(page=page, label=item.label, bbox=item.bbox_2d, content=item.content[:MAX_BLOCK_CHARS])
                for item in details
            ]
            page += 1
    return blocks


def _text(parsed: Document, blocks: list[Block], model: str, requests: int) -> str:
    kinds = Counter(block.label or "other" for block in blocks)
    counted = ", ".join(f"{count} {label}" for label, count in kinds.most_common())
    pages = (
        f"page {parsed.start_page}"
        if parsed.start_page == parsed.end_page
        else (f"pages {parsed.start_page}-{parsed.end_page}")
    )
    about = f"{pages} of {parsed.pages}, {requests} request{'s' if requests > 1 else ''}"
    about += (
        f"; {len(blocks)} layout blocks ({counted}) with boxes in the structured result" if blocks else ""
    )
    if parsed.note:
        about += f"; {parsed.note}"
    return f"{parsed.markdown}\n\n({model}: {about}.)"
