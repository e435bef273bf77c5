"""Where a value goes: origins, query strings and JSON bodies."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def host_of(url: str) -> str:
    """``scheme://host:port`` of a URL, for same-origin checks."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def set_in(body: Mapping[str, Any] | None, dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``body`` with ``value`` set at the dot path ``dotted``."""
    result: dict[str, Any] = dict(body or {})
    keys = dotted.split(".")
    node = result
    for key in keys[:-1]:
        child = dict(node.get(key) or {})
        node[key] = child
        node = child
    node[keys[-1]] = value
    return result


def without_params(url: str, names: Mapping[str, Any]) -> str:
    """``url`` without the query parameters called ``names``."""
    return _without(url, lambda name, _: name in names)


def without_values(url: str, values: Collection[str]) -> str:
    """``url`` without the query parameters whose value is one of ``values`` (whatever their
    name: a credential a server echoed into a link)."""
    if "?" not in url or not values:
        return url
    return _without(url, lambda _, value: value in values)


def _without(url: str, drop: Callable[[str, str], bool]) -> str:
    """``url`` without the query parameters ``drop`` picks (the same URL when none)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if not drop(name, value)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def is_link(value: Any) -> bool:
    """A value that reads as a URL (absolute, or relative to the host)."""
    return isinstance(value, str) and (value.startswith(("http://", "https://", "/")))
