"""`embed`: embedding vectors of texts (BigModel's embedding-3 and embedding-2), written to a `.jsonl` file
in the output directory, never into the result: it gives the file, its glm://media link and a glimpse.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..calls import count_usage, glm_client, media_link, result, save_made
from ..errors import BadArguments
from ..glm import catalog
from ..glm.platform_models import EmbeddingRequest
from .spec import ToolSpec

SPEC = ToolSpec(
    name="embed",
    title="Embed texts",
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    purpose="embed writes embedding vectors of texts to a file",
    summary="Embedding vectors of texts (embedding-3, embedding-2), saved as a JSON Lines file in the "
    "output directory.",
    platforms=("bigmodel",),
    default=False,
)

GLIMPSE = 5  # values of the first vector shown in the result
TEXT_SHOWN = 80  # characters of each text kept beside its vector in the file
MIME_TYPE = "application/jsonl"


class Embedded(BaseModel):
    model: str
    count: int
    dimensions: int
    path: str
    uri: str
    first: list[float]  # the first values of the first vector
    tokens: int | None = None


async def embed(
    ctx: Context[Any, Any],
    texts: Annotated[list[str], Field(min_length=1, description="The texts (embedding-3: at most 64).")],
    model: Annotated[str, Field(description="embedding-3 or embedding-2.")] = "embedding-3",
    dimensions: Annotated[
        int | None, Field(description="embedding-3: 256, 512, 1024 or 2048 (default); embedding-2: 1024.")
    ] = None,
) -> Annotated[CallToolResult, Embedded]:
    """Embedding vectors of texts, written to a .jsonl file in the output directory (one line per text:
    index, text's start, embedding); the result gives its path and glm://media link, not the vectors."""
    entry = check(texts, model, dimensions)
    request = EmbeddingRequest(
        model=entry.name,
        input=texts,
        # embedding-2 defines no dimensions field: its one size is sent as nothing.
        dimensions=dimensions if dimensions is not None and entry.dimensions[1:] else None,
    )
    response = await glm_client(ctx).embed(request)
    count_usage(ctx, "embed", entry.name, response.usage.total_tokens, "tokens")
    vectors = response.vectors
    lines = (
        json.dumps({"index": i, "text": text[:TEXT_SHOWN], "embedding": vector}, separators=(",", ":"))
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    )
    data = ("\n".join(lines) + "\n").encode("utf-8")
    saved = await save_made(ctx, data, label="embeddings", ext=".jsonl", mime_type=MIME_TYPE)
    link = media_link(saved)
    done = Embedded(
        model=entry.name,
        count=len(vectors),
        dimensions=len(vectors[0]),
        path=str(saved.path),
        uri=str(link.uri),
        first=vectors[0][:GLIMPSE],
        tokens=response.usage.total_tokens or None,
    )
    text = (
        f"{done.count} embedding{'s' if done.count > 1 else ''} of {done.dimensions} dimensions "
        f"({done.model}) written to {done.path} ({done.uri}), one JSON line per text: index, text "
        f"(first {TEXT_SHOWN} characters), embedding. First vector starts {done.first}."
    )
    return result(text, done, [link])


def check(texts: list[str], model: str, dimensions: int | None) -> catalog.Model:
    """Refuse, in one line naming the limit, what the embeddings route would refuse."""
    entry = catalog.find(model)
    if entry is None or entry.kind != "embedding":
        models = [m.name for m in catalog.MODELS if m.kind == "embedding"]
        raise BadArguments(f"{model!r} is not an embedding model: use {' or '.join(models)}.")
    if entry.max_inputs is not None and len(texts) > entry.max_inputs:
        raise BadArguments(
            f"{len(texts)} texts; {entry.name} takes at most {entry.max_inputs} per call: split them."
        )
    blank = next((i for i, text in enumerate(texts) if not text.strip()), None)
    if blank is not None:
        raise BadArguments(f"texts[{blank}] is blank: the embeddings API refuses empty input.")
    if dimensions is not None and dimensions not in entry.dimensions:
        sizes = ", ".join(map(str, entry.dimensions))
        raise BadArguments(f"{entry.name} makes vectors of {sizes} dimensions, not {dimensions}.")
    return entry
