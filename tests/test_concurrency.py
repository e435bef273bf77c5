"""Concurrent child partitions: the sequential output, bounded in flight, 429s retried once each
(the shared rate-limit policy itself: tests/test_rate_limit.py)."""

from __future__ import annotations

import io
import json
import sys
import threading
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tap_example.engine.concurrency import PrefetchAwareRequest
from tap_example.engine.request import RequestBuilder
from tap_example.sandbox import SandboxServer
from tap_example.streams import DefinitionStream
from tap_example.tap import TapExample
from tests.conftest import FAST, run_tap

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def sync(
    config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[TapExample, list[dict[str, Any]]]:
    tap = TapExample(config={**FAST, **config}, state=state, validate_config=True)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return tap, [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def comparable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages without the clock readings (extraction time, versions, start signposts)."""
    return [_without_clock(m) for m in messages]


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_clock(v)
            for k, v in value.items()
            if k not in ("time_extracted", "version", "replication_key_signpost")
        }
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


def assert_well_formed(messages: list[dict[str, Any]]) -> None:
    schemas: set[str] = set()
    for message in messages:
        if message["type"] == "SCHEMA":
            schemas.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in schemas, f"RECORD of {message['stream']} before its SCHEMA"


CHILD_CASES = [
    {"api": "payments", "sizes": {"customers": 40}, "child_latency": 0.005},
    {"api": "billing", "sizes": {"customers": 30}, "child_latency": 0.005},
]


@pytest.mark.parametrize("sandbox", CHILD_CASES, indirect=True, ids=["payments", "billing"])
def test_concurrent_children_write_exactly_the_sequential_output(sandbox: SandboxServer) -> None:
    _tap, sequential = sync({**sandbox.tap_config(), "max_concurrency": 1})
    tap, concurrent = sync({**sandbox.tap_config(), "max_concurrency": 8})
    assert comparable(concurrent) == comparable(sequential)  # records, order, STATE: all equal
    assert_well_formed(concurrent)
    children = {"payments": "funding_sources", "billing": "customer_addresses"}[sandbox.api]
    assert any(m["type"] == "RECORD" and m["stream"] == children for m in concurrent)
    assert tap.runtime.concurrency.gate.max_seen > 1  # the children really went in parallel


def test_requests_in_flight_never_exceed_max_concurrency() -> None:
    """Counted at the server: the benchmark API tracks how many requests it serves at once."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from server import BenchServer
    finally:
        sys.path.remove(str(BENCHMARKS))
    server = BenchServer(records=10, parents=60, child_latency=0.02)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        config = {
            "api_file": str(BENCHMARKS / "api" / "children.yaml"),
            "base_url": base_url,
            "max_concurrency": 4,
        }
        _tap, messages = sync(config)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    parents = sum(1 for m in messages if m["type"] == "RECORD" and m["stream"] == "parents")
    assert parents == 60 and server.counts["children"] == 60
    assert 2 <= server.max_in_flight <= 4


@pytest.mark.parametrize("sandbox", [CHILD_CASES[0]], indirect=True, ids=["payments"])
def test_429s_under_concurrency_are_retried_once_each(sandbox: SandboxServer) -> None:
    _tap, clean = sync({**sandbox.tap_config(), "max_concurrency": 1})
    sandbox.inject(*["pass"] * 3, "429", "429", "429")  # lands on concurrent child requests
    tap, messages = sync({**sandbox.tap_config(), "max_concurrency": 8, "max_retries": 3})
    assert comparable(messages) == comparable(clean)
    assert sandbox.stats["by_status"][429] == 3
    assert tap.retries == 3  # each 429 cost one retry: concurrency did not multiply them


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_next_pages_fetched_ahead_cost_no_extra_requests_and_are_not_kept(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page is requested once, whether fetched ahead or not, and nothing stays behind."""

    config = {**sandbox.tap_config(), "page_size": 20}
    sequential_before = dict(sandbox.stats["by_path"])
    run_tap({**config, "max_concurrency": 1})
    sequential = {k: v - sequential_before.get(k, 0) for k, v in sandbox.stats["by_path"].items()}
    ahead_before = dict(sandbox.stats["by_path"])
    tap = TapExample(config={**FAST, **config, "max_concurrency": 4})
    held: list[int] = []
    original = PrefetchAwareRequest.send_next_page_ahead

    def watching(self: PrefetchAwareRequest, response: Any, context: Any) -> None:
        original(self, response, context)
        held.append(len(self.stream.run.partition.pages_ahead or []))  # memory stays flat

    monkeypatch.setattr(PrefetchAwareRequest, "send_next_page_ahead", watching)
    with redirect_stdout(io.StringIO()):
        tap.sync_all()
    assert held and max(held) == 1
    ahead = {k: v - ahead_before.get(k, 0) for k, v in sandbox.stats["by_path"].items()}
    assert {k: v for k, v in ahead.items() if v} == {k: v for k, v in sequential.items() if v}
    assert sequential["/events"] > 2  # several pages, so pages were fetched ahead
    for stream in tap.streams.values():
        assert isinstance(stream, DefinitionStream)
        assert len(stream.run.prefetched) == 0
        assert stream.run.partition.pages_ahead is None


@pytest.mark.parametrize("sandbox", ["clinical"], indirect=True)
def test_pages_of_a_list_with_a_total_are_fetched_concurrently_in_page_order(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page fan-out (issue 16): a page-number list whose body says how many pages there are
    has up to max_concurrency pages in flight; each page is requested once, and the records
    go out in the order of the sequential run."""
    config = {**sandbox.tap_config(), "page_size": 5}
    before = dict(sandbox.stats["by_path"])
    sequential = run_tap({**config, "max_concurrency": 1})
    once = {k: v - before.get(k, 0) for k, v in sandbox.stats["by_path"].items()}
    held: list[int] = []
    original = PrefetchAwareRequest.send_next_page_ahead

    def watching(self: PrefetchAwareRequest, response: Any, context: Any) -> None:
        original(self, response, context)
        held.append(len(self.stream.run.partition.pages_ahead or []))

    monkeypatch.setattr(PrefetchAwareRequest, "send_next_page_ahead", watching)
    before = dict(sandbox.stats["by_path"])
    fanned = run_tap({**config, "max_concurrency": 4})
    again = {k: v - before.get(k, 0) for k, v in sandbox.stats["by_path"].items()}
    assert max(held) == 4  # several pages in flight, never more than max_concurrency
    assert {k: v for k, v in again.items() if v} == {k: v for k, v in once.items() if v}

    def records(messages: list[dict[str, Any]]) -> list[Any]:
        return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "study"]

    assert records(fanned) == records(sequential) and len(records(fanned)) > 20


@pytest.mark.parametrize("sandbox", ["clinical"], indirect=True)
def test_a_page_requested_ahead_is_prepared_once(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paging loop reuses the request prepared when its page was requested ahead (fan-out)
    instead of preparing it again: one preparation per request of the list."""
    prepared: list[Any] = []
    original = RequestBuilder.shape

    def counting(self: RequestBuilder, request: Any, token: Any, context: Any = None) -> None:
        if self.resource.name == "study":
            prepared.append(token)
        original(self, request, token, context)

    monkeypatch.setattr(RequestBuilder, "shape", counting)
    before = dict(sandbox.stats["by_path"])
    messages = run_tap({**sandbox.tap_config(), "page_size": 5, "max_concurrency": 4})
    sent = {k: v - before.get(k, 0) for k, v in sandbox.stats["by_path"].items()}
    study_requests = max(sent.values())  # the study list is the longest list here
    assert sum(m["type"] == "RECORD" and m["stream"] == "study" for m in messages) > 20
    assert len(prepared) == study_requests, (len(prepared), sent)
