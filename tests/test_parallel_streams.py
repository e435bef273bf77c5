"""Top-level streams synced concurrently (``max_parallel_streams``, ``engine/streamgroup.py``).

Against sandboxes that answer after a few milliseconds, as real APIs do: the concurrent run
writes, stream by stream, exactly the records of the sequential run in the same order; the
streams really interleave; each stream's SCHEMA precedes its records; every STATE line is safe to
resume from (resuming from any of them loses no record); a failing stream ends the run with its
error after the streams already running end; and the loaders used in the tests load the same rows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_example.engine.streamgroup import Turn, sync_streams
from tap_example.sandbox import SandboxServer
from tests.conftest import (
    FAST,
    chaos_fault_kinds,
    find_duckdb_loader,
    last_state,
    load_into,
    records_by_stream,
    run_cli,
    run_tap,
)

ROOT = Path(__file__).resolve().parents[1]
LAB_DEFINITION = ROOT / "tests" / "definitions" / "lab.yaml"
LATENCY = 0.005


def interleaves(messages: list[dict[str, Any]], streams: set[str]) -> bool:
    """Whether the records of one of ``streams`` are interrupted by another's."""
    finished: set[str] = set()
    current = None
    for message in messages:
        if message["type"] != "RECORD" or message["stream"] not in streams:
            continue
        stream = message["stream"]
        if stream != current:
            if stream in finished:
                return True
            if current is not None:
                finished.add(current)
            current = stream
    return False


def bookmarks(state: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run starts from: each stream's (and partition's) replication value."""
    found: dict[str, Any] = {}
    for stream, entry in state.get("bookmarks", {}).items():
        found[stream] = entry.get("replication_key_value")
        for partition in entry.get("partitions", []):
            key = json.dumps(partition.get("context"), sort_keys=True)
            found[f"{stream} {key}"] = partition.get("replication_key_value")
    return found


@pytest.fixture(params=["payments", "crm", "commerce"])
def slow_api(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with SandboxServer(api=request.param, latency=LATENCY, rotate_refresh_token=False) as server:
        yield server


def test_concurrent_streams_write_each_streams_sequential_records(slow_api: SandboxServer) -> None:
    config = {**slow_api.tap_config(), "max_concurrency": 8}
    sequential = run_tap({**config, "max_parallel_streams": 1})
    concurrent = run_tap({**config, "max_parallel_streams": 4})
    assert records_by_stream(concurrent) == records_by_stream(
        sequential
    )  # same records, same order per stream
    assert bookmarks(last_state(concurrent)) == bookmarks(last_state(sequential))
    schema_seen: set[str] = set()
    for message in concurrent:
        if message["type"] == "SCHEMA":
            schema_seen.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in schema_seen, "a RECORD came before its stream's SCHEMA"


@pytest.fixture
def slow_lab() -> Iterator[SandboxServer]:
    with SandboxServer("lab", default_page_size=5, latency=LATENCY) as server:
        yield server


def lab_config(server: SandboxServer, definition: Path = LAB_DEFINITION) -> dict[str, Any]:
    return {
        **FAST,
        **server.tap_config(),
        "base_url": f"{server.base_url}/oauth-cc",
        "api_file": str(definition),
        "max_parallel_streams": 6,
    }


def test_streams_interleave_and_every_state_line_is_safe_to_resume_from(
    slow_lab: SandboxServer,
) -> None:
    """Six top-level lab streams (an incremental one among them, with children): the output
    interleaves; a run resumed from any STATE line of it, together with the records written
    before that line, has every record of the full run."""
    config = lab_config(slow_lab)
    full = run_tap(config)
    assert interleaves(full, {"events", "users", "audit_logs", "exports"})
    every = {
        (stream, json.dumps(record, sort_keys=True))
        for stream, records in records_by_stream(full).items()
        for record in records
    }
    states = [i for i, m in enumerate(full) if m["type"] == "STATE"]
    assert len(states) >= 3
    # Resuming from the first, a middle and the last-but-one STATE line.
    for index in {states[0], states[len(states) // 2], states[-2]}:
        before = {
            (m["stream"], json.dumps(m["record"], sort_keys=True))
            for m in full[:index]
            if m["type"] == "RECORD"
        }
        resumed = run_tap(config, state=full[index]["value"])
        after = {
            (m["stream"], json.dumps(m["record"], sort_keys=True))
            for m in resumed
            if m["type"] == "RECORD"
        }
        missing = every - before - after
        assert not missing, f"resuming from message {index} loses {sorted(missing)[:3]}"


def test_a_failing_stream_ends_the_run_with_its_error_and_a_safe_state(
    slow_lab: SandboxServer, tmp_path: Path
) -> None:
    """The failing stream's error is the run's (one line); the others stop at their next turn,
    having written a prefix of their records; resuming from the last STATE loses nothing."""
    document = yaml.safe_load(LAB_DEFINITION.read_text())
    for resource in document["resources"]:
        if resource["name"] == "workspace":  # (a schema file: discovery reads no page)
            resource["endpoint"]["path"] = "/no-such-path"
            resource["schema"] = "workspace.json"
    (tmp_path / "workspace.json").write_text(json.dumps({"type": "object", "properties": {}}))
    definition = tmp_path / "lab.yaml"
    definition.write_text(yaml.safe_dump(document))
    # workspace is the last of six streams (by name): it starts once others ended (with STATE).
    config = {**lab_config(slow_lab, definition), "max_parallel_streams": 3}
    done = run_cli(config, tmp_path)
    assert done.returncode != 0
    assert done.stderr.count("An unhandled error occurred while syncing") == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-example: error: stream 'workspace'") and "404" in last, last
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    sequential = records_by_stream(run_tap({**lab_config(slow_lab), "max_parallel_streams": 1}))
    for stream, records in records_by_stream(messages).items():
        assert records == sequential[stream][: len(records)], stream
    state = last_state(messages)
    assert state.get("bookmarks"), "no stream ended before workspace failed"
    index = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
    before = {
        (m["stream"], json.dumps(m["record"], sort_keys=True))
        for m in messages[:index]
        if m["type"] == "RECORD"
    }
    resumed = records_by_stream(run_tap(lab_config(slow_lab), state=state))
    after = {(s, json.dumps(r, sort_keys=True)) for s, records in resumed.items() for r in records}
    every = {
        (s, json.dumps(r, sort_keys=True)) for s, records in sequential.items() for r in records
    }
    assert not every - before - after


def jsonl_rows(folder: Path) -> dict[str, list[str]]:
    """What target-jsonl wrote: each stream's lines, sorted."""
    return {
        path.name.rsplit("-", 1)[0]: sorted(path.read_text().splitlines())
        for path in folder.glob("*.jsonl")
    }


