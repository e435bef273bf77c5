"""Incremental policy: where a sync starts, which records are older than the bookmark, when a
newest-first list can stop, and the bookmark the server filters on.

Bookmarks are compared as instants (:func:`~tap_example.timestamps.parse_timestamp`), or as
numbers for a numeric cursor (:class:`~tap_example.engine.cursor.Cursor`); the SDK's state holds
instants in the fixed-width UTC form of :func:`~tap_example.timestamps.bookmark_string`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from tap_example.definition.model import Definition, Incremental
from tap_example.engine.cursor import MISSING, Cursor
from tap_example.engine.partition import PartitionState
from tap_example.errors import APIError, ConfigError
from tap_example.timestamps import bookmark_string


class StateView(Protocol):
    """What the policy reads of a stream's Singer state."""

    @property
    def tap_state(self) -> Mapping[str, Any]: ...

    def state_partition(self, context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The state partition ``context`` maps to (``None`` for the stream's own entry)."""

    def compare_start_date(self, value: str, start_date_value: str) -> str: ...


class IncrementalPolicy:
    """One stream's incremental behaviour, from its resource's ``incremental`` spec."""

    def __init__(
        self,
        stream_name: str,
        declared: Incremental | None,
        state: StateView,
        settings: Mapping[str, Any],
        *,
        lists_every_parent: Callable[[], bool],
    ) -> None:
        self.stream_name = stream_name
        #: The resource's ``incremental`` spec (used only when the stream's key is its cursor).
        self.declared = declared
        #: The incremental spec when the stream replicates incrementally, else ``None``.
        self.spec: Incremental | None = None
        self.replication_key: str | None = None
        self.cursor: Cursor | None = None
        self.state = state
        self.settings = settings
        self._lists_every_parent = lists_every_parent
        self._filter_cache: dict[str, Any] = {}
        self._filter_last: tuple[Mapping[str, Any] | None, Any] | None = None

    def resolve(self, replication_key: str | None, replication_method: str | None) -> None:
        """Follow the stream's replication as the catalog left it: ``FULL_TABLE`` or no key
        means no incremental behaviour at all (no filter from an old bookmark); the
        definition's cursor means its spec; another key chosen in the catalog is filtered on
        client-side only."""
        if not replication_key or replication_method == "FULL_TABLE":
            spec = None
        elif self.declared is not None and self.declared.cursor_path == replication_key:
            spec = self.declared
        else:
            spec = Incremental(cursor_path=replication_key)
        if spec != self.spec:
            self.spec = spec
            self.replication_key = spec.cursor_path if spec else None
            self.cursor = Cursor(self.stream_name, spec) if spec else None
            self._filter_cache.clear()
            self._filter_last = None

    @property
    def lists_every_parent(self) -> bool:
        """Some children need every parent each run: no server filter and no early stop here;
        the client filter still decides what is emitted."""
        return self._lists_every_parent()

    def starting_value(self, context: Mapping[str, Any] | None) -> Any:
        """Where this context's sync starts: the bookmark or ``start_date`` (the later one),
        else the definition's ``initial_value``.

        Inside the SDK's sync of the context this is the value it froze in state
        (``starting_replication_value``); a child's first request prepared ahead of that sync
        (see :mod:`tap_example.engine.concurrency`) works it out from state the same way.
        """
        saved = self._saved_state(context)
        if "starting_replication_value" in saved:
            value = saved["starting_replication_value"]
        else:
            value = saved.get("replication_key_value")
            if not value or saved.get("replication_key") != self.replication_key:
                value = None
            start_date = self.settings.get("start_date")
            if start_date and not (self.cursor and (self.cursor.numeric or self.cursor.descending)):
                value = self.state.compare_start_date(value, start_date) if value else start_date
        if value is None and self.spec:
            value = self.spec.initial_value
        return value

    def start_value(self, context: Mapping[str, Any] | None) -> Any:
        """:meth:`starting_value` stepped back by the spec's ``lag``."""
        start = self.starting_value(context)
        return self.cursor.lagged(start) if self.cursor else start

    def server_filter(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The query parameters that ask the server for the range: ``start_param`` (records at
        or after the start) and ``end_param`` (``end_value``)."""
        spec, cursor = self.spec, self.cursor
        if not spec or not cursor or self.lists_every_parent:
            return {}
        params: dict[str, Any] = {}
        for param, value, what in (
            (spec.start_param, self.start_value(context) if spec.start_param else None, "start"),
            (spec.end_param, spec.end_value, "end_value"),
        ):
            if not param or value is None:
                continue
            text = cursor.for_server(value)
            if text is None:
                msg = (
                    f"stream '{self.stream_name}': the {what} {value!r} (bookmark, start_date, "
                    "initial_value or end_value) is not a date-time; give a number as "
                    "initial_value for a numeric cursor"
                )
                raise ConfigError(msg)
            params[param] = text
        return params

    def placeholder_values(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """``{incremental.start_value}`` and friends, for paths, params and JSON bodies."""
        spec, cursor = self.spec, self.cursor
        if not spec or not cursor:
            return {}
        start = self.start_value(context)
        values = {
            "incremental.start_value": start,
            "incremental.last_value": start,
            "incremental.initial_value": spec.initial_value,
            "incremental.end_value": spec.end_value,
        }
        return {k: cursor.for_server(v) for k, v in values.items() if v is not None}

    def is_older(self, record: Mapping[str, Any], context: Mapping[str, Any] | None) -> bool:
        """The client-side filter: a record before the start (an equal one is emitted again
        unless ``range_start`` is open: it may share its instant with an unseen one), at or
        past ``end_value``, or without a cursor under ``on_cursor_value_missing: exclude``."""
        cursor = self.cursor
        if not self.replication_key or cursor is None:
            return False
        value = cursor.value(record)
        if value is MISSING:
            return True
        end = cursor.spec.end_value
        start = self.filter_value(context)
        if end is None and start is None:
            return False  # no range to be outside of (a first run): nothing to parse
        key = cursor.key(value)
        if key is None:
            return False
        if end is not None and cursor.after_end(key, cursor.key(end)):
            return True
        return cursor.before(key, start)

    def stop_below(self, context: Mapping[str, Any] | None) -> Any:
        """On a newest-first list, paging can stop once a page reaches below this value."""
        spec = self.spec
        if not spec or spec.row_order != "desc" or self.lists_every_parent:
            return None
        if self.cursor is None or self.cursor.descending:
            return None
        return self.filter_value(context)

    def passed_bookmark(
        self, records: Iterable[Mapping[str, Any]], context: Mapping[str, Any] | None
    ) -> bool:
        """On a newest-first list: this page reached below the bookmark, so later pages hold
        nothing new and paging can stop after it."""
        stop_below = self.stop_below(context)
        if stop_below is None:
            return False
        oldest = self.oldest(records)
        return oldest is not None and oldest < stop_below

    def oldest(self, records: Iterable[Mapping[str, Any]]) -> Any:
        """The smallest cursor value among ``records`` (an instant, or a number)."""
        oldest: Any = None
        cursor = self.cursor
        if cursor is None:
            return None
        for record in records:
            value = cursor.value(record)
            stamp = cursor.key(value) if value is not MISSING else None
            if stamp is not None and (oldest is None or stamp < oldest):
                oldest = stamp
        return oldest

    def filter_value(self, context: Mapping[str, Any] | None) -> Any:
        """The start of the context's state partition (lag applied), parsed once per partition."""
        last = self._filter_last
        if last is not None and last[0] is context:  # same context as the previous record
            return last[1]
        partition = self.state.state_partition(context) or {}
        key = json.dumps(partition, sort_keys=True, default=str)
        if key not in self._filter_cache:
            start = self.start_value(context)
            self._filter_cache[key] = self.cursor.key(start) if self.cursor else None
        value = self._filter_cache[key]
        self._filter_last = (context, value)
        return value

    def _saved_state(self, context: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """This context's state entry, read without creating one."""
        entry = (self.state.tap_state.get("bookmarks") or {}).get(self.stream_name) or {}
        partition = self.state.state_partition(context)
        if not partition:
            return entry
        partitions = entry.get("partitions") or []
        return next((p for p in partitions if p.get("context") == partition), {})


class BookmarkTracker:
    """What the SDK's state step gets of each record of a partition.

    Only the replication key, as a :func:`bookmark_string` so the SDK's string maximum is right
    (bookmarks from an incoming state file are brought to that form when the tap loads it).
    ``None`` skips the step: on an unsorted stream the SDK keeps the maximum, so a value not
    above the partition's maximum so far changes nothing.
    """

    def __init__(self, stream_name: str, policy: IncrementalPolicy | None = None) -> None:
        self.stream_name = stream_name
        self.policy = policy
        self.key: str | None = None
        self.is_sorted = False
        self.partition = PartitionState()

    def start(self, key: str | None, is_sorted: bool, partition: PartitionState) -> None:
        """A partition's sync begins (the catalog may have changed the key since discovery)."""
        self.key, self.is_sorted, self.partition = key, is_sorted, partition

    def update(self, record: dict[str, Any]) -> dict[str, Any] | None:
        key = self.key
        cursor = self.policy.cursor if self.policy is not None else None
        if not key:
            return record
        if cursor is None:
            raw = record.get(key)
        elif cursor.spec.end_value is not None:
            return None  # a backfill to end_value keeps no bookmark (as dlt)
        else:
            raw = cursor.value(record)
            if raw is MISSING:
                return None
        if raw is None:
            return record if cursor is None else None
        if cursor is not None and (cursor.numeric or cursor.descending):
            return self._ordered(key, cursor, raw)
        value = bookmark_string(raw)
        if value is raw and not _is_bookmark(raw):
            msg = (
                f"stream '{self.stream_name}': replication key '{key}' holds {raw!r}, which is not "
                "a date-time (RFC 3339, a date, or epoch seconds or milliseconds); the record was "
                "sent, but no bookmark can be kept from it (a numeric cursor needs a number as "
                "initial_value)"
            )
            raise APIError(msg)
        if not self.is_sorted and isinstance(value, str):
            best = self.partition.partition_max
            if isinstance(best, str) and value <= best:
                return None
            self.partition.partition_max = value
        return {key: value}

    def _ordered(self, key: str, cursor: Cursor, raw: Any) -> dict[str, Any] | None:
        """Numbers (compared as numbers) and ``min`` cursors: only a value that moves the
        bookmark on reaches the SDK (``min`` streams tell the SDK not to check the order)."""
        value = raw if cursor.numeric else bookmark_string(raw)
        ordered = cursor.key(value)
        if ordered is None:
            kind = "a number" if cursor.numeric else "a date-time"
            msg = (
                f"stream '{self.stream_name}': cursor '{cursor.spec.cursor_path}' holds {raw!r}, "
                f"which is not {kind}; the record was sent, but no bookmark can be kept from it"
            )
            raise APIError(msg)
        best = self.partition.partition_max
        if best is not None and not cursor.better(ordered, cursor.key(best)):
            return None
        self.partition.partition_max = value
        return {key: value}


def _is_bookmark(value: Any) -> bool:
    """Already the fixed-width bookmark form (the usual case: checked without parsing)."""
    return (
        type(value) is str
        and len(value) == 27
        and value[-1] == "Z"
        and value[10] == "T"
        and value[19] == "."
    )


def normalise_bookmarks(state: Mapping[str, Any], definition: Definition) -> None:
    """Bring an incoming state's bookmarks into the fixed-width UTC form the streams write
    (:func:`bookmark_string`), once, so comparisons hold; numeric cursors keep their numbers."""
    numeric = {r.name for r in definition.resources if r.incremental and r.incremental.numeric}
    for name, stream_state in (state.get("bookmarks") or {}).items():
        if name in numeric:
            continue
        for entry in [stream_state, *(stream_state.get("partitions") or [])]:
            if entry.get("replication_key_value") is not None:
                entry["replication_key_value"] = bookmark_string(entry["replication_key_value"])


#: The key of a stream's state entry that says which API and base URL wrote its bookmarks.
STATE_SOURCE_KEY = "source"


def drop_foreign_bookmarks(
    state: Mapping[str, Any], source: Mapping[str, str]
) -> dict[str, Mapping[str, str]]:
    """Remove the bookmarks written for another API or base URL than ``source`` (their streams
    are then extracted in full); the streams dropped, with where their bookmarks came from.
    Entries without a source (state of an older tap-example) are kept."""
    dropped: dict[str, Mapping[str, str]] = {}
    bookmarks = state.get("bookmarks") or {}
    for name in list(bookmarks):
        entry = bookmarks[name]
        written_for = entry.get(STATE_SOURCE_KEY) if isinstance(entry, dict) else None
        if written_for is not None and dict(written_for) != dict(source):
            dropped[name] = written_for
            del bookmarks[name]
    return dropped


def describe_foreign_bookmarks(
    dropped: Mapping[str, Mapping[str, str]], source: Mapping[str, str]
) -> str:
    """One line for :func:`drop_foreign_bookmarks`' result."""
    first = next(iter(dropped.values()))
    return (
        f"the state holds bookmarks of {', '.join(sorted(dropped))} written for API "
        f"'{first.get('api')}' at {first.get('base_url')}, not for API '{source['api']}' at "
        f"{source['base_url']}; they are ignored and these streams are extracted in full "
        "(give each API and base URL its own state, see the README's incremental section)"
    )


def opted_in(
    declared: Incremental | None, replication_key: str | None, forced_method: str | None
) -> str | None:
    """The replication method after a catalog is applied. Discovery offers an opt-in cursor as
    a valid replication key only, so its catalog entry says ``FULL_TABLE``; a catalog that
    chooses that key (``replication-key``) opts the stream in, whatever that entry says."""
    if (
        declared is not None
        and declared.opt_in
        and replication_key == declared.cursor_path
        and forced_method == "FULL_TABLE"
    ):
        return "INCREMENTAL"
    return forced_method
