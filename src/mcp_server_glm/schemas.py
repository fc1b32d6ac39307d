"""Compact JSON schemas for `tools/list`: every byte there is paid for in each client's context.

Drops the titles pydantic generates and the `null` branch of optional fields (results leave unset
fields out rather than sending null, and arguments may simply be omitted).
"""

from __future__ import annotations

from typing import Any

# Keys whose values are data, not schemas: never rewritten.
_DATA_KEYS = frozenset({"default", "enum", "const", "examples"})
# Keys whose values map names to schemas: the names are kept, the schemas compacted.
_MAP_KEYS = frozenset({"properties", "$defs", "patternProperties"})


def compact(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _DATA_KEYS:
            out[key] = value
        elif key in _MAP_KEYS and isinstance(value, dict):
            out[key] = {name: compact(sub) for name, sub in value.items()}
        elif isinstance(value, dict):
            out[key] = compact(value)
        elif isinstance(value, list):
            out[key] = [compact(item) if isinstance(item, dict) else item for item in value]
        else:
            out[key] = value
    return _drop_null_branch(out)


def _drop_null_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """`{"anyOf": [X, {"type": "null"}], "default": null}` becomes X (with the other keys kept)."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return schema
    rest = [branch for branch in branches if branch != {"type": "null"}]
    merged = {key: value for key, value in schema.items() if key != "anyOf"}
    if merged.get("default", 0) is None:
        del merged["default"]
    if len(rest) == 1:
        return {**rest[0], **merged}
    return {**merged, "anyOf": rest}
