"""Incremental replication and state (issue 4): bookmarks, server filters, newest-first early
stops, resume after a kill or a failure, small state with many parents, UTC timestamps."""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import yaml

from tap_example.sandbox import SandboxServer
from tap_example.streams import DefinitionStream
from tap_example.tap import TapExample
from tap_example.timestamps import bookmark_string, parse_timestamp, to_utc_string
from tests.conftest import API_NAMES, FAST, last_state, run_tap

#: Small pages, so that reading less (server filters, early stops) shows in request counts.
PAGE_SIZE = 10
START_DATE = "2024-07-01T00:00:00Z"
TAP_COMMAND = "from tap_example.tap import TapExample; TapExample.cli()"

Key = tuple[Any, ...]


# -- helpers -------------------------------------------------------------------------------


def tap_streams(config: dict[str, Any]) -> dict[str, DefinitionStream]:
    tap = TapExample(config={**FAST, **config}, validate_config=True)
    return {name: stream for name, stream in tap.streams.items()}  # type: ignore[misc]


def opt_in_catalog(config: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """The discovered catalog with ``keys`` chosen as replication keys (the opt-in a user makes
    with Meltano's ``metadata: {stream: {replication-key: ...}}``)."""
    catalog: dict[str, Any] = TapExample(config={**FAST, **config}).catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] in keys:
            root = next(m for m in entry["metadata"] if not m["breadcrumb"])
            assert keys[entry["tap_stream_id"]] in root["metadata"]["valid-replication-keys"]
            root["metadata"]["replication-key"] = keys[entry["tap_stream_id"]]
    return catalog


def records(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def record_key(stream: DefinitionStream, record: dict[str, Any]) -> Key:
    """The primary key, or the whole record for key-less streams."""
    if stream.primary_keys:
        return tuple(record[k] for k in stream.primary_keys)
    return (json.dumps(record, sort_keys=True),)


def keys(stream: DefinitionStream, rows: list[dict[str, Any]]) -> set[Key]:
    return {record_key(stream, row) for row in rows}


def instant(value: Any) -> datetime:
    parsed = parse_timestamp(value)
    assert parsed is not None, f"not a timestamp: {value!r}"
    return parsed


def bookmarks(
    state: dict[str, Any], stream: DefinitionStream
) -> list[tuple[dict[str, Any], datetime]]:
    """(partition context, bookmark) pairs of a stream; ``{}`` for the stream-level one."""
    entry = state.get("bookmarks", {}).get(stream.name, {})
    found: list[tuple[dict[str, Any], datetime]] = []
    if entry.get("replication_key_value") is not None:
        found.append(({}, instant(entry["replication_key_value"])))
    for partition in entry.get("partitions", []):
        if partition.get("replication_key_value") is not None:
            found.append((partition["context"], instant(partition["replication_key_value"])))
    return found


def bookmark_of(
    state: dict[str, Any], stream: DefinitionStream, record: dict[str, Any]
) -> datetime | None:
    for context, value in bookmarks(state, stream):
        if all(record.get(k) == v for k, v in context.items()):
            return value
    return None


def path_pattern(stream: DefinitionStream) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(stream.path)) + "$")


def requests_to(stream: DefinitionStream, by_path: dict[str, int]) -> int:
    pattern = path_pattern(stream)
    return sum(count for path, count in by_path.items() if pattern.match(path))


def paths_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    return {p: n - before["by_path"].get(p, 0) for p, n in after["by_path"].items()}


def run_until_failure(
    config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], Exception | None]:
    """Like ``run_tap``, but a failing run still returns what it wrote before failing."""
    tap = TapExample(config={**FAST, **config}, state=state, validate_config=True)
    buffer = io.StringIO()
    error: Exception | None = None
    with redirect_stdout(buffer):
        try:
            tap.sync_all()
        except Exception as exc:
            error = exc
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()], error


