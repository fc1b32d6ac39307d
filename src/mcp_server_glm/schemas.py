"""Compact JSON schemas for `tools/list`: every byte there is paid for in each client's context.

Drops the titles pydantic generates and the `null` branch of optional fields (results leave unset
fields out rather than sending null, and arguments may simply be omitted), and writes each `$ref` to
`$defs` out in place: one self-contained schema, which every client reads and validates quickly.
Output schemas also lose their descriptions: a result is read by its fields' names and values, and the
tool's description says what it returns.
"""

from __future__ import annotations

from typing import Any

# Keys whose values are data, not schemas: never rewritten.
_DATA_KEYS = frozenset({"default", "enum", "const", "examples"})
# Keys whose values map names to schemas: the names are kept, the schemas compacted.
_MAP_KEYS = frozenset({"properties", "$defs", "patternProperties"})


def compact(schema: dict[str, Any]) -> dict[str, Any]:
    return _compact(_inline(schema, schema.get("$defs", {}), ()))


def compact_output(schema: dict[str, Any]) -> dict[str, Any]:
    """`compact`, and without descriptions (a field named "description" stays)."""
    return _compact(_inline(schema, schema.get("$defs", {}), ()), drop=frozenset({"title", "description"}))


def _inline(schema: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """`schema` with every `{"$ref": "#/$defs/X"}` replaced by X, and `$defs` gone; a recursive
    definition keeps its references (and `$defs` stays for them)."""
    if isinstance(schema, list):
        return [_inline(item, defs, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in defs and name not in seen and not _refers_to(defs[name], name, defs, ()):
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            return {**_inline(defs[name], defs, (*seen, name)), **rest}
    out = {
        key: value if key in _DATA_KEYS else _inline(value, defs, seen)
        for key, value in schema.items()
        if key != "$defs"
    }
    kept = {name: value for name, value in defs.items() if _refers_to(value, name, defs, ())}
    if "$defs" in schema and kept:
        out["$defs"] = {name: _inline(value, defs, seen) for name, value in kept.items()}
    return out


def _refers_to(schema: Any, name: str, defs: dict[str, Any], seen: tuple[str, ...]) -> bool:
    """Whether `schema` reaches `#/$defs/<name>`, directly or through other definitions."""
    if isinstance(schema, list):
        return any(_refers_to(item, name, defs, seen) for item in schema)
    if not isinstance(schema, dict):
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = ref.removeprefix("#/$defs/")
        if target == name:
            return True
        if target in defs and target not in seen:
            return _refers_to(defs[target], name, defs, (*seen, target))
    return any(_refers_to(value, name, defs, seen) for key, value in schema.items() if key not in _DATA_KEYS)


def _compact(schema: dict[str, Any], drop: frozenset[str] = frozenset({"title"})) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop and isinstance(value, str):
            continue
        if key in _DATA_KEYS:
            out[key] = value
        elif key in _MAP_KEYS and isinstance(value, dict):
            out[key] = {name: _compact(sub, drop) for name, sub in value.items()}
        elif isinstance(value, dict):
            out[key] = _compact(value, drop)
        elif isinstance(value, list):
            out[key] = [_compact(item, drop) if isinstance(item, dict) else item for item in value]
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
