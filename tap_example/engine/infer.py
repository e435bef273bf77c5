"""JSON schemas inferred from records: the typing rules shared by discovery and schema evolution.

``null``/``boolean``/``integer``/``number``/``string``/``object``/``array`` from the JSON values
seen; integers and floats together make ``number``; strings that are all RFC 3339 date-times get
``format: date-time`` (all ``YYYY-MM-DD``: ``date``); objects and arrays are inferred
recursively. Every property may be null - a sample proves what a field *can* hold, not that it
is never null - except required fields (keys), which are non-null when every record has them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_JSON_TYPES = ("null", "boolean", "integer", "number", "string", "object", "array")


# --------------------------------------------------------------------------- typing


def infer_schema(
    records: Sequence[Mapping[str, Any]], *, required: Iterable[str] = ()
) -> dict[str, Any]:
    """An object schema describing ``records``; ``required`` fields are non-null where seen."""
    schema = _object_schema(records)
    for name in required:
        prop = schema["properties"].get(name)
        if prop is None or not all(r.get(name) is not None for r in records):
            continue
        types = [t for t in schema_types(prop) if t != "null"]
        if types:
            prop["type"] = types[0] if len(types) == 1 else types
    return schema


def _object_schema(objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    names: dict[str, None] = {}
    for item in objects:
        names.update(dict.fromkeys(item))
    return {
        "type": "object",
        "properties": {
            name: value_schema([item[name] for item in objects if name in item]) for name in names
        },
    }


def value_schema(values: Sequence[Any]) -> dict[str, Any]:
    """Schema of one field from every value it took; always nullable."""
    seen = {json_type(value) for value in values}
    seen.add("null")
    if {"integer", "number"} <= seen:
        seen.discard("integer")
    types = [t for t in _JSON_TYPES if t in seen]
    schema: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if "string" in seen and len(types) == 2:
        strings = [v for v in values if isinstance(v, str)]
        if strings and all(_DATE_TIME.match(s) for s in strings):
            schema["format"] = "date-time"
        elif strings and all(_DATE.match(s) for s in strings):
            schema["format"] = "date"
    if "object" in seen:
        schema["properties"] = _object_schema([v for v in values if isinstance(v, dict)])[
            "properties"
        ]
    if "array" in seen:
        items = [item for v in values if isinstance(v, list) for item in v]
        schema["items"] = value_schema(items) if items else {}
    return schema


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def schema_types(prop: Mapping[str, Any]) -> list[str]:
    kind = prop.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)
