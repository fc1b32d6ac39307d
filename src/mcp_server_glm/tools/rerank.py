"""`rerank`: documents scored against a query by BigModel's rerank model, best first, with the limits the
catalogue gives (query and document length, documents per call) refused before anything is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import count_usage, glm_client, result
from ..errors import BadArguments
from ..glm import catalog
from ..glm.platform_models import RerankRequest
from .spec import ToolSpec

SPEC = ToolSpec(
    name="rerank",
    title="Rerank documents",
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    purpose="rerank orders documents by relevance to a query",
    summary="Score documents against a query with GLM's rerank model and get them best first.",
    platforms=("bigmodel",),
    default=False,
)

MODEL = "rerank"
SHOWN = 160  # characters of a returned document in the text


class Ranked(BaseModel):
    index: int
    score: float
    document: str | None = None


class Reranked(BaseModel):
    model: str
    results: list[Ranked]  # best first
    tokens: int | None = None


async def rerank(
    ctx: Context[Any, Any],
    query: Annotated[str, Field(min_length=1, description="What the documents are scored against.")],
    documents: Annotated[list[str], Field(min_length=1, description="The texts to score (at most 128).")],
    top_n: Annotated[int | None, Field(ge=1, description="Only the best n (default: all).")] = None,
    return_documents: Annotated[bool, Field(description="Include each document's text.")] = False,
) -> Annotated[CallToolResult, Reranked]:
    """Score documents against a query (BigModel's rerank): indices into documents with relevance
    scores (0-1), best first."""
    check(query, documents)
    request = RerankRequest(
        model=MODEL,
        query=query,
        documents=documents,
        top_n=top_n,
        return_documents=True if return_documents else None,
    )
    response = await glm_client(ctx).rerank(request)
    count_usage(ctx, "rerank", MODEL, response.usage.total_tokens, "tokens")
    ranked = sorted(response.results, key=lambda item: (-item.relevance_score, item.index))
    done = Reranked(
        model=MODEL,
        results=[
            Ranked(
                index=item.index,
                score=item.relevance_score,
                document=(item.document if item.document is not None else documents[item.index])
                if return_documents and 0 <= item.index < len(documents)
                else None,
            )
            for item in ranked
        ],
        tokens=response.usage.total_tokens or None,
    )
    return result(_text(done, len(documents)), done)


def check(query: str, documents: list[str]) -> None:
    """Refuse, in one line naming the limit, what the rerank route would refuse."""
    entry = catalog.find(MODEL)
    assert entry is not None  # listed in the catalogue
    if entry.max_prompt is not None and len(query) > entry.max_prompt:
        raise BadArguments(
            f"The query is {len(query)} characters; {MODEL} takes at most {entry.max_prompt}: shorten it."
        )
    if entry.max_inputs is not None and len(documents) > entry.max_inputs:
        raise BadArguments(
            f"{len(documents)} documents; {MODEL} takes at most {entry.max_inputs} per call: split them."
        )
    limit = entry.max_input_chars
    long = next((i for i, doc in enumerate(documents) if limit is not None and len(doc) > limit), None)
    if long is not None:
        raise BadArguments(
            f"documents[{long}] is {len(documents[long])} characters; {MODEL} takes at most {limit}: "
            "cut it into pieces."
        )


def _text(done: Reranked, given: int) -> str:
    lines = [f"{len(done.results)} of {given} documents by relevance ({done.model}):"]
    for item in done.results:
        line = f"- documents[{item.index}]: {item.score:.4f}"
        if item.document is not None:
            shown = " ".join(item.document.split())
            line += f" {shown[:SHOWN]}{'…' if len(shown) > SHOWN else ''}"
        lines.append(line)
    return "\n".join(lines)