def assert_state_claims_only_emitted(
    state: dict[str, Any],
    emitted: list[dict[str, Any]],
    reference: dict[str, list[dict[str, Any]]],
    streams: dict[str, DefinitionStream],
) -> None:
    """Every record at or before a bookmark was emitted before that state: resuming from it
    (which asks only for records after the bookmark) cannot skip a record."""
    for name, stream in streams.items():
        if not stream.replication_key:
            continue
        got = keys(stream, records(emitted, name))
        for context, value in bookmarks(state, stream):
            covered = [
                row
                for row in reference[name]
                if all(row.get(k) == v for k, v in context.items())
                and instant(row[stream.replication_key]) <= value
            ]
            missing = keys(stream, covered) - got
            assert not missing, f"{name} {context}: bookmark {value} claims unsent {missing}"


# -- every incremental stream of every API ---------------------------------------------------


@pytest.mark.parametrize("sandbox", API_NAMES, indirect=True)
def test_second_run_emits_only_what_changed(sandbox: SandboxServer) -> None:
    config = {**sandbox.tap_config(), "page_size": PAGE_SIZE}
    streams = tap_streams(config)
    before_first = sandbox.stats
    first = run_tap(config)
    first_requests = paths_delta(sandbox.stats, before_first)
    state = last_state(first)
    changed = sandbox.mutate(3)
    before_second = sandbox.stats
    second = run_tap({**sandbox.tap_config(), "page_size": PAGE_SIZE}, state=copy.deepcopy(state))
    second_requests = paths_delta(sandbox.stats, before_second)
    final_state = last_state(second)

    schemas = {m["stream"]: m for m in first if m["type"] == "SCHEMA"}
    activated = {m["stream"] for m in first if m["type"] == "ACTIVATE_VERSION"}
    assert activated == {n for n, s in streams.items() if s.resource.write_disposition == "replace"}

    one_page_lists: list[int] = []
    for name, stream in streams.items():
        assert schemas[name]["key_properties"] == list(stream.primary_keys)
        emitted = records(second, name)
        if not stream.replication_key:  # full table: everything again
            assert len(emitted) == len(sandbox.records(name)), name
            continue
        assert schemas[name]["bookmark_properties"] == [stream.replication_key]
        rk = stream.replication_key
        new = {(key,) for key in changed.get(name, [])}
        # Nothing else: a record that did not change is only sent again when it sits exactly
        # on its bookmark (bookmarks keep records equal to them).
        for row in emitted:
            if record_key(stream, row) not in new:
                assert instant(row[rk]) == bookmark_of(state, stream, row), (name, row)
        # Everything that changed, where the stream can see it: children that the server
        # filters are asked about every parent; the others are fetched only for the parents
        # this run emitted.
        expected = new
        incremental = stream.resource.incremental
        assert incremental is not None, name
        parent = stream.resource.parent  # the parent stream's name
        assert (parent is None) == (stream.parent_stream_type is None), name
        every_parent = bool(stream.state_partitioning_keys or incremental.start_param)
        if parent is not None and every_parent:
            assert requests_to(stream, second_requests) == len(sandbox.records(parent)), name
        if parent is not None and not every_parent:
            placeholders = [b.placeholder for b in stream.resource.bindings]
            fields = [b.field for b in stream.resource.bindings]
            parents_now = {tuple(r[f] for f in fields) for r in records(second, parent)}
            where = {
                record_key(stream, r): tuple(r[p] for p in placeholders)
                for r in records(first, name)
            }
            expected = {k for k in new if where.get(k) in parents_now}
            # ... and requested for those parents only: one request each, nothing for the rest.
            assert requests_to(stream, second_requests) == len(parents_now), name
        assert expected <= keys(stream, emitted), (name, expected - keys(stream, emitted))
        # The bookmark moves to the newest record sent (compared as instants, not strings).
        if emitted and not stream.state_partitioning_keys:
            newest = max(instant(row[rk]) for row in emitted)
            assert bookmarks(final_state, stream) == [({}, newest)], name

        # Reading less: server filters and newest-first early stops need one page for the
        # few changes; a per-parent filter needs one page per parent.
        if stream.state_partitioning_keys and incremental.start_param:
            assert parent is not None, name
            parents = len(sandbox.records(parent))
            assert requests_to(stream, second_requests) == parents
            assert requests_to(stream, first_requests) > parents
        elif (
            parent is None
            and not stream.incremental.lists_every_parent
            and (incremental.start_param or incremental.row_order == "desc")
        ):
            assert requests_to(stream, second_requests) == 1, name
            one_page_lists.append(requests_to(stream, first_requests))
    if one_page_lists:  # the full lists took more pages than the changes
        assert sum(one_page_lists) > len(one_page_lists)


