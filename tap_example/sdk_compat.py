"""The one seam to private singer_sdk code: every private SDK name the tap uses or overrides.

Nothing else in ``tap_example`` may touch a private singer_sdk name (a test scans the package).
Each name here has a guard in ``tests/test_sdk_compat.py`` that fails with a clear message when
an SDK release renames it or changes its signature, so an upgrade fails loudly in one place.

What the tap relies on, and why:

- ``singer_sdk.helpers._typing`` (``_conform_record_data_types``, ``_conform_primitive_property``,
  ``_is_exclusive_boolean_type``, ``_warn_unmapped_properties``, ``is_object_type``,
  ``is_uniform_list``), ``singer_sdk.helpers._catalog.pop_deselected_record_properties`` and
  ``singer_sdk.helpers._util.utc_now``: the compiled record path
  (:mod:`tap_example.engine.conform`) falls back to the SDK's own functions for unusual values.
- ``Stream._generate_record_messages``, ``Stream._write_record_message``: records go through the
  compiled record path and, with :class:`~tap_example.engine.writer.FastSingerWriter`, out as
  plain values (no message object per record).
- ``Stream._increment_stream_state``: bookmarks in fixed-width UTC form; unsorted streams skip
  the SDK's per-record bookkeeping below the partition's maximum.
- ``Stream._write_schema_message``: one SCHEMA per stream and run, not one per parent record.
- ``Stream._tap``, ``Stream._stream_version``: the writer and the version of RECORD messages.
- ``Stream._metadata``: the cached catalog metadata, dropped when discovery sampling adds fields.
- ``RESTStream._prepare_request``, ``RESTStream._request``: a request prepared and sent exactly
  as the SDK's paging loop will (pages and child partitions fetched ahead); a page requested
  ahead is not prepared a second time when the loop gets to it.
- ``Stream._sync_records``, ``Stream._write_batch_message``, ``Stream._write_state_message``: a
  child stream's BATCH files gathered across its partitions (``engine/batching.py``).
- ``PluginBase._validate_config``: the SDK's config check, reported as one line per setting.
- ``Tap.sync_all`` (public but final), ``Tap._reset_state_progress_markers``,
  ``Tap._set_compatible_replication_methods``: the SDK's sync loop, the same steps, with the
  top-level streams synced together (``max_parallel_streams``, ``engine/streamgroup.py``); a
  guard pins the SDK's source of ``sync_all`` so that a change in it is seen here first.
- ``Tap._handle_termination``: the last STATE of a terminated run written between two turns.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from types import FrameType
from typing import Any

import requests
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk import singerlib as singer
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _conform_record_data_types,
    _is_exclusive_boolean_type,
    _warn_unmapped_properties,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.helpers._util import utc_now
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_example.engine.incremental import BookmarkTracker
from tap_example.engine.writer import FastSingerWriter
from tap_example.errors import ConfigError

conform_record_data_types = _conform_record_data_types
conform_primitive_property = _conform_primitive_property
is_exclusive_boolean_type = _is_exclusive_boolean_type
warn_unmapped_properties = _warn_unmapped_properties

__all__ = [
    "SDKStreamHooks",
    "SDKTapHooks",
    "conform_primitive_property",
    "conform_record_data_types",
    "is_exclusive_boolean_type",
    "is_object_type",
    "is_uniform_list",
    "pop_deselected_record_properties",
    "utc_now",
    "warn_unmapped_properties",
]

Record = dict[str, Any]


class _TokenPage:
    """What ``_prepare_request`` reads from a paginator: its current token."""

    def __init__(self, token: Any) -> None:
        self.current_value = token


class SDKStreamHooks(RESTStream[Any]):
    """The private ``Stream``/``RESTStream`` hooks the tap overrides or calls, each delegating
    to a public method of the adapter (:class:`tap_example.streams.DefinitionStream`)."""

    _record_maps: list[tuple[str, Callable[[Record], Record | None] | None]] | None = None

    # -- what the adapter provides ------------------------------------------------------
    @abstractmethod
    def conformed(self, record: Record) -> Record:
        """``record`` with deselected properties popped and types conformed."""

    @abstractmethod
    def extracted_at(self) -> datetime | None:
        """When the current page arrived (its records' ``time_extracted``)."""

    @property
    @abstractmethod
    def bookmarks(self) -> BookmarkTracker:
        """What the SDK's state step needs of each record (``update`` gives ``None``: nothing)."""

    @abstractmethod
    def schema_sent(self) -> bool:
        """Whether this run already sent the stream's SCHEMA (and now marks it sent)."""

    @abstractmethod
    def prepared_ahead(self, token: Any) -> requests.PreparedRequest | None:
        """The request already prepared for page ``token`` (requested ahead), if any."""

    # -- private SDK hooks --------------------------------------------------------------
    @override
    def _generate_record_messages(self, record: Record) -> Generator[singer.RecordMessage]:
        record = self.conformed(record)
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    @override
    def _write_record_message(self, record: Record) -> None:
        """The SDK's steps, with each RECORD line handed to the writer as plain values (no
        message object per record) when the writer is a :class:`FastSingerWriter`."""
        writer = self._tap.message_writer
        if not isinstance(writer, FastSingerWriter):
            super()._write_record_message(record)
            return
        record = self.conformed(record)
        version = self._stream_version
        extracted_at = self.extracted_at() or utc_now()
        for alias, transform in self.record_maps():
            mapped_record = record if transform is None else transform(record)
            if mapped_record is not None:
                writer.write_record(alias, mapped_record, version, extracted_at)
        self.state_manager.is_flushed = False

    def record_maps(self) -> list[tuple[str, Callable[[Record], Record | None] | None]]:
        """Each stream map's alias and transform; ``None`` for the SDK's default map without
        flattening, which gives the record back unchanged (no three calls per record)."""
        maps = self._record_maps
        if maps is None:
            maps = self._record_maps = [
                (m.stream_alias, None if _passes_through(m) else m.transform)
                for m in self.stream_maps
            ]
        return maps

    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Any = None) -> None:
        update = self.bookmarks.update(latest_record)
        if update is not None:
            super()._increment_stream_state(update, context=context)

    @override
    def _prepare_request(
        self, *, context: Any, page: BaseAPIPaginator[Any]
    ) -> requests.PreparedRequest:
        """The SDK's step, except for a page already requested ahead: its request was prepared
        then (the same one: the answer waits under its key), and is not prepared twice."""
        ahead = self.prepared_ahead(page.current_value)
        if ahead is not None:
            return ahead
        return super()._prepare_request(context=context, page=page)

    @override
    def _write_schema_message(self) -> None:
        """A child stream is synced once per parent record and the SDK sends its SCHEMA each
        time; one is enough (the schema does not change within a run), and many make targets
        such as target-duckdb flush a batch per parent."""
        if not self.schema_sent():
            super()._write_schema_message()

    # -- private SDK calls --------------------------------------------------------------
    def records_for_batches(self, context: Any) -> Iterator[Record]:
        """The partition's records as the SDK's batch mode reads them (state kept, no RECORD)."""
        return iter(self._sync_records(context, write_messages=False))

    def write_batch(self, encoding: Any, manifest: list[str]) -> None:
        """A BATCH message for files already written, then the state that covers them."""
        self._write_batch_message(encoding=encoding, manifest=manifest)
        self._write_state_message()

    def forget_metadata(self) -> None:
        """Drop the SDK's cached catalog metadata (the schema gained fields)."""
        self._metadata = None

    def write_schema_now(self) -> None:
        """Send the stream's SCHEMA message again, now (its schema changed during the run)."""
        self.schema_sent()  # marks it sent, whatever it was
        super()._write_schema_message()

    def flush_writer(self) -> None:
        """Write out whatever the tap's message writer still holds."""
        flush = getattr(self._tap.message_writer, "flush", None)
        if callable(flush):
            flush()

    def prepare_sdk_request(self, context: Any, token: Any) -> requests.PreparedRequest:
        """The request for ``context`` and page ``token``, prepared as the SDK's
        ``request_records`` will prepare it when it gets there."""
        page: Any = _TokenPage(token)
        return self._prepare_request(context=context, page=page)

    def prepare_first_sdk_request(
        self, context: Any, paginator: BaseAPIPaginator[Any]
    ) -> requests.PreparedRequest:
        """The first request for ``context`` with a fresh ``paginator`` (another partition's:
        never one prepared for the paging loop in progress)."""
        return super()._prepare_request(context=context, page=paginator)

    def send_once(self, prepared: requests.PreparedRequest, context: Any) -> requests.Response:
        """The SDK's one-attempt send (``_request``), the function ``request_decorator`` wraps."""
        return self._request(prepared, context)


