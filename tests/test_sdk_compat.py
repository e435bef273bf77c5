"""Guards of :mod:`tap_example.sdk_compat`, the one seam to private singer_sdk code.

Every private SDK name the tap relies on is checked here (it exists, with the signature and the
behaviour the tap expects), and the compiled record path is compared with the SDK's own. If an
SDK upgrade renames or changes any of it, these tests fail with a message naming the name,
before a sync goes wrong.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import hashlib
import inspect
import io
import json
from contextlib import redirect_stdout
from typing import Any

import pytest
from singer_sdk import Tap
from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers import _catalog, _typing, _util
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import _conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import RESTStream, Stream

from tap_example.engine.conform import compile_conformer, compile_deselector
from tap_example.engine.writer import FastSingerWriter
from tap_example.streams import DefinitionStream
from tap_example.tap import TapExample
from tests.conftest import FAST, shared_sandbox


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


#: (owner, private name, its parameters as the tap calls or overrides it)
PRIVATE_CALLABLES: list[tuple[Any, str, list[str]]] = [
    (Stream, "_generate_record_messages", ["self", "record"]),
    (Stream, "_write_record_message", ["self", "record"]),
    (Stream, "_write_schema_message", ["self"]),
    (Stream, "_increment_stream_state", ["self", "latest_record", "context"]),
    (RESTStream, "_prepare_request", ["self", "context", "page"]),
    (RESTStream, "_request", ["self", "prepared_request", "context"]),
    (PluginBase, "_validate_config", ["self", "raise_errors"]),
    (Tap, "_reset_state_progress_markers", ["self"]),
    (Tap, "_set_compatible_replication_methods", ["self"]),
    (Tap, "_handle_termination", ["self", "signum", "frame"]),
    (_typing, "_conform_record_data_types", ["input_object", "schema", "level", "parent"]),
    (_typing, "_conform_primitive_property", ["elem", "property_schema"]),
    (_typing, "_is_exclusive_boolean_type", ["property_schema"]),
    (_typing, "_warn_unmapped_properties", ["stream_name", "property_names", "logger"]),
    (_typing, "is_object_type", ["property_schema"]),
    (_typing, "is_uniform_list", ["property_schema"]),
    (_util, "utc_now", []),
]


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    PRIVATE_CALLABLES,
    ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n, _ in PRIVATE_CALLABLES],
)
def test_each_private_sdk_callable_is_there_with_its_signature(
    owner: Any, name: str, parameters: list[str]
) -> None:
    where = f"{getattr(owner, '__module__', '')}.{getattr(owner, '__name__', owner)}.{name}"
    function = getattr(owner, name, None)
    assert callable(function), (
        f"singer-sdk no longer has {where}; tap_example/sdk_compat.py relies on it: adapt it there"
    )
    assert _parameters(function) == parameters, (
        f"singer-sdk changed the signature of {where} to {_parameters(function)}; "
        f"tap_example/sdk_compat.py expects {parameters}: adapt it there"
    )


def test_the_private_sdk_attributes_are_set_where_the_tap_reads_them() -> None:
    init = inspect.getsource(Stream.__init__)
    assert "self._tap = tap" in init, "singer-sdk no longer sets Stream._tap (sdk_compat.py)"
    assert "_stream_version" in inspect.getsource(Stream), (
        "singer-sdk no longer has Stream._stream_version (sdk_compat.py)"
    )


def test_the_private_sdk_code_relied_on_is_unchanged() -> None:
    assert _parameters(Stream._generate_record_messages) == ["self", "record"]
    assert _parameters(Stream._write_record_message) == ["self", "record"]
    assert _parameters(Stream._write_schema_message) == ["self"]
    assert _parameters(Stream._increment_stream_state) == ["self", "latest_record", "context"]
    # The SDK reads only the replication key from the record it is given (we pass just that).
    source = inspect.getsource(Stream._increment_stream_state)
    assert "latest_record," in source and "replication_key=self.replication_key" in source
    source = inspect.getsource(Stream._write_record_message)
    assert "state_manager.is_flushed = False" in source
    assert _parameters(RESTStream._prepare_request) == ["self", "context", "page"]
    assert _parameters(RESTStream._request) == ["self", "prepared_request", "context"]
    assert _parameters(_typing._conform_record_data_types) == [
        "input_object",
        "schema",
        "level",
        "parent",
    ]
    assert _parameters(_typing._conform_primitive_property) == ["elem", "property_schema"]
    assert _parameters(_typing._is_exclusive_boolean_type) == ["property_schema"]
    assert _parameters(_typing._warn_unmapped_properties) == [
        "stream_name",
        "property_names",
        "logger",
    ]
    assert _parameters(_catalog.pop_deselected_record_properties)[:3] == [
        "record",
        "schema",
        "mask",
    ]
    assert callable(_util.utc_now)
    # What the SDK's own record step does, so the override keeps doing the same.
    source = inspect.getsource(Stream._generate_record_messages)
    for step in ("pop_deselected_record_properties", "conform_record_data_types", "stream_maps"):
        assert step in source


#: sha256 of singer-sdk 0.54's ``Tap.sync_all``, which ``SDKTapHooks.sync_all`` repeats step for
#: step (with the top-level streams synced together). A new SDK release that changes it fails
#: here: compare the two and carry the change over, then update the digest.
SYNC_ALL_SHA256 = "e4412393757b4cdc422ba4982705b0a06dfaf80ce249160aa9ab2a81cd7c00b5"


def test_the_sdk_sync_all_the_tap_repeats_is_unchanged() -> None:
    source = inspect.getsource(Tap.sync_all)
    assert hashlib.sha256(source.encode()).hexdigest() == SYNC_ALL_SHA256, (
        "singer-sdk changed Tap.sync_all: carry the change over to SDKTapHooks.sync_all "
        "(tap_example/sdk_compat.py), then update SYNC_ALL_SHA256"
    )
    assert TapExample.sync_all is not Tap.sync_all
    assert TapExample.sync_all.__qualname__ == "SDKTapHooks.sync_all"


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "amount": {"type": ["number", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "strict_flag": {"type": "boolean"},
        "when": {"type": ["string", "null"], "format": "date-time"},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "lines": {
            "type": ["array", "null"],
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
        "address": {
            "type": ["object", "null"],
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        },
        "free": {"type": ["object", "null"]},
    },
}
SAMPLES: list[dict[str, Any]] = [
    {"id": 1, "name": "a", "amount": 1.5, "flag": True, "strict_flag": False},
    {"id": 2, "name": None, "amount": 3, "flag": None, "strict_flag": True, "tags": ["x"]},
    {"id": 3, "amount": float("nan"), "strict_flag": 1, "flag": 0},
    {"id": 4, "amount": float("inf"), "when": datetime.datetime(2024, 5, 1, 12, 0)},
    {"id": 5, "amount": decimal.Decimal("1.25"), "when": datetime.date(2024, 5, 1)},
    {"id": 6, "extra": 1, "address": {"city": "X", "street": "y"}, "lines": [{"sku": "a", "n": 2}]},
    {"id": 7, "free": {"anything": [1, 2]}, "tags": None, "name": b"\x01"},
    {"id": 8, "amount": 1e308, "flag": 2, "strict_flag": None},
]


@pytest.mark.parametrize("record", SAMPLES, ids=[str(s["id"]) for s in SAMPLES])
@pytest.mark.parametrize("additional", [False, True])
def test_compiled_conformance_equals_the_sdks(record: dict[str, Any], additional: bool) -> None:
    schema = {**SCHEMA, "additionalProperties": additional}
    expected = _conform_record_data_types(
        copy.deepcopy(record), schema, TypeConformanceLevel.RECURSIVE, None
    )
    got = compile_conformer(schema)(copy.deepcopy(record))
    assert repr(got) == repr(expected)  # repr: NaN != NaN, and types must match too


def _mask(**selected: bool) -> singer.SelectionMask:
    mask = singer.SelectionMask({(): True})
    for name, value in selected.items():
        path = tuple(part for step in name.split("__") for part in ("properties", step))
        mask[path] = value
    return mask


@pytest.mark.parametrize(
    "mask",
    [_mask(), _mask(name=False), _mask(name=False, amount=False), _mask(address__zip=False)],
    ids=["all", "one", "two", "nested"],
)
def test_compiled_selection_equals_the_sdks(mask: singer.SelectionMask) -> None:
    for record in SAMPLES:
        expected = copy.deepcopy(record)
        pop_deselected_record_properties(expected, SCHEMA, mask)
        got = copy.deepcopy(record)
        compile_deselector(SCHEMA, mask)(got)
        assert repr(got) == repr(expected)


def _clockless(message: singer.RecordMessage) -> dict[str, Any]:
    return {k: v for k, v in message.to_dict().items() if k != "time_extracted"}


def test_the_stream_path_equals_the_sdks_on_real_records() -> None:
    server = shared_sandbox("payments")
    tap = TapExample(config={**FAST, **server.tap_config()}, validate_config=True)
    for name in ("customers", "events"):
        stream = tap.streams[name]
        for raw in server.records(name)[:50]:
            assert isinstance(stream, DefinitionStream)
            record = stream.shape_record(copy.deepcopy(raw), None)
            assert record is not None
            ours = list(stream._generate_record_messages(copy.deepcopy(record)))
            sdks = list(Stream._generate_record_messages(stream, copy.deepcopy(record)))
            assert [_clockless(m) for m in ours] == [_clockless(m) for m in sdks]
            assert ours[0].time_extracted is not None


def test_the_first_child_request_is_the_one_the_sdk_sends() -> None:
    server = shared_sandbox("payments")
    tap = TapExample(config={**FAST, **server.tap_config()}, validate_config=True)
    child = tap.streams["funding_sources"]
    context = {"cus_id": "abc"}
    assert isinstance(child, DefinitionStream)
    prepared = child.fetching.first_request(context)
    assert prepared.method == "GET"
    assert prepared.url == f"{server.base_url}/customers/abc/funding-sources?limit=200"


def test_the_writer_writes_the_sdk_msgspec_bytes_and_flushes_only_at_state() -> None:
    messages: list[Any] = [
        singer.SchemaMessage("s", {"type": "object", "properties": {}}, []),
        singer.RecordMessage(
            stream="s",
            record={"a": decimal.Decimal("1.10"), "b": datetime.datetime(2024, 1, 1), "c": "é"},
            time_extracted=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        ),
        singer.StateMessage({"bookmarks": {}}),
    ]
    buffer = io.StringIO()
    writer = FastSingerWriter()
    with redirect_stdout(buffer):
        writer.write_message(messages[0])
        writer.write_message(messages[1])
        # RECORD lines gather (stdout may be unbuffered); the next non-RECORD message writes them
        assert len(buffer.getvalue().splitlines()) == 1
        writer.write_message(messages[2])
    lines = buffer.getvalue().splitlines()
    sdk = MsgSpecWriter()
    assert [line.encode() for line in lines] == [
        bytes(sdk.format_message(m)).rstrip(b"\n") for m in messages
    ]
    assert json.loads(lines[1])["record"] == {"a": 1.10, "b": "2024-01-01T00:00:00", "c": "é"}


@pytest.mark.parametrize(
    "maps",
    [
        {  # aliases, a dropped and a computed field, a filter; the other streams pass through
            "stream_maps": {
                "customers": {
                    "__alias__": "people",
                    "email": "__NULL__",
                    "shout": "(record.get('firstName') or '').upper()",
                },
                "events": {"__filter__": "record['topic'] != 'customer_created'"},
            }
        },
        {"flattening_enabled": True, "flattening_max_depth": 1},  # every stream transformed
    ],
    ids=["stream-maps", "flattening"],
)
def test_stream_maps_write_what_the_sdks_writer_writes(
    maps: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast writer path (which skips the SDK's default map when it changes nothing) writes
    the records the SDK's own writer path writes, with stream maps and flattening."""
    server = shared_sandbox("payments")

    def records(writer: Any) -> list[dict[str, Any]]:
        monkeypatch.setattr(TapExample, "message_writer_class", writer)
        tap = TapExample(config={**FAST, **server.tap_config(), **maps}, validate_config=True)
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8")  # the SDK's writer writes to its .buffer
        with redirect_stdout(out):
            tap.sync_all()
            out.flush()
        lines = [json.loads(line) for line in raw.getvalue().splitlines() if line]
        return [
            {k: v for k, v in m.items() if k != "time_extracted"}
            for m in lines
            if m["type"] == "RECORD"
        ]

    ours, sdks = records(FastSingerWriter), records(MsgSpecWriter)
    assert ours == sdks and len(ours) > 500
    streams = {m["stream"] for m in ours}
    if "stream_maps" in maps:
        assert "people" in streams and "customers" not in streams
        assert all(m["record"].get("email") is None for m in ours if m["stream"] == "people")
