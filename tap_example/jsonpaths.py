"""Dot paths into decoded JSON, compiled once per definition instead of parsed per page."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
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


#: A selector the dot-path getter reads exactly as JSONPath would: ``data``, ``a.b``,
#: ``$.a.b[*]``, ``$``; anything else (filters, wildcards, slices, ``..``) goes to jsonpath-ng.
_PLAIN_SELECTOR = re.compile(r"^(?:\$|\$\.)?(?:[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)?(?:\[\*\])?$")


def is_plain_selector(path: str) -> bool:
    """Whether ``path`` is a plain dot path (read without jsonpath-ng)."""
    text = path.strip()
    return bool(_PLAIN_SELECTOR.match(text)) and not (text.endswith("[*]") and "$" not in text)


@lru_cache(maxsize=256)
def parse_jsonpath(path: str) -> Any:
    """``path`` parsed by jsonpath-ng's extended parser (filters, arithmetic), as dlt parses
    a ``data_selector``; a :class:`ValueError` says what is wrong with it."""
    from jsonpath_ng.exceptions import JSONPathError
    from jsonpath_ng.ext.parser import parse

    try:
        return parse(path)
    except (JSONPathError, ValueError, TypeError, AttributeError) as exc:
        msg = f"not a valid JSONPath ({str(exc).strip() or type(exc).__name__}): {path!r}"
        raise ValueError(msg) from None


def check_selector(path: str) -> None:
    """Raise :class:`ValueError` for a ``data_selector`` that is neither a dot path nor JSONPath."""
    if not is_plain_selector(path):
        parse_jsonpath(path.strip())


def compile_selector(path: str) -> Callable[[Any], Any]:
    """A getter for a ``data_selector``: plain dot paths as :func:`compile_path` (the fast path);
    full JSONPath (``$.data[*].items[*]``, ``data[?(@.active)]``, ``$..id``) through jsonpath-ng,
    compiled here once, giving what dlt's ``extract_response`` gives: the one match when it is a
    list, otherwise the list of matches (one record per match); no match at all is
    :data:`MISSING` when the path's leading keys are absent from the document (a typo, or a
    HAL-style omitted list), else an empty list."""
    if is_plain_selector(path):
        return compile_path(path)
    expression = parse_jsonpath(path.strip())
    anchor = _leading_keys(path)
    anchor_getter = compile_path(anchor) if anchor else None

    def get(document: Any) -> Any:
        matches = [match.value for match in expression.find(document)]
        if len(matches) == 1 and (isinstance(matches[0], list) or matches[0] is None):
            return matches[0] if matches[0] is not None else []
        if not matches and anchor_getter is not None and anchor_getter(document) is MISSING:
            return MISSING
        return matches

    return get


def _leading_keys(path: str) -> tuple[str, ...]:
    """The plain keys a JSONPath starts with (``$.data[*].items`` -> ``('data',)``); none for
    a recursive descent (``$..id``)."""
    text = path.strip().removeprefix("$")
    if text.startswith(".."):
        return ()
    head = re.match(r"^\.?([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)(?=$|[.\[])", text)
    return tuple(head.group(1).split(".")) if head else ()