@pytest.fixture
def sent_urls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the tap requests (in-process runs)."""
    urls: list[str] = []
    send = requests.Session.send

    def spy(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        urls.append(request.url or "")
        return send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    return urls


@pytest.mark.parametrize("sandbox", API_NAMES, indirect=True)
def test_start_date_bounds_the_first_run(sandbox: SandboxServer, sent_urls: list[str]) -> None:
    config = {**sandbox.tap_config(), "start_date": START_DATE}
    streams = tap_streams(config)
    messages = run_tap(config)
    start = instant(START_DATE)
    for name, stream in streams.items():
        emitted = records(messages, name)
        if not stream.replication_key:
            assert len(emitted) == len(sandbox.records(name)), name
            continue
        rk = stream.replication_key
        recent = [r for r in sandbox.records(name) if instant(r[rk]) >= start]
        assert emitted and all(instant(r[rk]) >= start for r in emitted), name
        incremental = stream.resource.incremental
        every_parent = bool(
            stream.state_partitioning_keys or (incremental and incremental.start_param)
        )
        if stream.parent_stream_type is None or every_parent:
            assert keys(stream, emitted) == keys(stream, recent), name
        # A parent whose children need every parent lists all of itself (no server filter).
        if (
            incremental is not None
            and incremental.start_param
            and not stream.incremental.lists_every_parent
        ):
            pattern = path_pattern(stream)
            mine = [u for u in sent_urls if pattern.match(urlsplit(u).path)]
            assert mine, name
            for url in mine:
                query = dict(parse_qsl(urlsplit(url).query))
                assert instant(query[incremental.start_param]) == start, url


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_newest_first_streams_read_only_the_pages_they_need(sandbox: SandboxServer) -> None:
    """events (append-only) and customers, whose creation-time cursor the user opted in to."""
    config = {**sandbox.tap_config(), "page_size": PAGE_SIZE}
    streams = tap_streams(config)
    catalog = opt_in_catalog(config, {"customers": "created"})
    state: dict[str, Any] = {"bookmarks": {}}
    served: dict[str, list[dict[str, Any]]] = {}
    for name in ("customers", "events"):
        served[name] = sandbox.records(name)  # newest first
        value = served[name][25]["created"]
        state["bookmarks"][name] = {"replication_key": "created", "replication_key_value": value}
    before = sandbox.stats
    messages = run_tap(config, state=state, catalog=catalog)
    used = paths_delta(sandbox.stats, before)
    for name, rows in served.items():
        stream = streams[name]
        bookmark = instant(state["bookmarks"][name]["replication_key_value"])
        wanted = [r for r in rows if instant(r["created"]) >= bookmark]
        assert keys(stream, records(messages, name)) == keys(stream, wanted)
        # The first older record sits at index len(wanted): its page is the last one read.
        assert requests_to(stream, used) == len(wanted) // PAGE_SIZE + 1
        assert requests_to(stream, used) < math.ceil(len(rows) / PAGE_SIZE)


# -- resume: kill the process, or fail it, and start again from the last STATE ---------------


def _tap_process(config_file: Path, state_file: Path | None) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", TAP_COMMAND, "--config", str(config_file)]
    if state_file is not None:
        command += ["--state", str(state_file)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _write_config(server: SandboxServer, path: Path, parallel: int = 1) -> Path:
    settings = {**server.tap_config(), **FAST, "page_size": 50, "max_parallel_streams": parallel}
    path.write_text(json.dumps(settings))
    return path


@pytest.mark.parametrize(
    ("sandbox", "kill_after", "how", "parallel"),
    [
        ("payments", 700, signal.SIGKILL, 1),  # in `events`, after customers and funding sources
        ("billing", 300, signal.SIGKILL, 1),  # among customers and their addresses
        ("crm", 200, signal.SIGTERM, 1),  # in `contacts`
        ("commerce", 340, signal.SIGKILL, 1),  # in `shifts`
        ("clinical", 500, signal.SIGTERM, 1),  # in studies and their per-study audit trails
        # Streams syncing concurrently (engine/streamgroup.py): their messages interleave.
        ("payments", 700, signal.SIGKILL, 4),
        ("crm", 200, signal.SIGTERM, 4),
        ("clinical", 500, signal.SIGTERM, 4),
    ],
    indirect=["sandbox"],
)
def test_killed_run_resumes_without_losing_a_record(
    sandbox: SandboxServer, kill_after: int, how: signal.Signals, parallel: int, tmp_path: Path
) -> None:
    streams = tap_streams(sandbox.tap_config())
    full = run_tap({**sandbox.tap_config(), "page_size": 50})
    reference = {name: records(full, name) for name in streams}

    process = _tap_process(_write_config(sandbox, tmp_path / "c1.json", parallel), None)
    assert process.stdout is not None
    killed_run: list[dict[str, Any]] = []
    after_kill: list[str] = []
    seen = 0
    try:
        for line in process.stdout:
            if seen >= kill_after:
                after_kill.append(line)
                continue
            message = json.loads(line)
            killed_run.append(message)
            seen += message["type"] == "RECORD"
            if seen >= kill_after:
                process.send_signal(how)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # unread output of a killed run: the pipe is not closed otherwise
    assert seen >= kill_after, "the run ended before the kill"
    # What a SIGKILLed tap left in the pipe is dropped (as if the consumer died with it); on
    # SIGTERM the SDK writes a last STATE after the records it sent, so that output counts.
    if how == signal.SIGTERM:
        killed_run += [json.loads(line) for line in after_kill]
    # (A SIGKILLed run may have written no STATE yet: the next run starts from nothing.)
    states = [i for i, m in enumerate(killed_run) if m["type"] == "STATE"]
    state_index = states[-1] if states else 0
    state = killed_run[state_index]["value"] if states else {}
    assert_state_claims_only_emitted(state, killed_run[:state_index], reference, streams)

    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    resumed = subprocess.run(
        [
            sys.executable,
            "-c",
            TAP_COMMAND,
            "--config",
            str(_write_config(sandbox, tmp_path / "c2.json", parallel)),
            "--state",
            str(state_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    second = [json.loads(line) for line in resumed.stdout.splitlines() if line.strip()]
    for name, stream in streams.items():
        union = keys(stream, records(killed_run, name)) | keys(stream, records(second, name))
        assert union == keys(stream, reference[name]), name
    if any(bookmarks(state, s) for s in streams.values()):  # finished streams are not read again
        assert sum(m["type"] == "RECORD" for m in second) < sum(m["type"] == "RECORD" for m in full)


@pytest.mark.parametrize(
    ("sandbox", "good_requests", "parallel"),
    [
        ("billing", 250, 1),
        ("clinical", 30, 1),
        ("payments", 236, 1),
        ("payments", 236, 4),  # streams syncing concurrently: the 403 hits whichever is next
        ("clinical", 30, 4),
    ],
    indirect=["sandbox"],
)
def test_failed_run_state_never_runs_ahead_of_its_records(
    sandbox: SandboxServer, good_requests: int, parallel: int
) -> None:
    streams = tap_streams(sandbox.tap_config())
    reference = {name: sandbox.records(name) for name in streams}
    full = run_tap(sandbox.tap_config())
    sandbox.inject(*["pass"] * good_requests, 403)
    failed, error = run_until_failure({**sandbox.tap_config(), "max_parallel_streams": parallel})
    assert error is not None and "403" in str(error)
    states = [i for i, m in enumerate(failed) if m["type"] == "STATE"]
    assert states, "no STATE before the failure"
    state = failed[states[-1]]["value"]
    assert any(bookmarks(state, s) for s in streams.values()), "nothing was bookmarked"
    assert_state_claims_only_emitted(state, failed[: states[-1]], reference, streams)
    # And resuming from it completes the data.
    resumed = run_tap(sandbox.tap_config(), state=state)
    for name, stream in streams.items():
        union = keys(stream, records(failed, name)) | keys(stream, records(resumed, name))
        assert union == keys(stream, records(full, name)), name


# -- state size ----------------------------------------------------------------------------


def test_state_does_not_grow_with_parents(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 customers, each with its own address request: the child's bookmark is one value.

    The sandbox serves the 10,000 customers; the 10,000 address answers are made in-process
    (same JSON shape) so the test stays quick, and go through the real parsing and state code.
    """
    parents = 10_000
    real_request = DefinitionStream._request

    def addresses(
        self: DefinitionStream, prepared: requests.PreparedRequest, context: Any
    ) -> requests.Response:
        if self.name != "customer_addresses":
            return real_request(self, prepared, context)
        customer = context["cus_id"]
        day = 1 + sum(map(ord, customer)) % 28
        body = {
            "data": [
                {
                    "id": f"add_{customer}",
                    "customer_id": customer,
                    "country_code": "DE",
                    "postal_code": "10115",
                    "city": "Berlin",
                    "status": "active",
                    "created_at": "2024-03-01T00:00:00Z",
                    "updated_at": f"2024-03-{day:02d}T12:00:00Z",
                }
            ],
            "has_more": False,
            "next": None,
        }
        response = requests.Response()
        response.status_code = 200
        response.url = prepared.url or ""
        response.request = prepared
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(body).encode()
        return response

    monkeypatch.setattr(DefinitionStream, "_request", addresses)
    # 10,000 child syncs' log lines are not the point
    for name in ("singer_sdk", "singer_sdk.metrics", "tap-example"):
        caplog.set_level(logging.WARNING, logger=name)
    sizes = {"customers": parents, "customer_addresses": 0, "businesses": 0}
    with SandboxServer(api="billing", sizes=sizes) as server:
        config = {**server.tap_config(), "page_size": 1000, "max_concurrency": 1}
        catalog = TapExample(config={**FAST, **config}).catalog_dict
        for entry in catalog["streams"]:
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == []:
                    metadata["metadata"]["selected"] = entry["tap_stream_id"] in (
                        "customers",
                        "customer_addresses",
                    )
        messages = run_tap(config, catalog=catalog)
    sent = records(messages, "customer_addresses")
    assert len(sent) == parents
    state = last_state(messages)
    assert len(json.dumps(state)) < 2_048  # a few hundred bytes, whatever the parent count
    child_state = state["bookmarks"]["customer_addresses"]
    assert "partitions" not in child_state
    newest = max(instant(r["updated_at"]) for r in sent)
    assert instant(child_state["replication_key_value"]) == newest


