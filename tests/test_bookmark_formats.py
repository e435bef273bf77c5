"""Bookmarks in the formats real APIs use (issue 12, item 6): replication keys as RFC 3339 with
offsets, dates, date-times without a zone, epoch seconds or milliseconds (numbers or strings)
are compared as instants, kept in state in one UTC form, and sent back to the server filter in
the form the definition names; an unparseable value is a one-line error, never a lost record."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tap_example.errors import APIError
from tap_example.timestamps import bookmark_string, format_for_server, parse_timestamp
from tests.conftest import last_state, run_tap

START = datetime(2024, 5, 1, 0, 0, 0, tzinfo=timezone.utc)  # midnight: a date alone is exact

#: How the API writes its timestamps, by name.
WRITERS: dict[str, Callable[[datetime], Any]] = {
    "rfc3339-offset": lambda t: t.astimezone(timezone(timedelta(hours=2))).isoformat(),
    "no-zone": lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
    "date": lambda t: t.date().isoformat(),
    "epoch": lambda t: int(t.timestamp()),
    "epoch-string": lambda t: str(int(t.timestamp())),
    "epoch-ms": lambda t: int(t.timestamp() * 1000),
}
#: The definition's start_format for each, and how the server reads its filter parameter.
SERVER_FORMATS = {
    "rfc3339-offset": "rfc3339",
    "no-zone": "YYYY-MM-DD HH:mm:ss",
    "date": "date",
    "epoch": "epoch",
    "epoch-string": "epoch",
    "epoch-ms": "epoch_ms",
}


class FakeAPI:
    """One list, ``/items?since=``, filtering on ``updated`` (inclusive), in one time format."""

    def __init__(self, writer: Callable[[datetime], Any], step: timedelta) -> None:
        self.writer = writer
        self.step = step
        self.moments = [START + i * step for i in range(5)]
        self.since_seen: list[str | None] = []
        self.bad_value: Any = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                since = query.get("since", [None])[0]
                api.since_seen.append(since)
                body = json.dumps({"items": api.page(since)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, since: str | None) -> list[dict[str, Any]]:
        bound = parse_timestamp(since) if since else None
        rows = [
            {"id": i, "updated": self.writer(moment)}
            for i, moment in enumerate(self.moments)
            if bound is None or moment >= bound
        ]
        if self.bad_value is not None:
            rows.append({"id": 99, "updated": self.bad_value})
        return rows


@pytest.fixture
def api_factory() -> Iterator[Callable[[Callable[[datetime], Any], timedelta], FakeAPI]]:
    made: list[FakeAPI] = []

    def make(writer: Callable[[datetime], Any], step: timedelta) -> FakeAPI:
        api = FakeAPI(writer, step)
        api.thread.start()
        made.append(api)
        return api

    yield make
    for api in made:
        api.server.shutdown()
        api.server.server_close()


def definition(tmp_path: Path, start_format: str) -> Path:
    document = {
        "client": {"base_url": "http://placeholder.invalid"},
        "resources": [
            {
                "name": "items",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "/items",
                    "data_selector": "items",
                    "paginator": "single_page",
                    "incremental": {
                        "cursor_path": "updated",
                        "start_param": "since",
                        "start_format": start_format,
                    },
                },
            }
        ],
    }
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("form", sorted(WRITERS))
def test_bookmarks_in_every_format_are_instants_in_one_utc_form(
    form: str,
    tmp_path: Path,
    api_factory: Callable[[Callable[[datetime], Any], timedelta], FakeAPI],
) -> None:
    step = timedelta(days=1) if form == "date" else timedelta(hours=7)
    api = api_factory(WRITERS[form], step)
    config = {"api_file": str(definition(tmp_path, SERVER_FORMATS[form])), "base_url": api.base_url}
    first = run_tap(config)
    newest = api.moments[-1]
    state = last_state(first)
    saved = state["bookmarks"]["items"]["replication_key_value"]
    assert saved == bookmark_string(newest.isoformat()), form  # one canonical UTC form
    assert len([m for m in first if m["type"] == "RECORD"]) == 5

    # Two newer records; the second run asks the server from the bookmark, in its own form.
    api.moments += [newest + step, newest + 2 * step]
    api.since_seen.clear()
    second = run_tap(config, state=state)
    sent = [s for s in api.since_seen if s is not None]
    assert sent and sent[-1] == format_for_server(saved, SERVER_FORMATS[form]), form
    emitted = sorted(m["record"]["id"] for m in second if m["type"] == "RECORD")
    assert emitted == [4, 5, 6], form  # the record at the bookmark again, and the new ones
    final = last_state(second)["bookmarks"]["items"]["replication_key_value"]
    assert final == bookmark_string((newest + 2 * step).isoformat())


def test_an_unparseable_replication_value_is_a_one_line_error(
    tmp_path: Path, api_factory: Callable[[Callable[[datetime], Any], timedelta], FakeAPI]
) -> None:
    api = api_factory(WRITERS["rfc3339-offset"], timedelta(hours=1))
    config = {"api_file": str(definition(tmp_path, "rfc3339")), "base_url": api.base_url}
    run_tap(config)  # discovery infers the schema from good records first
    api.bad_value = "soon"
    with pytest.raises(APIError) as caught:
        run_tap(config)
    message = str(caught.value)
    assert "\n" not in message
    assert "stream 'items'" in message and "'updated'" in message and "'soon'" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:34:56+02:00", "2024-05-01T10:34:56.000000Z"),
        ("2024-05-01T12:34:56.123456789Z", "2024-05-01T12:34:56.123456Z"),
        ("2024-05-01", "2024-05-01T00:00:00.000000Z"),
        ("2024-05-01 12:34:56", "2024-05-01T12:34:56.000000Z"),
        ("20240501T123456Z", "2024-05-01T12:34:56.000000Z"),
        (1714566896, "2024-05-01T12:34:56.000000Z"),
        ("1714566896", "2024-05-01T12:34:56.000000Z"),
        (1714566896123, "2024-05-01T12:34:56.123000Z"),
        ("1714566896123", "2024-05-01T12:34:56.123000Z"),
    ],
)
def test_every_form_becomes_the_same_bookmark_form(value: Any, expected: str) -> None:
    assert bookmark_string(value) == expected
