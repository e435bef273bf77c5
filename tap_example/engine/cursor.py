"""An incremental cursor as dlt reads it: the value at ``cursor_path`` (a dot path), compared
as an instant or, for numeric cursors, as a number; ``last_value_func`` (``max``/``min``),
``lag``, ``range_start`` / ``range_end`` and ``on_cursor_value_missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tap_example.definition.model import Incremental
from tap_example.errors import APIError
from tap_example.timestamps import format_for_server, is_date_text, parse_timestamp

#: What a record without its cursor gets from :meth:`Cursor.value`.
MISSING = object()


class Cursor:
    """One incremental spec's reading and ordering of cursor values."""

    def __init__(self, stream_name: str, spec: Incremental) -> None:
        self.stream_name = stream_name
        self.spec = spec
        self.path = tuple(spec.cursor_path.split("."))
        self.numeric = spec.numeric
        self.descending = spec.last_value_func == "min"

    def value(self, record: Mapping[str, Any]) -> Any:
        """The record's cursor value; ``None`` when it is missing or null and that is allowed
        (``include``), :data:`MISSING` when the record is to be dropped (``exclude``)."""
        node: Any = record
        for part in self.path:  # a dict is a Mapping: no ABC check per record for the usual one
            node = node.get(part) if type(node) is dict or isinstance(node, Mapping) else None
        if node is not None:
            return node
        policy = self.spec.on_cursor_value_missing
        if policy == "exclude":
            return MISSING
        if policy == "raise":
            msg = (
                f"stream '{self.stream_name}': a record has no value at cursor_path "
                f"'{self.spec.cursor_path}' (on_cursor_value_missing is 'raise'; set it to "
                "'include' or 'exclude' to keep or drop such records)"
            )
            raise APIError(msg)
        return None

    def key(self, value: Any) -> Any:
        """``value`` as something ordered: a float for numeric cursors, else an instant;
        ``None`` when it is neither."""
        if value is None:
            return None
        if self.numeric:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
        return parse_timestamp(value)

    def before(self, key: Any, start: Any) -> bool:
        """``key`` lies before the range's start (``range_start`` closed keeps an equal one)."""
        if key is None or start is None:
            return False
        if key == start:
            return self.spec.range_start == "open"
        return bool(key > start if self.descending else key < start)

    def after_end(self, key: Any, end: Any) -> bool:
        """``key`` lies at or past ``end_value`` (``range_end`` closed keeps an equal one)."""
        if key is None or end is None:
            return False
        if key == end:
            return self.spec.range_end == "open"
        return bool(key < end if self.descending else key > end)

    def better(self, key: Any, best: Any) -> bool:
        """``key`` moves the bookmark on from ``best`` (above it for max, below for min)."""
        return best is None or (key < best if self.descending else key > best)

    def lagged(self, value: Any) -> Any:
        """A bookmark stepped back by ``lag`` (dlt's ``apply_lag``), never past
        ``initial_value``."""
        lag = self.spec.lag
        if not lag or value is None:
            return value
        key = self.key(value)
        if key is None:
            return value
        in_days = not self.numeric and self.counts_days(value)
        step: Any = (
            lag if self.numeric else timedelta(days=lag) if in_days else timedelta(seconds=lag)
        )
        moved = key + step if self.descending else key - step
        if in_days and not is_date_text(value):  # dlt: a whole day, from its start (or end)
            moved = moved.replace(hour=0, minute=0, second=0, microsecond=0)
            if self.descending:
                moved += timedelta(days=1, microseconds=-1)
        initial = self.key(self.spec.initial_value)
        if initial is not None and self.before(moved, initial) and moved != initial:
            return self.spec.initial_value
        if self.numeric:
            return int(moved) if isinstance(value, int) and moved == int(moved) else moved
        if is_date_text(value):  # dlt keeps the value's shape: a date stays a date
            return moved.date().isoformat()
        return moved.isoformat().replace("+00:00", "Z")

    def counts_days(self, value: Any) -> bool:
        """dlt's unit for ``lag``: days on a date cursor (``initial_value`` a date, or else the
        value itself one), seconds on a date-time cursor."""
        declared = self.spec.initial_value
        return is_date_text(declared if declared is not None else value)

    def for_server(self, value: Any) -> Any:
        """``value`` as a query parameter sends it (numbers as they are)."""
        if self.numeric:
            return value
        return format_for_server(value, self.spec.start_format)
