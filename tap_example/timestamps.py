"""Timestamps in the forms real APIs use, compared as instants, written in one UTC form.

Accepted (:func:`parse_timestamp`): RFC 3339 with ``Z`` or an offset and any number of
fractional digits, a date alone (midnight UTC), a date and time without a zone
(``2024-05-01 12:34:56``, taken as UTC), other ISO 8601 spellings (via ``pendulum``), and epoch
seconds or milliseconds as numbers or numeric strings (a magnitude of 10^11 or more counts
milliseconds: 10^11 seconds is the year 5138). The common RFC 3339 forms are parsed by the
standard library (per record, so they stay fast); ``pendulum`` reads the rest.

Records leave the tap with UTC ``Z`` timestamps (DuckDB's loader drops offsets); bookmarks are
stored in one fixed width so that comparing them as strings, as the SDK does, compares instants.
A server filter gets the bookmark in the form its API expects (:func:`format_for_server`).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

#: Numbers at least this large count milliseconds since the epoch, smaller ones seconds.
EPOCH_MILLISECONDS_FROM = 100_000_000_000
#: A numeric string read as epoch seconds or milliseconds (9+ digits: ``20240501`` is a date).
_EPOCH_TEXT = re.compile(r"-?\d{9,}(?:\.\d+)?")
#: The forms :func:`format_for_server` knows besides a pendulum format pattern.
SERVER_FORMATS = ("rfc3339", "date", "epoch", "epoch_ms")


def parse_timestamp(value: Any) -> datetime | None:
    """``value`` as an aware UTC datetime; ``None`` if it is not a timestamp in any form above."""
    if (
        type(value) is str
        and len(value) == 20
        and value[19] == "Z"
        and value[10] == "T"
        and value[13] == ":"
        and value[16] == ":"
    ):  # the usual ``2024-05-01T12:34:56Z`` (once per record): read as it is
        try:
            parsed = datetime.fromisoformat(value[:19])
        except ValueError:
            parsed = None  # the general path below decides
        if parsed is not None and parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(value)
    if not isinstance(value, str) or not value:
        return None
    if _EPOCH_TEXT.fullmatch(value.strip()):
        return _from_epoch(float(value))
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
        return _parse_other(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _from_epoch(number: float) -> datetime | None:
    seconds = number / 1000 if abs(number) >= EPOCH_MILLISECONDS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_other(text: str) -> datetime | None:
    """ISO 8601 spellings the standard library does not read (``20240501T123456Z``, week
    dates, ...), by ``pendulum``; imported on first use only."""
    import pendulum
    from pendulum.parsing.exceptions import ParserError

    try:
        parsed = pendulum.parse(text)
    except (ParserError, ValueError, TypeError):
        return None
    if not isinstance(parsed, datetime):
        return None  # a duration or a time of day alone is no instant
    return parsed.astimezone(timezone.utc)


def instant(value: Any) -> datetime:
    """:func:`parse_timestamp` for values known to be timestamps (the far past otherwise), as a
    sort key."""
    return parse_timestamp(value) or datetime.min.replace(tzinfo=timezone.utc)


_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_date_text(value: Any) -> bool:
    """A calendar date without a time (``YYYY-MM-DD``): dlt's date cursor, not a date-time."""
    return isinstance(value, str) and _DATE_TEXT.fullmatch(value) is not None


def format_for_server(value: Any, form: str) -> str | None:
    """A start value in the form a server filter expects: ``rfc3339`` (UTC ``Z``), ``date``
    (``YYYY-MM-DD``), ``epoch`` (seconds), ``epoch_ms``, or a ``pendulum`` format pattern such
    as ``YYYY-MM-DD HH:mm:ss``; ``None`` when ``value`` is no timestamp."""
    moment = parse_timestamp(value)
    if moment is None:
        return None
    moment = moment.astimezone(timezone.utc)
    if form == "rfc3339":
        text = to_utc_string(value if isinstance(value, str) else moment.isoformat())
        return str(text)
    if form == "date":
        return moment.date().isoformat()
    if form == "epoch":
        return str(int(moment.timestamp()))
    if form == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    import pendulum

    return str(pendulum.instance(moment).format(form))


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
