"""Timestamps: parsing RFC 3339 in every spelling servers use, UTC output, bookmark form.

Records leave the tap with UTC ``Z`` timestamps (DuckDB's loader drops offsets); bookmarks are
stored in one fixed width so that comparing them as strings, as the SDK does, compares instants.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 string (or datetime) as an aware UTC datetime; ``None`` if it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python 3.10 only parses 3 or 6 fractional digits
        head, _, tail = text.partition(".")
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        zone = tail[len(digits) :]
        text = f"{head}.{(digits + '000000')[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def to_utc_string(value: Any) -> Any:
    """Timestamps leave the tap in UTC with ``Z`` (DuckDB's loader drops offsets)."""
    if not isinstance(value, str) or value.endswith("Z"):
        return value
    parsed = parse_timestamp(value)
    if parsed is None:
        return value
    text = parsed.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def bookmark_string(value: Any) -> Any:
    """A timestamp as fixed-width UTC (``2024-05-01T12:34:56.000000Z``); other values unchanged.

    The SDK keeps the larger bookmark by comparing strings, and ``...56Z`` sorts after
    ``...56.5Z``: with one width for every instant, string order is time order.
    """
    if (
        isinstance(value, str)
        and value.endswith("Z")
        and len(value) in (20, 27)
        and value[10] == "T"
    ):
        if len(value) == 27 and value[19] == ".":
            return value  # already the bookmark form
        if len(value) == 20:
            return value[:19] + ".000000Z"  # whole seconds: no parsing needed (once per record)
    parsed = parse_timestamp(value)
    if parsed is None:
        return value
    utc = parsed.astimezone(timezone.utc)
    if utc.year >= 1000:  # same text as strftime below, several times faster (once per record)
        return utc.isoformat(timespec="microseconds")[:-6] + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
