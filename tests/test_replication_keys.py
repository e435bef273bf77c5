"""Honest replication keys (issue 12, item 2): a stream is incremental only on a field that
changes whenever the record does, or when the resource is append-only; creation-time cursors are
offered for opt-in only. The sandbox updates records as the real APIs do (creation times stay)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tap_example.sandbox import API_NAMES, SandboxServer
from tap_example.tap import TapExample
from tests.conftest import find_duckdb_loader, last_state, load_into, run_tap

#: Every built-in stream that replicates incrementally by default, and on what. The rest are
#: read in full each run; the reasons are written in each definition file.
INCREMENTAL = {
    "payments": {"events": "created"},
    "billing": {
        "customers": "updated_at",
        "customer_addresses": "updated_at",
        "businesses": "updated_at",
        "discounts": "updated_at",
        "prices": "updated_at",
        "products": "updated_at",
        "events": "occurred_at",
        "reports": "updated_at",
        "subscriptions": "updated_at",
        "transactions": "updated_at",
    },
    "crm": {"clients": "updated_at", "contacts": "updated_at"},
    "commerce": {"customers": "updated_at", "shifts": "updated_at"},
    "clinical": {"audit_trial": "datetime"},
}
#: Creation-time cursors, offered in the catalog for opt-in.
OPT_IN = {
    "payments": {
        "customers": "created",
        "funding_sources": "created",
        "exchange_partners": "created",
    },
    "commerce": {"locations": "created_at"},
    "clinical": {"study": "created_on"},
}


@pytest.mark.parametrize("api", API_NAMES)
def test_only_keys_that_change_with_the_record_are_incremental(api: str) -> None:
    tap = TapExample(config={"api": api})
    catalog = tap.catalog_dict
    incremental = {s.name: s.replication_key for s in tap.streams.values() if s.replication_key}
    assert incremental == INCREMENTAL[api]
    for entry in catalog["streams"]:
        root = next(m for m in entry["metadata"] if not m["breadcrumb"])["metadata"]
        name = entry["tap_stream_id"]
        if name in OPT_IN.get(api, {}):
            assert root.get("valid-replication-keys") == [OPT_IN[api][name]], name
            assert "replication-key" not in root and entry.get("replication_key") is None
        elif name in INCREMENTAL[api]:
            assert root.get("replication-key") == INCREMENTAL[api][name]


def emitted_by_key(
    messages: list[dict[str, Any]], server: SandboxServer
) -> dict[str, dict[Any, Any]]:
    keys = server.fake_api.keys
    found: dict[str, dict[Any, Any]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            found.setdefault(stream, {})[record.get(keys.get(stream, "id"))] = record
    return found


@pytest.mark.parametrize("api", API_NAMES)
def test_every_update_and_append_reaches_the_second_run(api: str) -> None:
    """Update five records and append three per stream, as the real API would (creation times
    kept): the second run, from the first run's state, emits every changed record as it is now."""
    with SandboxServer(api=api) as server:
        state = last_state(run_tap(server.tap_config()))
        changed = server.mutate(5)
        second = emitted_by_key(run_tap(server.tap_config(), state=state), server)
        for stream, keys in changed.items():
            key_field = server.fake_api.keys.get(stream, "id")
            current = {r[key_field]: r for r in server.records(stream)}
            for key in keys:
                assert key in second.get(stream, {}), f"{api}.{stream}: {key} not in the 2nd run"
                got = second[stream][key]
                for field, value in current[key].items():
                    if field in got and not field.startswith("_sandbox"):
                        assert got[field] == value or _same_instant(got[field], value), (
                            f"{api}.{stream} {key}: {field} is {got[field]!r}, now {value!r}"
                        )


def _same_instant(a: Any, b: Any) -> bool:
    from tap_example.timestamps import parse_timestamp

    return isinstance(a, str) and isinstance(b, str) and parse_timestamp(a) == parse_timestamp(b)


def test_updates_keep_creation_times_in_the_sandbox() -> None:
    with SandboxServer(api="payments") as server:
        before = {r["id"]: r["created"] for r in server.records("customers")}
        changed = server.mutate(5)
        after = {r["id"]: r for r in server.records("customers")}
        updated = [k for k in changed["customers"] if k in before]
        assert len(updated) == 5
        assert all(after[k]["created"] == before[k] for k in updated)
        assert len(after) == len(before) + 5  # appended too


def test_an_updated_customer_status_lands_in_the_warehouse(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    loader = find_duckdb_loader()
    if loader is None:
        pytest.skip("target-duckdb-lossless is not installed (scripts/test.sh installs it)")
    db = tmp_path / "warehouse.duckdb"
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps({"filepath": str(db), "default_target_schema": "payments"}))

    def load(messages: list[dict[str, Any]]) -> None:
        load_into(loader, target_config, messages)

    with SandboxServer(api="payments") as server:
        first = run_tap(server.tap_config())
        load(first)
        changed = server.mutate(5)
        load(run_tap(server.tap_config(), state=last_state(first)))
        status = {r["id"]: r["status"] for r in server.records("customers")}
        sources = len(server.records("funding_sources"))
    con = duckdb.connect(str(db))
    try:
        rows = dict(con.execute("SELECT id, status FROM payments.customers").fetchall())
        (loaded_sources,) = con.execute("SELECT count(*) FROM payments.funding_sources").fetchone()
    finally:
        con.close()
    for key in changed["customers"]:
        assert rows[key] == status[key], key
    assert len(rows) == len(status)
    assert loaded_sources == sources  # new funding sources under old customers too
