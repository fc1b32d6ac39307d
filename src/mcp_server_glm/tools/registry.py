"""The tools this server has: the one place a tool is registered, by its module (which declares `SPEC`).

The order is the order of tools/list, of the instructions and of every generated list of tools.
"""

MODULES = (
    "chat",
    "search",
    "images",
    "videos",
    "tasks",
    "audio",
    "speak",
    "read_webpage",
    "parse_document",
    "translate",
    "embed",
    "rerank",
    "count_tokens",
)