# -- timestamps: UTC out, bookmarks compared as instants ------------------------------------


def test_timestamps_are_normalised_to_utc_z() -> None:
    assert to_utc_string("2024-05-01T14:34:56+02:00") == "2024-05-01T12:34:56Z"
    assert to_utc_string("2024-05-01T08:34:56.5-04:00") == "2024-05-01T12:34:56.500000Z"
    assert to_utc_string("2024-05-01T12:34:56") == "2024-05-01T12:34:56Z"
    assert to_utc_string("2024-05-01T12:34:56.123Z") == "2024-05-01T12:34:56.123Z"
    assert to_utc_string("not a time") == "not a time"
    assert to_utc_string(None) is None


def test_bookmark_strings_sort_like_instants() -> None:
    values = [
        "2024-05-01T12:34:56.5Z",
        "2024-05-01T12:34:56Z",
        "2024-05-01T14:34:56.25+02:00",
        "2024-05-01T12:34:56.123456Z",
        "2024-05-01T12:34:57Z",
    ]
    assert sorted(values) != sorted(values, key=instant)  # plain strings get this wrong
    assert sorted(map(bookmark_string, values)) == [
        bookmark_string(v) for v in sorted(values, key=instant)
    ]
    assert bookmark_string("2024-05-01T12:34:56Z") == "2024-05-01T12:34:56.000000Z"


