"""Dot paths into decoded JSON, compiled once per definition instead of parsed per page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: Marks a path that does not exist in a document (distinct from an explicit ``null``).
MISSING: Any = type(
    "Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False}
)()

_SIMPLE_JSONPATH = re.compile(r"^\$(?:\.[^.\[\]]+)*(?:\[\*\])?$")


def split_path(path: str) -> tuple[str, ...]:
    """Split ``a.b.c`` (or the simple JSONPath ``$.a.b[*]``) into its keys.

    ``""``, ``"$"`` and ``"$[*]"`` mean the document itself.
    """
    text = path.strip()
    if text.startswith("$"):
        if not _SIMPLE_JSONPATH.match(text):
            msg = f"only dot paths such as 'data.items' or '$.data.items[*]' are supported, not {path!r}"
            raise ValueError(msg)
        text = text[1:].removesuffix("[*]").lstrip(".")
    if not text:
        return ()
    keys = tuple(text.split("."))
    if any(not key for key in keys):
        msg = f"empty key in path {path!r}"
        raise ValueError(msg)
    return keys


def compile_path(path: str | tuple[str, ...]) -> Callable[[Any], Any]:
    """Return a getter for ``path`` that yields :data:`MISSING` where the path is absent."""
    keys = split_path(path) if isinstance(path, str) else path

    if len(keys) == 1:
        (only,) = keys

        def get_one(document: Any) -> Any:
            if isinstance(document, dict):
                return document.get(only, MISSING)
            return MISSING

        return get_one

    def get(document: Any) -> Any:
        value = document
        for key in keys:
            if isinstance(value, dict):
                value = value.get(key, MISSING)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return MISSING
            if value is MISSING:
                return MISSING
        return value

    return get