def duckdb_rows(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What target-duckdb wrote: each table's rows (loader metadata aside), sorted."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        listing = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'payments'"
        ).fetchall()
        tables = [t for (t,) in listing]
        rows = {}
        for table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'payments' AND table_name = ?",
                    [table],
                ).fetchall()
                if not c.startswith("_sdc")
            ]
            listed = ", ".join(f'"{c}"' for c in sorted(columns))
            fetched = con.execute(f'SELECT {listed} FROM payments."{table}"').fetchall()
            rows[table] = sorted(fetched, key=repr)
        return rows
    finally:
        con.close()


def test_loaders_load_the_same_rows_from_concurrent_streams(
    target_jsonl: Path, tmp_path: Path
) -> None:
    """target-jsonl and target-duckdb load, row for row, what they load from a sequential run."""
    pytest.importorskip("duckdb")
    duckdb_loader = find_duckdb_loader()
    if duckdb_loader is None:
        pytest.skip("target-duckdb-lossless is not installed (scripts/test.sh installs it)")
    with SandboxServer(api="payments", latency=LATENCY, rotate_refresh_token=False) as server:
        config = {**FAST, **server.tap_config()}
        runs = {
            "sequential": run_tap({**config, "max_parallel_streams": 1}),
            "concurrent": run_tap({**config, "max_parallel_streams": 4}),
        }
    assert interleaves(runs["concurrent"], {"business_classifications", "events", "customers"})
    jsonl: dict[str, dict[str, list[str]]] = {}
    tables: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for name, messages in runs.items():
        out = tmp_path / name
        out.mkdir()
        (tmp_path / f"{name}-jsonl.json").write_text(json.dumps({"destination_path": str(out)}))
        load_into(target_jsonl, tmp_path / f"{name}-jsonl.json", messages)
        jsonl[name] = jsonl_rows(out)
        database = tmp_path / f"{name}.duckdb"
        settings = {"filepath": str(database), "default_target_schema": "payments"}
        (tmp_path / f"{name}-duckdb.json").write_text(json.dumps(settings))
        load_into(duckdb_loader, tmp_path / f"{name}-duckdb.json", messages)
        tables[name] = duckdb_rows(database)
    assert jsonl["concurrent"] == jsonl["sequential"]
    assert set(jsonl["sequential"]) == set(records_by_stream(runs["sequential"]))
    assert tables["concurrent"] == tables["sequential"]
    assert len(tables["sequential"]) == len(records_by_stream(runs["sequential"]))