class SDKTapHooks(Tap):
    """The private ``Tap`` hooks the tap overrides, and the SDK's final ``sync_all``."""

    @abstractmethod
    def sync_top_level(self, streams: list[Stream]) -> None:
        """Sync the selected top-level ``streams`` (each with its children), each followed by
        its ``finalize_state_progress_markers``, as the SDK's loop does one by one."""

    @override  # type: ignore[misc]  # final in the SDK: a guard test pins its source
    def sync_all(self) -> None:
        """The SDK's ``sync_all`` (the same steps; a guard test pins its source), with the
        top-level streams handed to :meth:`sync_top_level` together, so that they can sync
        concurrently (``engine/streamgroup.py``), instead of one ``sync()`` after another."""
        self._reset_state_progress_markers()
        self._set_compatible_replication_methods()
        if self.state:
            self.state_writer.write_state(self.state)
        top_level: list[Stream] = []
        for stream in self.streams.values():
            if not stream.selected and not stream.has_selected_descendents:
                self.logger.info("Skipping deselected stream '%s'.", stream.name)
            elif stream.parent_stream_type is None:
                top_level.append(stream)
        self.sync_top_level(top_level)
        for stream in self.streams.values():
            stream.log_sync_costs()

    @abstractmethod
    def ending(self) -> AbstractContextManager[None]:
        """A block in which no stream runs SDK code (the last STATE of a terminated run)."""

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """The SDK's last STATE on SIGTERM/SIGINT, written when no stream is half-way through a
        page (streams sync concurrently: ``engine/streamgroup.py``)."""
        with self.ending():
            super()._handle_termination(signum, frame)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON-Schema check of the config, reported as one line naming the setting."""
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise ConfigError("; ".join(setting_error(e) for e in exc.errors) or str(exc)) from None


def _passes_through(stream_map: Any) -> bool:
    """The SDK's default stream map (no ``stream_maps`` for the stream) without flattening."""
    return type(stream_map) is SameRecordTransform and not (
        stream_map.flattening_options and stream_map.flattening_enabled
    )


def setting_error(message: str) -> str:
    """The SDK's ``'x' is not one of [...] in config['api']`` as
    ``setting 'api': 'x' is not one of [...]``."""
    match = re.search(r"^(.*) in config\['([^']+)'\]$", message)
    return f"setting '{match.group(2)}': {match.group(1)}" if match else message