class _FixedAPI(BaseHTTPRequestHandler):
    """Serves a few fixed lists (timestamps in mixed formats) as JSON."""

    pages: dict[str, Any] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.pages.get(self.path.split("?")[0], [])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fixed_api(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A definition file for a tiny local API: an incremental list with mixed timestamp
    formats, an ``append`` log and a ``replace`` snapshot."""
    _FixedAPI.pages = {
        "/items": [
            {"id": 1, "updated_at": "2024-05-01T12:34:56.5Z"},
            {"id": 2, "updated_at": "2024-05-01T12:34:56Z"},
            {"id": 3, "updated_at": "2024-05-01T14:34:56.25+02:00"},
        ],
        "/log": [{"line": "a", "at": "2024-05-01T12:00:00+00:00"}],
        "/snapshot": [{"id": 1, "updated_at": "2024-05-01T12:00:00Z"}],
    }
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "line": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    incremental = {"cursor_path": "updated_at"}
    definition = {
        "client": {"base_url": "http://127.0.0.1", "paginator": {"type": "single_page"}},
        "resources": [
            {
                "name": "items",
                "primary_key": "id",
                "write_disposition": "merge",
                "schema": "schema.json",
                "endpoint": {"path": "/items", "incremental": incremental},
            },
            {"name": "log", "schema": "schema.json", "endpoint": {"path": "/log"}},
            {
                "name": "snapshot",
                "primary_key": "id",
                "write_disposition": "replace",
                "schema": "schema.json",
                "endpoint": {"path": "/snapshot", "incremental": incremental},
            },
        ],
    }
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(definition))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FixedAPI)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = server.server_address[1]
        yield {"api_file": str(tmp_path / "api.yaml"), "base_url": f"http://127.0.0.1:{port}"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_bookmarks_compare_instants_across_formats(fixed_api: dict[str, Any]) -> None:
    first = run_tap(fixed_api)
    items = records(first, "items")
    # Offsets leave as UTC `Z`; values already in `Z` are kept as the server sent them.
    assert [r["updated_at"] for r in items] == [
        "2024-05-01T12:34:56.5Z",
        "2024-05-01T12:34:56Z",
        "2024-05-01T12:34:56.250000Z",
    ]
    assert records(first, "log") == [{"line": "a", "at": "2024-05-01T12:00:00Z"}]
    state = last_state(first)
    # As strings "...56Z" > "...56.5Z"; as instants 56.5 s is the newest.
    value = state["bookmarks"]["items"]["replication_key_value"]
    assert instant(value) == instant("2024-05-01T12:34:56.5Z")
    second = run_tap(fixed_api, state=state)
    assert [r["id"] for r in records(second, "items")] == [1]  # only the one on the bookmark


def test_append_has_no_keys_and_replace_is_full_table(fixed_api: dict[str, Any]) -> None:
    messages = run_tap(fixed_api)
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    assert schemas["log"]["key_properties"] == []
    assert schemas["items"]["key_properties"] == ["id"]
    assert schemas["snapshot"]["key_properties"] == ["id"]
    assert not schemas["snapshot"].get("bookmark_properties")
    versions = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert [m["stream"] for m in versions] == ["snapshot"]
    assert "replication_key_value" not in last_state(messages)["bookmarks"].get("snapshot", {})
    # A replace stream reads everything every time, whatever the state says.
    future = {"replication_key": "updated_at", "replication_key_value": "2030-01-01T00:00:00Z"}
    state = {"bookmarks": {"snapshot": future}}
    again = run_tap(fixed_api, state=state)
    assert len(records(again, "snapshot")) == 1
