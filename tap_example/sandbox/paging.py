"""Paging building blocks shared by the fake APIs: parameters, opaque cursors, links."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from .fakedata import parse_timestamp
from .wire import ApiError, Request

Record = dict[str, Any]


def int_param(query: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    """An integer query parameter; a malformed or too small value is the client's fault (400)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ApiError(400, f"query parameter {name!r} must be >= {minimum}, got {value}")
    return value


def int_value(value: Any, name: str, default: int, *, minimum: int = 1) -> int:
    """The same check for a field of a JSON body."""
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ApiError(400, f"{name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def encode_cursor(after: str | int) -> str:
    """An opaque cursor naming the last key already served (urlsafe base64 of JSON)."""
    raw = json.dumps({"after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, name: str) -> str | int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ApiError(400, f"invalid {name!r} cursor: {cursor!r}") from None
    if not isinstance(after, (str, int)) or isinstance(after, bool):
        raise ApiError(400, f"invalid {name!r} cursor: {cursor!r}")
    return after


def page_after(
    records: Sequence[Record], key: str, after: str | int | None, limit: int
) -> tuple[list[Record], bool]:
    """Keyset paging over records sorted by `key`: the next `limit` after `after`, and has_more.

    Keyset (not offset) cursors stay correct when records are added between pages.
    """
    start = 0 if after is None else bisect.bisect_right(records, after, key=lambda r: r[key])
    page = list(records[start : start + limit])
    return page, start + limit < len(records)


def since(
    records: Sequence[Record], field: str, value: str | None, name: str, *, inclusive: bool
) -> list[Record]:
    """Server-side incremental filter: records whose `field` is after (or at) `value`."""
    if value is None or value == "":
        return list(records)
    try:
        bound = parse_timestamp(value)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} is not a timestamp: {value!r}") from None
    keep: Callable[[int], bool] = (lambda t: t >= bound) if inclusive else (lambda t: t > bound)
    return [r for r in records if r.get(field) and keep(parse_timestamp(r[field]))]


def page_count(total: int, size: int) -> int:
    return -(-total // size)


def url_with(request: Request, **params: Any) -> str:
    """Absolute URL of this request with some query parameters replaced (others kept)."""
    query = {**request.query, **{name: str(value) for name, value in params.items()}}
    return f"{request.origin}{request.path}?{urlencode(query)}"
