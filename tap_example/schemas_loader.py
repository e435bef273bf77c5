"""Where a stream's JSON schema comes from: the built-in schema package or the user's file."""

from __future__ import annotations

import json
from typing import Any

from tap_example.definition import Definition, Resource
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
    return schema
