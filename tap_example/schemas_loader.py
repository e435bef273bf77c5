"""Where a stream's JSON schema comes from: the built-in schema package or the user's file,
with the resource's dlt ``columns`` hints merged over it (:func:`with_column_hints`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tap_example.definition import Definition, Resource
from tap_example.definition.model import COLUMN_TYPES, ColumnHint
from tap_example.errors import DefinitionError


def load_stream_schema(resource: Resource, definition: Definition) -> dict[str, Any] | None:
    """Read the schema file named for ``resource``; a missing one is a definition error.

    ``None`` for a user resource without ``schema``: discovery infers one (``inference.py``).
    """
    path = resource.schema_file
    if path is None:
        return None
    if not path.is_file():
        msg = f"{definition.origin}: resource '{resource.name}': no schema file (expected {path})"
        raise DefinitionError(msg)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DefinitionError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(schema, dict) or "properties" not in schema:
        raise DefinitionError(f"{path}: a stream schema must be an object schema with 'properties'")
    return with_column_hints(schema, resource.columns)


#: Keys of a property that describe its type (replaced by a column hint's ``data_type``).
_TYPE_KEYS = ("type", "format", "anyOf", "oneOf", "contentEncoding")


def with_column_hints(schema: dict[str, Any], hints: Mapping[str, ColumnHint]) -> dict[str, Any]:
    """``schema`` with each hinted column's type from its dlt ``data_type`` (``timestamp``: a
    date-time string, ``json``: an object or array, ...) and ``null`` allowed unless
    ``nullable: false``; the property's other keys stay, nested ones only for ``json``."""
    if not hints:
        return schema
    properties = dict(schema.get("properties") or {})
    for name, hint in hints.items():
        prop = dict(properties.get(name) or {})
        if hint.data_type is not None:
            drop = _TYPE_KEYS if hint.data_type == "json" else (*_TYPE_KEYS, "properties", "items")
            prop = {k: v for k, v in prop.items() if k not in drop}
            prop.update(json.loads(json.dumps(COLUMN_TYPES[hint.data_type])))
        nullable = hint.nullable if hint.nullable is not None else hint.data_type is not None
        if "type" in prop and (hint.nullable is not None or hint.data_type is not None):
            kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
            kinds = [k for k in kinds if k != "null"] + (["null"] if nullable else [])
            prop["type"] = kinds[0] if len(kinds) == 1 else kinds
        if hint.description:
            prop["description"] = hint.description
        properties[name] = prop
    return {**schema, "properties": properties}
