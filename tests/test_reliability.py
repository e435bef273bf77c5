"""Reliability under injected faults: nothing lost, nothing duplicated, state never ahead.

Every API runs under chaos (15 % of its requests fail with the faults its definition retries),
against slow answers, expiring and rotating tokens, paging that never ends and bodies that are
wrong. The chaos figures are published in the README's ``## Reliability`` section; refresh that
table with ``python -m tests.test_reliability`` (the numbers are reproducible: fixed seed).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_example.definition import paginator_spec
from tap_example.engine.auth import OAuth2Authenticator
from tap_example.engine.paging import build_paginator
from tap_example.engine.retry import retry_after_seconds
from tap_example.errors import APIError, PaginationError, TapExampleError
from tap_example.sandbox import API_NAMES, SandboxServer
from tap_example.streams import DefinitionStream
from tap_example.tap import TapExample
from tap_example.timestamps import parse_timestamp
from tests.conftest import chaos_fault_kinds, run_cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Near-zero waits: the tests prove retries happen, not that time passes.
FAST = {"backoff_factor": 0.001}


# --------------------------------------------------------------------------- helpers


@dataclass
class Run:
    """One in-process sync: the tap, the Singer messages it wrote, the error that ended it."""

    tap: TapExample
    messages: list[dict[str, Any]]
    error: TapExampleError | None
    log: list[str] = field(default_factory=list)

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def counts(self) -> Counter[str]:
        return Counter(m["stream"] for m in self.messages if m["type"] == "RECORD")

    def key_properties(self) -> dict[str, list[str]]:
        return {m["stream"]: m["key_properties"] for m in self.messages if m["type"] == "SCHEMA"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _collect_logs(level: int = logging.INFO) -> Iterator[list[str]]:
    root = logging.getLogger()
    handler, previous = _Collect(), root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def sync(config: dict[str, Any], state: dict[str, Any] | None = None) -> Run:
    """Run a sync in-process; a tap error is returned (with the messages written before it)."""
    buffer = io.StringIO()
    error: TapExampleError | None = None
    with _collect_logs() as log:
        tap = TapExample(config=config, state=state, validate_config=True)
        with redirect_stdout(buffer):
            try:
                tap.sync_all()
            except TapExampleError as exc:
                error = exc
    messages = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return Run(tap, messages, error, log)


def assert_exactly_the_servers_records(run: Run, server: SandboxServer) -> None:
    """Every record the sandbox holds arrives, once (by key), and nothing else."""
    assert run.counts() == Counter({s: len(server.records(s)) for s in server.streams})
    keys = run.key_properties()
    for stream in server.streams:
        if not keys.get(stream):
            continue
        emitted = [tuple(r[k] for k in keys[stream]) for r in run.records(stream)]
        assert len(emitted) == len(set(emitted)), f"duplicates in {stream}"
        assert set(emitted) == {tuple(r[k] for k in keys[stream]) for r in server.records(stream)}


# --------------------------------------------------------------------------- chaos

CHAOS_SEED = 2024
CHAOS_RATE = 0.15
#: Sizes and settings so that every API makes dozens of requests (more chances to fail).
CHAOS_SERVER: dict[str, dict[str, Any]] = {
    "crm": {"sizes": {"clients": 2000, "contacts": 3000}},
    "clinical": {"sizes": {"study": 150}},
}
CHAOS_SETTINGS: dict[str, dict[str, Any]] = {"commerce": {"page_size": 5}}
_RETRY_LINE = re.compile(
    r"^stream '(?P<stream>\w+)': (?P<cause>HTTP \d{3}|\w+) from \S+; "
    r"retry \d+ of \d+ in (?P<wait>\d+\.\d\d) s$"
)


@dataclass(frozen=True)
class ChaosFigures:
    api: str
    fault_kinds: tuple[str, ...]
    requests: int
    faults: int
    retries: int
    renewals: int
    expected: int
    delivered: int


@functools.cache
def chaos_run(api: str) -> tuple[ChaosFigures, Run, SandboxServer]:
    """One sync of ``api`` under chaos (cached: the figures test and the README share it)."""
    kinds = chaos_fault_kinds(api)
    server = SandboxServer(
        api=api,
        seed=CHAOS_SEED,
        fault_rate=CHAOS_RATE,
        fault_kinds=kinds,
        **CHAOS_SERVER.get(api, {}),
    )
    with server:
        settings = {"max_retries": 10, "max_concurrency": 1, **FAST, **CHAOS_SETTINGS.get(api, {})}
        run = sync({**server.tap_config(), **settings})
    stats = server.stats
    figures = ChaosFigures(
        api=api,
        fault_kinds=kinds,
        requests=stats["requests"],
        faults=sum(stats["faults"].values()),
        retries=run.tap.retries,
        renewals=sum("renewing it" in line for line in run.log),
        expected=sum(len(server.records(s)) for s in server.streams),
        delivered=len(run.records()),
    )
    return figures, run, server


@pytest.mark.parametrize("api", API_NAMES)
def test_under_chaos_every_api_delivers_exactly_the_servers_records(api: str) -> None:
    figures, run, server = chaos_run(api)
    assert run.error is None, run.error
    assert figures.faults >= 5, "too few faults to prove anything: raise sizes or the rate"
    assert_exactly_the_servers_records(run, server)
    # Every fault was answered by one retry (or, for a 401, one token renewal).
    assert figures.retries + figures.renewals == figures.faults
    retry_lines = [_RETRY_LINE.match(line) for line in run.log if " retry " in line]
    assert len(retry_lines) == figures.retries and all(retry_lines)
    streams = {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    causes = {m.group("cause") for m in retry_lines if m}
    assert {m.group("stream") for m in retry_lines if m} <= streams
    statuses = {c.removeprefix("HTTP ") for c in causes if c.startswith("HTTP ")}
    assert statuses <= set(figures.fault_kinds) | {"200"}, causes  # 200: truncated/non-JSON


@pytest.mark.parametrize("api", ["payments", "billing", "clinical"])  # the APIs with children
def test_under_chaos_concurrent_children_deliver_exactly_the_servers_records(api: str) -> None:
    kinds = chaos_fault_kinds(api)
    with SandboxServer(
        api=api, seed=CHAOS_SEED + 1, fault_rate=CHAOS_RATE, fault_kinds=kinds
    ) as server:
        run = sync({**server.tap_config(), **FAST, "max_retries": 10, "max_concurrency": 8})
        faults = sum(server.stats["faults"].values())
    assert run.error is None, run.error
    assert faults >= 5
    assert_exactly_the_servers_records(run, server)


def chaos_table() -> str:
    rows = [
        f"Seed {CHAOS_SEED}: {CHAOS_RATE:.0%} of API requests fail with the faults each "
        "definition retries; generated by `python -m tests.test_reliability`.",
        "",
        "| API | fault kinds | API requests | faults injected | retries | "
        "token renewals | records expected | records delivered |",
        "|:----|:------------|------------:|----------------:|--------:|"
        "---------------:|-----------------:|------------------:|",
    ]
    for api in API_NAMES:
        f = chaos_run(api)[0]
        rows.append(
            f"| {api} | {', '.join(f.fault_kinds)} | {f.requests} | {f.faults} | {f.retries} | "
            f"{f.renewals} | {f.expected} | {f.delivered} |"
        )
    return "\n".join(rows)


_TABLE_BLOCK = re.compile(r"(<!-- reliability:start -->\n).*?(<!-- reliability:end -->)", re.S)


def test_readme_publishes_the_chaos_figures() -> None:
    text = README.read_text(encoding="utf-8")
    block = _TABLE_BLOCK.search(text)
    assert block, "README.md has no <!-- reliability:start --> ... <!-- reliability:end --> block"
    assert block.group(0) == f"{block.group(1)}{chaos_table()}\n{block.group(2)}", (
        "README's reliability table is stale: run python -m tests.test_reliability"
    )


# --------------------------------------------------------------------------- timeouts and Retry-After


@pytest.mark.parametrize("sandbox", ["crm"], indirect=True)
def test_a_response_slower_than_request_timeout_is_retried(sandbox: SandboxServer) -> None:
    sandbox.inject("slow:2")
    run = sync({**sandbox.tap_config(), **FAST, "request_timeout": 1, "max_retries": 2})
    assert run.error is None
    assert_exactly_the_servers_records(run, sandbox)
    assert any(_RETRY_LINE.match(line) and "Timeout from" in line for line in run.log), run.log


@pytest.mark.parametrize("sandbox", ["clinical"], indirect=True)
def test_retry_after_wins_over_backoff_and_a_past_date_means_now(sandbox: SandboxServer) -> None:
    # clinical's own backoff_factor is 5 s: the waits below can only come from Retry-After.
    sandbox.inject("429-date", "429:1")
    run = sync(sandbox.tap_config())
    assert run.error is None
    waits = [m.group("wait") for m in map(_RETRY_LINE.match, run.log) if m]
    assert waits == ["0.00", "1.00"]


def _response_with_retry_after(value: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers["Retry-After"] = value
    return response


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("86400", 300.0),  # capped
        (format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True), 0.0),
        (format_datetime(datetime.now(timezone.utc) + timedelta(days=2), usegmt=True), 300.0),
        ("soon", None),
    ],
)
def test_retry_after_header_forms(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(_response_with_retry_after(header)) == seconds


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_an_expired_token_gets_one_new_token_and_one_retry(
    sandbox: SandboxServer, concurrency: int
) -> None:
    sandbox.inject(*["pass"] * 5, 401)  # the token expires at the sixth request
    run = sync({**sandbox.tap_config(), **FAST, "max_concurrency": concurrency})
    assert run.error is None
    assert_exactly_the_servers_records(run, sandbox)
    assert sandbox.stats["tokens_issued"] == 2  # one new token, however many requests saw 401
    refused = sandbox.stats["by_status"][401]
    assert sum("renewing it" in line for line in run.log) == 1  # one renewal for all of them
    assert run.tap.retries == 0  # each refused request was sent again, not backed off
    if concurrency == 1:
        assert refused == 1


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_a_new_token_refused_again_ends_the_run(sandbox: SandboxServer) -> None:
    """Fresh tokens refused three times in a row, none ever accepted: the credentials do not
    work for this API (one refusal alone may be another job taking the client's only token)."""
    refusals = 1 + OAuth2Authenticator.fresh_refusals_allowed
    sandbox.inject(*[401] * refusals)
    run = sync({**sandbox.tap_config(), **FAST})
    assert isinstance(run.error, APIError)
    assert "HTTP 401" in str(run.error) and "check the credentials for the 'payments' API" in str(
        run.error
    )
    assert sandbox.stats["tokens_issued"] == refusals
    assert sandbox.stats["by_status"][401] == refusals


@pytest.mark.parametrize("sandbox", [{"api": "crm", "token_max_uses": 4}], indirect=True)
def test_rotated_refresh_tokens_are_followed(sandbox: SandboxServer) -> None:
    sandbox.inject("pass", 401)
    first_refresh_token = sandbox.tap_config()["refresh_token"]
    run = sync({**sandbox.tap_config(), **FAST})
    assert run.error is None
    assert_exactly_the_servers_records(run, sandbox)
    assert sandbox.stats["tokens_issued"] >= 3
    # The sandbox accepts only the newest refresh token; the tap ends holding it.
    assert run.tap.authenticator.refresh_token == sandbox.credentials["refresh_token"]
    assert run.tap.authenticator.refresh_token != first_refresh_token
    assert sandbox.stats["by_status"].get(400, 0) == 0


def _cli(config: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None) -> Any:
    return run_cli(config, tmp_path, env=env)


#: case: (setting overrides, fault to inject, the status the error names)
BAD_CREDENTIALS: dict[str, tuple[dict[str, str | None], str | None, str]] = {
    "payments": ({"client_secret": "wrong-client-secret"}, None, "401"),
    "billing": ({"api_key": "wrong-api-key-value"}, None, "401"),
    "crm": ({"refresh_token": "wrong-refresh-token"}, None, "401"),
    "commerce": (
        {"api_key": "wrong-api-key-value", "client_id": None, "client_secret": None},
        None,
        "401",
    ),
    "clinical": ({"client_secret": "wrong-client-secret"}, None, "401"),
    "billing-forbidden": ({}, "403", "403"),
}


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
def test_bad_credentials_end_quickly_with_one_line_naming_api_status_and_what_to_check(
    case: str, tmp_path: Path
) -> None:
    api = case.split("-")[0]
    overrides, fault, status = BAD_CREDENTIALS[case]
    with SandboxServer(api=api) as server:
        if fault:
            server.inject(fault)
        config = {k: v for k, v in {**server.tap_config(), **overrides}.items() if v is not None}
        result = _cli(config, tmp_path)  # no retry or backoff settings: the definition's own
        assert server.stats["requests"] <= 1
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-example: error:")
    assert api in last and status in last and "check" in last
    for value in overrides.values():
        if value:
            assert value not in result.stderr + result.stdout


# --------------------------------------------------------------------------- paging guards

PAGING_CASES = [
    ("payments", "repeat"),
    ("billing", "repeat"),
    ("crm", "repeat"),
    ("commerce", "repeat"),
    ("clinical", "repeat"),  # page numbers the server ignores: the same records again
    ("billing", "cycle"),
    ("payments", "cycle"),
]


@pytest.mark.parametrize(("api", "broken"), PAGING_CASES)
def test_paging_that_does_not_advance_ends_the_stream_with_a_clear_error(
    api: str, broken: str
) -> None:
    with SandboxServer(api=api, broken_paging=broken) as server:
        run = sync({**server.tap_config(), **FAST})
        by_path = server.stats["by_path"]
    assert isinstance(run.error, PaginationError)
    assert re.match(
        r"stream '\w+': paging does not advance at http://127\.0\.0\.1:\d+/", str(run.error)
    )
    # At most two repeats of a page, and none of its records emitted twice.
    assert max(by_path.values()) <= 3
    keys = run.key_properties()
    for stream, key in keys.items():
        if key:
            emitted = [tuple(r[k] for k in key) for r in run.records(stream)]
            assert len(emitted) == len(set(emitted)), stream


def _page(url: str, body: dict[str, Any]) -> requests.Response:
    response = requests.Response()
    response.status_code, response.url = 200, url
    response._content = json.dumps(body).encode()
    response.request = requests.Request("GET", url).prepare()
    return response


@pytest.mark.parametrize(
    ("cursors", "message"),
    [
        (["A", "A"], "the same cursor token twice in a row"),
        (["A", "B", "A"], "a cursor token it had sent before (a cycle)"),
    ],
)
def test_a_repeated_or_cycling_cursor_stops_before_the_next_request(
    cursors: list[str], message: str
) -> None:
    paginator = build_paginator(paginator_spec({"type": "cursor", "cursor_param": "cursor"}))
    with pytest.raises(PaginationError, match=re.escape(message)):
        for index, cursor in enumerate(cursors):
            paginator.advance(_page(f"https://api.example.com/x?n={index}", {"cursor": cursor}))
    assert paginator.count == len(cursors)


def test_a_page_of_records_seen_before_is_refused() -> None:
    paginator = build_paginator(paginator_spec({"type": "page_number", "total_path": None}))
    first = _page("https://api.example.com/x?page=0", {})
    paginator.check_page_is_new(first, [{"id": 1}, {"id": 2}])
    paginator.check_page_is_new(first, [])  # an empty page is never "the same page"
    paginator.check_page_is_new(first, [{"id": 3}])
    with pytest.raises(PaginationError, match="a page of records it had already sent"):
        paginator.check_page_is_new(
            _page("https://api.example.com/x?page=5", {}), [{"id": 1}, {"id": 2}]
        )


def test_maximum_page_in_a_definition_stops_quietly_before_the_page_limit() -> None:
    paginator = build_paginator(
        paginator_spec({"type": "page_number", "total_path": None, "maximum_page": 2})
    )
    paginator.max_pages = 2
    for page in range(2):
        paginator.advance(_page(f"https://api.example.com/x?page={page}", {}))
    assert paginator.finished


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_a_page_limit_stops_runaway_paging(sandbox: SandboxServer) -> None:
    run = sync({**sandbox.tap_config(), **FAST, "page_size": 10, "max_pages_per_partition": 3})
    assert isinstance(run.error, PaginationError)
    assert re.match(
        r"stream '\w+': paging ran past 3 pages at http://127\.0\.0\.1:", str(run.error)
    )
    assert "raise the setting max_pages_per_partition" in str(run.error)
    assert max(sandbox.stats["by_path"].values()) == 3  # the fourth page was never requested


def test_the_page_limit_has_a_generous_default() -> None:
    tap = TapExample(config={"api": "payments"}, validate_config=True)
    assert tap.max_pages == 100_000
    setting = tap.config_jsonschema["properties"]["max_pages_per_partition"]
    assert setting["default"] == 100_000


# --------------------------------------------------------------------------- bad responses


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_a_body_that_stays_non_json_is_an_error_naming_stream_and_url(
    sandbox: SandboxServer,
) -> None:
    sandbox.inject("nonjson", "nonjson")
    run = sync({**sandbox.tap_config(), **FAST, "max_retries": 1})
    assert isinstance(run.error, APIError)
    assert re.search(
        r"^stream '\w+': GET http://127\.0\.0\.1:\d+/\S+ answered HTTP 200 with a "
        r"body that is not JSON .* \(gave up after 1 retries\)$",
        str(run.error),
    ), run.error


@pytest.mark.parametrize("sandbox", ["billing"], indirect=True)
def test_a_success_status_with_an_error_body_is_an_error(sandbox: SandboxServer) -> None:
    sandbox.inject("error-200")
    run = sync({**sandbox.tap_config(), **FAST})
    assert isinstance(run.error, APIError)
    assert re.search(
        r"^stream 'customers': GET http://127\.0\.0\.1:\d+/v1/customers\S* answered HTTP 200 "
        r"with an error instead of records: upstream store unavailable$",
        str(run.error),
    ), run.error
    assert run.records() == []


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_a_page_without_the_data_selector_path_is_a_warning(sandbox: SandboxServer) -> None:
    sandbox.inject("empty-200")  # the first page of customers: `{}`
    run = sync({**sandbox.tap_config(), **FAST})
    assert run.error is None
    warnings = [line for line in run.log if "data_selector" in line]
    assert len(warnings) == 1
    warned = re.match(
        r"stream '(?P<stream>\w+)': GET http://127\.0\.0\.1:\d+/\S+ answered without "
        r"'_embedded\.[\w-]+' \(the data_selector\)",
        warnings[0],
    )
    assert warned, warnings
    assert run.records(warned.group("stream")) == []
    assert len(run.records("events")) == len(sandbox.records("events"))


@pytest.mark.parametrize("sandbox", ["crm"], indirect=True)
def test_a_record_that_is_not_an_object_is_an_error_before_its_page_is_emitted(
    sandbox: SandboxServer,
) -> None:
    sandbox.inject("pass", "bad-record")  # the second page of clients
    run = sync({**sandbox.tap_config(), **FAST})
    assert isinstance(run.error, APIError)
    assert re.search(
        r"^stream 'clients': a record at http://127\.0\.0\.1:\d+/v1/clients\S* is a str, not an object$",
        str(run.error),
    ), run.error
    assert len(run.records("clients")) == 50  # the first page only


@pytest.mark.parametrize("fault", ["error-200", "bad-record", "nonjson"])
def test_bad_responses_end_the_cli_with_one_line_and_no_traceback(
    fault: str, tmp_path: Path
) -> None:
    with SandboxServer(api="billing") as server:
        server.inject(*[fault] * 4)
        result = _cli({**server.tap_config(), **FAST, "max_retries": 3}, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-example: error: stream 'customers': ")


# --------------------------------------------------------------------------- state after a failure


#: A partition's context as sorted (key, value) pairs; ``()`` for the stream itself.
Partition = tuple[tuple[str, Any], ...]


def _bookmark_values(state: dict[str, Any]) -> Iterator[tuple[str, Partition, Any]]:
    """(stream, partition context items, replication value) of every bookmark in a state."""
    for stream, bookmark in (state.get("bookmarks") or {}).items():
        entries = [
            ({}, bookmark),
            *((p.get("context", {}), p) for p in bookmark.get("partitions", [])),
        ]
        for context, entry in entries:
            for holder in (entry, entry.get("progress_markers") or {}):
                value = holder.get("replication_key_value")
                if value is not None:
                    yield stream, tuple(sorted(context.items())), value


def assert_state_never_ahead(run: Run) -> int:
    """Walk the messages in order: every STATE covers only records already emitted."""
    newest: dict[tuple[str, Partition], datetime] = {}
    replication_keys: dict[str, str | None] = {}
    checked = 0
    for message in run.messages:
        if message["type"] == "SCHEMA":
            keys = message.get("bookmark_properties") or [None]
            replication_keys[message["stream"]] = keys[0]
        elif message["type"] == "RECORD":
            key = replication_keys.get(message["stream"])
            stamp = parse_timestamp(message["record"].get(key)) if key else None
            if stamp is None:
                continue
            stream = message["stream"]
            for scope in ((stream, ()), *_partition_scopes(stream, message["record"])):
                if scope not in newest or stamp > newest[scope]:
                    newest[scope] = stamp
        elif message["type"] == "STATE":
            for stream, partition, value in _bookmark_values(message["value"]):
                emitted = newest.get((stream, partition))
                assert emitted is not None, (
                    f"{stream} {partition}: bookmark {value} before any record"
                )
                bookmark = parse_timestamp(value)
                assert bookmark is not None, f"{stream} {partition}: {value!r} is not a timestamp"
                assert bookmark <= emitted, f"{stream} {partition}: {value} > {emitted}"
                checked += 1
    return checked


def _partition_scopes(stream: str, record: dict[str, Any]) -> list[tuple[str, Partition]]:
    bindings = {"audit_trial": "study_id"}  # the per-parent bookmarks among the built-in APIs
    field_name = bindings.get(stream)
    return [(stream, ((field_name, record[field_name]),))] if field_name in record else []


@pytest.mark.parametrize("api", API_NAMES)
def test_after_a_hard_failure_the_state_covers_only_emitted_records(
    api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DefinitionStream, "STATE_MSG_FREQUENCY", 7)  # states mid-stream too
    settings = {**FAST, "max_retries": 0, "page_size": 20}
    with SandboxServer(api=api) as server:
        clean = sync({**server.tap_config(), **settings})
        assert clean.error is None
        assert assert_state_never_ahead(clean) > 0
        total = server.stats["requests"]
    checked = 0
    # A third of the way, two thirds, and near the end (after the incremental streams of an API
    # whose first streams are read in full have finished and stored their bookmarks).
    for fail_at in (total // 3, (2 * total) // 3, total - 3):
        with SandboxServer(api=api) as server:
            server.inject(*["pass"] * fail_at, 500)
            run = sync({**server.tap_config(), **settings})
        assert isinstance(run.error, APIError), f"{api}: no failure at request {fail_at + 1}"
        assert run.records(), f"{api}: the failure came before any record"
        checked += assert_state_never_ahead(run)
    assert checked > 0


if __name__ == "__main__":  # refresh the README's reliability table
    current = README.read_text(encoding="utf-8")
    if not _TABLE_BLOCK.search(current):
        raise SystemExit(
            "README.md has no <!-- reliability:start --> ... <!-- reliability:end --> block"
        )
    table = chaos_table()
    README.write_text(
        _TABLE_BLOCK.sub(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", current), encoding="utf-8"
    )


# --------------------------------------------------------------------------- the sandbox's knobs


def test_the_sandbox_misbehaves_on_request() -> None:
    with pytest.raises(ValueError, match="broken_paging"):
        SandboxServer(api="billing", broken_paging="sometimes")
    with SandboxServer(api="billing") as server:
        server.inject("pass", "error-200", "empty-200", "bad-record")
        url = f"{server.base_url}/v1/customers"
        headers = {"Authorization": f"Bearer {server.api_key}"}
        answers = [requests.get(url, headers=headers, timeout=5) for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert isinstance(answers[0].json()["data"][0], dict)
        assert answers[1].json()["error"] and answers[2].json() == {}
        assert answers[3].json()["data"][0] == "not-a-record"
        assert server.stats["faults"] == {"error-200": 1, "empty-200": 1, "bad-record": 1}
        assert server.api_key in server.issued_secrets
    with SandboxServer(
        api="payments", broken_paging="cycle", link_origin="http://x.test"
    ) as server:
        token = requests.post(
            server.token_url or "",
            data={"grant_type": "client_credentials", **server.credentials},
            timeout=5,
        ).json()["access_token"]
        assert token in server.issued_secrets
        headers = {"Authorization": f"Bearer {token}"}
        pages = [
            requests.get(
                f"{server.base_url}/events", params={"offset": n}, headers=headers, timeout=5
            ).json()
            for n in (0, 200, 400)
        ]
        assert pages[2] == pages[0] != pages[1]
        assert pages[0]["_links"]["next"]["href"].startswith("http://x.test/events")
        assert server.base_url not in json.dumps(pages)