# --------------------------------------------------------------------------- the turn


def test_the_turn_is_held_by_one_thread_and_given_up_while_waiting() -> None:
    turn = Turn()
    with turn.released():  # outside a group: nothing to give up
        assert not turn.holding()
    inside: list[str] = []
    overlap: list[int] = []
    busy = [0]
    guard = threading.Lock()

    class Stream:
        def __init__(self, name: str) -> None:
            self.name = name

        def sync(self) -> None:
            for _ in range(3):
                with guard:
                    busy[0] += 1
                    overlap.append(busy[0])
                time.sleep(0.002)  # SDK code: nobody else runs
                with guard:
                    busy[0] -= 1
                with turn.released():  # a request: the others run
                    assert not turn.holding()
                    time.sleep(0.01)
                assert turn.holding()
            inside.append(self.name)

        def finalize_state_progress_markers(self) -> None:
            assert turn.holding()

    import logging

    sync_streams([Stream(n) for n in "abcd"], 4, turn, logging.getLogger("test"))
    assert sorted(inside) == list("abcd")
    assert max(overlap) == 1  # never two streams in SDK code at once


def test_the_first_error_is_raised_and_the_other_streams_stop_at_their_next_turn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    started: list[str] = []
    finished: list[str] = []
    turn = Turn()

    class Stream:
        def __init__(self, name: str) -> None:
            self.name = name

        def sync(self) -> None:
            started.append(self.name)
            for request in range(100):
                with turn.released():
                    time.sleep(0.001)
                if self.name == "a" and request == 5:  # the others are waiting for answers
                    raise RuntimeError("stream 'a': HTTP 500")
            finished.append(self.name)

        def finalize_state_progress_markers(self) -> None:
            pass

    with pytest.raises(RuntimeError, match="stream 'a'"):
        sync_streams([Stream(n) for n in "abcdef"], 4, turn, logging.getLogger("test"))
    assert "f" not in started and not finished
    assert not [r for r in caplog.records if "failed too" in r.message]  # they stopped cleanly
    assert not turn.holding() and turn._lock.acquire(blocking=False)  # the turn is free


@pytest.mark.parametrize("api", ["payments", "crm", "clinical"])
def test_concurrent_streams_under_faults_and_expiring_tokens_lose_nothing(api: str) -> None:
    """The faults the API's definition calls transient (as in the chaos suite) on one request in
    ten, and access tokens that expire after 15 uses, with four streams syncing at once: every
    served record is emitted, once per stream."""
    kinds = chaos_fault_kinds(api)
    options: dict[str, Any] = {"latency": 0.002, "token_max_uses": 15, "fault_rate": 0.1}
    with SandboxServer(api=api, fault_kinds=kinds, **options) as server:
        messages = run_tap({**server.tap_config(), "max_parallel_streams": 4, "max_retries": 10})
        stats = server.stats
        served = {stream: len(server.records(stream)) for stream in server.streams}
    emitted = {stream: len(records) for stream, records in records_by_stream(messages).items()}
    assert emitted == served
    assert stats["token_requests"] > 1 and sum(stats["faults"].values()) > 0, stats
