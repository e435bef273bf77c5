"""Incremental policy: where a sync starts, which records are older than the bookmark, when a
newest-first list can stop, and the bookmark the server filters on.

Bookmarks are compared as instants (:func:`~tap_example.timestamps.parse_timestamp`); the SDK's
state holds them in the fixed-width UTC form of :func:`~tap_example.timestamps.bookmark_string`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from tap_example.definition.model import Incremental
from tap_example.engine.partition import PartitionState
from tap_example.errors import APIError, ConfigError
from tap_example.timestamps import bookmark_string, format_for_server, parse_timestamp


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
        self.state = state
        self.settings = settings
        self._lists_every_parent = lists_every_parent
        self._filter_cache: dict[str, datetime | None] = {}
        self._filter_last: tuple[Mapping[str, Any] | None, datetime | None] | None = None

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
            if start_date:
                value = self.state.compare_start_date(value, start_date) if value else start_date
        if value is None and self.spec:
            value = self.spec.initial_value
        return value

    def server_filter(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The query parameter that asks the server for records at or after the start."""
        spec = self.spec
        if not spec or not spec.start_param or self.lists_every_parent:
            return {}
        start = self.starting_value(context)
        if start is None:
            return {}
        text = format_for_server(start, spec.start_format)
        if text is None:
            msg = (
                f"stream '{self.stream_name}': the start value {start!r} (bookmark, start_date or "
                "initial_value) is not a date-time"
            )
            raise ConfigError(msg)
        return {spec.start_param: text}

    def is_older(self, record: Mapping[str, Any], context: Mapping[str, Any] | None) -> bool:
        """The client-side filter: a record older than the bookmark (or start) is not emitted
        again; one equal to it is (it may share its instant with an unseen one)."""
        if not self.replication_key:
            return False
        bookmark = self.filter_value(context)
        if bookmark is None:
            return False
        stamp = parse_timestamp(record.get(self.replication_key))
        return stamp is not None and stamp < bookmark

    def stop_below(self, context: Mapping[str, Any] | None) -> datetime | None:
        """On a newest-first list, paging can stop once a page reaches below this instant."""
        spec = self.spec
        if not spec or spec.row_order != "desc" or self.lists_every_parent:
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

    def oldest(self, records: Iterable[Mapping[str, Any]]) -> datetime | None:
        """The oldest replication-key instant among ``records``."""
        oldest: datetime | None = None
        key = self.replication_key or ""
        for record in records:
            stamp = parse_timestamp(record.get(key))
            if stamp is not None and (oldest is None or stamp < oldest):
                oldest = stamp
        return oldest

    def filter_value(self, context: Mapping[str, Any] | None) -> datetime | None:
        """The bookmark (or start) of the context's state partition, parsed once per partition."""
        last = self._filter_last
        if last is not None and last[0] is context:  # same context as the previous record
            return last[1]
        partition = self.state.state_partition(context) or {}
        key = json.dumps(partition, sort_keys=True, default=str)
        if key not in self._filter_cache:
            self._filter_cache[key] = parse_timestamp(self.starting_value(context))
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

    def __init__(self, stream_name: str) -> None:
        self.stream_name = stream_name
        self.key: str | None = None
        self.is_sorted = False
        self.partition = PartitionState()

    def start(self, key: str | None, is_sorted: bool, partition: PartitionState) -> None:
        """A partition's sync begins (the catalog may have changed the key since discovery)."""
        self.key, self.is_sorted, self.partition = key, is_sorted, partition

    def update(self, record: dict[str, Any]) -> dict[str, Any] | None:
        key = self.key
        if not key or record.get(key) is None:
            return record
        raw = record[key]
        value = bookmark_string(raw)
        if value is raw and not _is_bookmark(raw):
            msg = (
                f"stream '{self.stream_name}': replication key '{key}' holds {raw!r}, which is not "
                "a date-time (RFC 3339, a date, or epoch seconds or milliseconds); the record was "
                "sent, but no bookmark can be kept from it"
            )
            raise APIError(msg)
        if not self.is_sorted and isinstance(value, str):
            best = self.partition.partition_max
            if isinstance(best, str) and value <= best:
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
