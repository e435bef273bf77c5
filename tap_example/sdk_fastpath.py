"""The record path, compiled: the SDK's semantics without its per-record interpretation.

The SDK decides, for every field of every record, whether it is selected and how to conform it,
by walking the schema and the selection mask again each time (about 60% of a plain sync's CPU).
Here both decisions are compiled once per (schema, mask) into small closures, and values that are
already JSON-ready (the usual case) are copied as they are. Anything unusual (nested
deselection, a conformance level other than recursive, a value that is not a plain JSON scalar)
goes through the SDK's own functions, so the output is the SDK's output.

This is the ONLY module that reaches into private SDK code. It relies on:

- ``Stream._generate_record_messages(record)`` (overridden by :class:`CompiledRecordPath`),
- ``RESTStream._prepare_request(context=, page=)`` and ``RESTStream._request(prepared,
  context)`` (a child's first request, prepared and sent ahead by ``concurrency``),
- ``singer_sdk.helpers._typing``: ``_conform_record_data_types``,
  ``_conform_primitive_property``, ``_is_exclusive_boolean_type``,
  ``_warn_unmapped_properties``, ``is_object_type``, ``is_uniform_list``,
- ``singer_sdk.helpers._catalog.pop_deselected_record_properties``,
- ``singer_sdk.helpers._util.utc_now``.

``tests/test_sdk_fastpath.py`` checks those names and signatures and compares this path with
the SDK's, record for record, so an SDK upgrade that changes them fails loudly.
"""

from __future__ import annotations

import atexit
import io
import sys
import time
import weakref
from collections.abc import Callable, Generator, Iterator
from math import isfinite
from typing import Any

import requests
from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import encoder as msgspec_encoder
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
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.singerlib.encoding.base import GenericSingerWriter, SingerMessageType
from singer_sdk.singerlib.encoding.simple import Message

from tap_example.timestamps import bookmark_string

Record = dict[str, Any]
#: ``(conformed record, unmapped property paths)``, as the SDK's ``_conform_record_data_types``.
Conformer = Callable[[Record], tuple[Record, list[str]]]

#: Types the SDK's primitive conformance returns unchanged (floats need a NaN check).
_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})
#: For exclusively boolean properties the SDK turns anything but a bool or null into a bool.
_PLAIN_BOOLEAN: frozenset[type] = frozenset({bool, type(None)})


# --------------------------------------------------------------------------- conformance


def compile_conformer(schema: dict[str, Any], path: str | None = None) -> Conformer:
    """A function equal to ``_conform_record_data_types(record, schema, RECURSIVE, path)``."""
    properties: dict[str, Any] = schema["properties"]
    keep_unknown = bool(schema.get("additionalProperties"))
    rules: dict[str, tuple[frozenset[type], Callable[[Any, list[str]], Any]]] = {}
    for name, property_schema in properties.items():
        property_path = name if path is None else f"{path}.{name}"
        rules[name] = _compile_property(property_schema, property_path)

    known = frozenset(rules)
    booleans = tuple(name for name, (plain, _) in rules.items() if plain is _PLAIN_BOOLEAN)
    plain_or_float = _PLAIN | {float}

    def conform(record: Record) -> tuple[Record, list[str]]:
        # The usual record: known fields, JSON scalars only; checked in C, copied as it is.
        types = set(map(type, record.values()))
        if (
            types <= plain_or_float
            and known.issuperset(record)
            and (float not in types or isfinite(sum(_floats(record))))
            and all(type(record.get(name)) in _PLAIN_BOOLEAN for name in booleans)
        ):
            return dict(record), []
        output: Record = {}
        unmapped: list[str] = []
        for name, value in record.items():
            rule = rules.get(name)
            if rule is None:
                if keep_unknown:
                    output[name] = value
                else:
                    unmapped.append(name if path is None else f"{path}.{name}")
                continue
            plain, convert = rule
            output[name] = value if type(value) in plain else convert(value, unmapped)
        return output, unmapped

    return conform


def _floats(record: Record) -> Iterator[float]:
    return (value for value in record.values() if type(value) is float)


def _compile_property(
    property_schema: dict[str, Any], path: str
) -> tuple[frozenset[type], Callable[[Any, list[str]], Any]]:
    """How one property is conformed: the types kept as they are, and the general case."""
    plain = _PLAIN_BOOLEAN if _is_exclusive_boolean_type(property_schema) else _PLAIN
    items_schema = property_schema["items"] if is_uniform_list(property_schema) else None
    nested: Conformer | None = None
    if is_object_type(property_schema) and "properties" in property_schema:
        nested = compile_conformer(property_schema, path)
    item_conformer: Conformer | None = None
    if items_schema is not None and is_object_type(items_schema) and "properties" in items_schema:
        item_conformer = compile_conformer(items_schema, path)

    def convert(value: Any, unmapped: list[str]) -> Any:
        if items_schema is not None and isinstance(value, list):
            output = []
            for item in value:
                if item_conformer is not None and isinstance(item, dict):
                    conformed, missing = item_conformer(item)
                    unmapped.extend(missing)
                    output.append(conformed)
                else:
                    output.append(_conform_primitive_property(item, items_schema))
            return output
        if nested is not None and isinstance(value, dict):
            conformed, missing = nested(value)
            unmapped.extend(missing)
            return conformed
        return _conform_primitive_property(value, property_schema)

    return plain, convert


# --------------------------------------------------------------------------- selection


def compile_deselector(
    schema: dict[str, Any], mask: singer.SelectionMask
) -> Callable[[Record], None]:
    """A function equal to ``pop_deselected_record_properties(record, schema, mask)``."""
    if not mask[()] or any(
        not selected for breadcrumb, selected in mask.items() if len(breadcrumb) > 2
    ):

        def pop_with_sdk(record: Record) -> None:
            pop_deselected_record_properties(record, schema, mask)

        return pop_with_sdk
    deselected = frozenset(
        breadcrumb[1]
        for breadcrumb, selected in mask.items()
        if len(breadcrumb) == 2 and breadcrumb[0] == "properties" and not selected
    )

    def pop(record: Record) -> None:
        if deselected:
            for name in deselected.intersection(record):
                del record[name]

    return pop


class RecordPlan:
    """Selection and conformance compiled for one schema and one selection mask."""

    def __init__(
        self,
        schema: dict[str, Any],
        mask: singer.SelectionMask,
        level: TypeConformanceLevel,
        stream_name: str,
    ) -> None:
        self.schema = schema
        self.mask = mask
        self.pop_deselected = compile_deselector(schema, mask)
        self.level = level
        self.stream_name = stream_name
        self._conform: Conformer | None = (
            compile_conformer(schema) if level == TypeConformanceLevel.RECURSIVE else None
        )

    def conform(self, record: Record, logger: Any) -> Record:
        if self._conform is None:
            output, unmapped = _conform_record_data_types(record, self.schema, self.level, None)
        else:
            output, unmapped = self._conform(record)
        if unmapped:
            _warn_unmapped_properties(self.stream_name, tuple(unmapped), logger)
        return output


class CompiledRecordPath:
    """Mixin for SDK streams: ``_generate_record_messages`` with a compiled :class:`RecordPlan`.

    Same steps as the SDK's: pop deselected properties (selection mask of the stream's own
    schema), conform types (to the effective schema), then every stream map in turn.
    """

    _record_plan: RecordPlan | None = None

    def _generate_record_messages(self, record: Record) -> Generator[singer.RecordMessage]:
        stream: Any = self
        record = self._selected_and_conformed(record)
        for stream_map in stream.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=stream._stream_version,
                    time_extracted=utc_now(),
                )

    def _write_record_message(self, record: Record) -> None:
        """The SDK's steps, with each RECORD line handed to the writer as plain values
        (no message object per record) when the writer is a :class:`FastSingerWriter`."""
        stream: Any = self
        writer = stream._tap.message_writer
        if not isinstance(writer, FastSingerWriter):
            super()._write_record_message(record)  # type: ignore[misc]
            return
        record = self._selected_and_conformed(record)
        version = stream._stream_version
        # The time the record's page arrived, when the stream notes it (one clock read a page).
        extracted_at = stream.__dict__.get("extracted_at") or utc_now()
        for stream_map in stream.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                writer.write_record(stream_map.stream_alias, mapped_record, version, extracted_at)
        stream.state_manager.is_flushed = False

    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Any = None
    ) -> None:
        """Bookmarks go into state as :func:`bookmark_string` so the SDK's string max is right
        (bookmarks from an incoming state file are brought to that form by ``TapExample.load_state``).
        The SDK reads only the replication key from the record, so only that is passed on."""
        stream: Any = self
        key = stream.replication_key
        if key and latest_record.get(key) is not None:
            value = bookmark_string(latest_record[key])
            if not stream.is_sorted and isinstance(value, str):
                # Unsorted: the SDK keeps the maximum, so a value not above this partition's
                # maximum so far changes nothing; skip its (per-record) state bookkeeping.
                best = self.__dict__.get("_partition_max")
                if isinstance(best, str) and value <= best:
                    return
                self.__dict__["_partition_max"] = value
            latest_record = {key: value}
        super()._increment_stream_state(latest_record, context=context)  # type: ignore[misc]

    def _write_schema_message(self) -> None:
        """A child stream is synced once per parent record and the SDK sends its SCHEMA each
        time; one is enough (the schema does not change within a run), and many make targets
        such as target-duckdb flush a batch per parent."""
        if self.__dict__.get("_schema_written"):
            return
        super()._write_schema_message()  # type: ignore[misc]
        self.__dict__["_schema_written"] = True

    def _selected_and_conformed(self, record: Record) -> Record:
        stream: Any = self
        plan = self._plan_for(stream.effective_schema, stream.mask)
        plan.pop_deselected(record)
        return plan.conform(record, stream.logger)

    def generate_child_contexts(self, record: Record, context: Any) -> Any:
        """No child streams, no child contexts (the SDK would still build and filter one)."""
        stream: Any = self
        if not stream.child_streams:
            return ()
        return super().generate_child_contexts(record, context)  # type: ignore[misc]

    def _plan_for(self, schema: dict[str, Any], mask: singer.SelectionMask) -> RecordPlan:
        stream: Any = self
        plan = self._record_plan
        if (
            plan is None
            or plan.schema is not schema
            or plan.mask is not mask
            or plan.level != stream.TYPE_CONFORMANCE_LEVEL
        ):
            # The SDK pops with the stream's own schema and conforms to the effective one.
            plan = RecordPlan(schema, mask, stream.TYPE_CONFORMANCE_LEVEL, stream.name)
            if stream.schema is not schema:
                plan.pop_deselected = compile_deselector(stream.schema, mask)
            self._record_plan = plan
        return plan


# --------------------------------------------------------------------------- requests


def prepare_first_request(stream: Any, context: Any) -> requests.PreparedRequest:
    """The first request of ``stream`` for ``context``, prepared as the SDK's own
    ``request_records`` prepares it (``_prepare_request`` with a fresh paginator)."""
    paginator = stream.get_new_paginator() or SinglePagePaginator()
    prepared: requests.PreparedRequest = stream._prepare_request(context=context, page=paginator)
    return prepared


class _TokenPage:
    """What ``_prepare_request`` reads from a paginator: its current token."""

    def __init__(self, token: Any) -> None:
        self.current_value = token


def prepare_request_for(stream: Any, context: Any, token: Any) -> requests.PreparedRequest:
    """The request of ``stream`` for ``context`` and page ``token``, prepared as the SDK's
    ``request_records`` will prepare it when it gets there."""
    prepared: requests.PreparedRequest = stream._prepare_request(
        context=context, page=_TokenPage(token)
    )
    return prepared


def sdk_request_function(stream: Any) -> Callable[[requests.PreparedRequest, Any], Any]:
    """The SDK's one-attempt send (``_request``), the function ``request_decorator`` wraps."""
    return stream._request  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- writing


_live_writers: weakref.WeakSet[FastSingerWriter] = weakref.WeakSet()


@atexit.register
def _write_what_is_left() -> None:
    for writer in list(_live_writers):
        writer._write_pending()


class FastSingerWriter(GenericSingerWriter[bytes, Message]):
    """Singer messages as JSON lines through the SDK's msgspec encoder, flushed at most each second.

    The SDK's default writer encodes with simplejson and flushes stdout after every message
    (a system call per record, and a GIL hand-off per message while child requests run on
    other threads). Here lines collect in stdout's buffer; a non-RECORD message (SCHEMA, STATE,
    ACTIVATE_VERSION) flushes when the last flush is older than :attr:`flush_interval`.
    Order is the stream's order either way: a STATE never reaches the target before the records
    it covers, and a crash loses them together.
    """

    flush_interval = 1.0
    #: Bytes of RECORD lines gathered before one write (stdout may be unbuffered:
    #: ``PYTHONUNBUFFERED``, which Meltano and many containers set).
    chunk_size = 64 * 1024

    def __init__(self) -> None:
        self._flushed_at = time.monotonic()
        self._pending: list[bytes] = []
        self._pending_size = 0
        # Records gathered when a run ends early (an error) still go out at exit; a normal
        # run ends with the streams' ``log_sync_costs``, which calls :meth:`flush`.
        _live_writers.add(self)

    def serialize_message(self, message: Message) -> bytes:
        return msgspec_encoder.encode(message.to_dict())

    def write_record(
        self, stream: str, record: dict[str, Any], version: int | None, time_extracted: Any
    ) -> None:
        """A RECORD line from plain values: the bytes ``RecordMessage.to_dict`` would encode to."""
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        if time_extracted is not None:
            message["time_extracted"] = time_extracted
        line = msgspec_encoder.encode(message) + b"\n"
        self._pending.append(line)
        self._pending_size += len(line)
        if self._pending_size >= self.chunk_size:
            self._write_pending()

    def write_message(self, message: Message) -> None:
        line = self.format_message(message) + b"\n"
        self._pending.append(line)
        self._pending_size += len(line)
        is_record = message.type == SingerMessageType.RECORD
        if is_record and self._pending_size < self.chunk_size:
            return
        self._write_pending()
        if not is_record:
            now = time.monotonic()
            if now - self._flushed_at >= self.flush_interval:
                self._flushed_at = now
                self._stdout().flush()

    def flush(self) -> None:
        """Everything written so far reaches stdout now (the end of a sync)."""
        self._write_pending()
        self._stdout().flush()
        self._flushed_at = time.monotonic()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        out = self._stdout()
        if isinstance(out, io.TextIOBase):  # a text stream (captured output): same bytes, decoded
            out.write(data.decode())
        else:
            out.write(data)

    @staticmethod
    def _stdout() -> Any:
        return getattr(sys.stdout, "buffer", None) or sys.stdout


__all__ = [
    "CompiledRecordPath",
    "FastSingerWriter",
    "RecordPlan",
    "compile_conformer",
    "compile_deselector",
    "prepare_first_request",
    "prepare_request_for",
    "sdk_request_function",
]
