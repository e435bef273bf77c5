"""dlt's schema contract for fields the schema does not know (issue 13): ``evolve`` (default,
lossless), ``freeze``, ``discard_value``, ``discard_row``; catalog selection still wins;
``discover_sample_pages`` adds sampled fields to the catalog."""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tap_example.engine.contract import SchemaContractError
from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample
from tests.conftest import FAST, last_state, load_into, run_tap

ROOT = Path(__file__).resolve().parent.parent
LAB_DEFINITION = ROOT / "tests" / "definitions" / "lab.yaml"
PAGE = 25  # payments' default page size in the sandbox


def records_of(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def schemas_of(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["schema"] for m in messages if m["type"] == "SCHEMA" and m["stream"] == stream]


def each_record_with_its_schema(
    messages: list[dict[str, Any]],
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(stream, record, the last SCHEMA that stream sent before it)."""
    current: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message["type"] == "SCHEMA":
            current[message["stream"]] = message["schema"]
        elif message["type"] == "RECORD":
            yield message["stream"], message["record"], current[message["stream"]]


@pytest.fixture
def drifting() -> Iterator[SandboxServer]:
    """payments whose lists gain ``loyalty_tier`` and a string ``_sandbox_rev`` from page 2."""
    with SandboxServer(api="payments") as server:
        server.fake_api.evolve_fields(after=PAGE)
        yield server


def test_evolve_keeps_every_field_and_announces_it_first(
    drifting: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages = run_tap(drifting.tap_config())
    customers = records_of(messages, "customers")
    served = {r["id"]: r for r in drifting.records("customers")}
    assert len(customers) == len(served)
    for record in customers:  # nothing the API sent is lost
        for field, value in served[record["id"]].items():
            assert field in record, field
            if field != "created":
                assert record[field] == value, field
    # Records of page 1 have no loyalty_tier; the SCHEMA that declares it comes before page 2.
    assert "loyalty_tier" not in customers[0] and "loyalty_tier" in customers[PAGE]
    schemas = schemas_of(messages, "customers")
    assert "loyalty_tier" not in schemas[0]["properties"]
    assert "loyalty_tier" in schemas[-1]["properties"]
    assert "string" in schemas[-1]["properties"]["_sandbox_rev"]["type"]  # widened, not lost
    assert all(a != b for a, b in itertools.pairwise(schemas))  # each change sent once
    assert len(schemas) < 10
    for stream, record, schema in each_record_with_its_schema(messages):
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(record))
        assert not errors, (stream, errors[0].message)
    said = [r.getMessage() for r in caplog.records if "schema contract 'evolve'" in r.getMessage()]
    customers_lines = [line for line in said if "stream 'customers'" in line]
    assert len(customers_lines) == 1 and "loyalty_tier" in customers_lines[0]


def test_discard_value_drops_the_fields_and_says_which(
    drifting: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages = run_tap({**drifting.tap_config(), "schema_contract": "discard_value"})
    customers = records_of(messages, "customers")
    assert len(customers) == len(drifting.records("customers"))
    assert all("loyalty_tier" not in r and "_sandbox_rev" not in r for r in customers)
    said = [r.getMessage() for r in caplog.records if "stream 'customers'" in r.getMessage()]
    assert any("dropped fields" in line and "loyalty_tier" in line for line in said)


def test_discard_row_skips_the_records_and_counts_them(
    drifting: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages = run_tap({**drifting.tap_config(), "schema_contract": "discard_row"})
    # Every sandbox record carries the undeclared _sandbox_rev: all are skipped, and counted.
    assert records_of(messages, "customers") == []
    total = len(drifting.records("customers"))
    said = [r.getMessage() for r in caplog.records if "stream 'customers'" in r.getMessage()]
    assert any(f"skipped {total} records" in line for line in said), said


def lab_config(server: SandboxServer, tmp_path: Path, **document_changes: Any) -> dict[str, Any]:
    document = yaml.safe_load(LAB_DEFINITION.read_text())
    document["resources"] = [r for r in document["resources"] if r["name"] == "events"]
    document.update(document_changes)
    path = tmp_path / "lab-events.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return {
        **FAST,
        **server.tap_config(),
        "base_url": f"{server.base_url}/oauth-cc",
        "api_file": str(path),
    }


def test_freeze_stops_at_the_first_new_field_and_state_stays_valid(tmp_path: Path) -> None:
    with SandboxServer("lab") as server:
        config = {**lab_config(server, tmp_path), "schema_contract": "freeze"}
        tap = TapExample(config=config)
        _ = tap.streams  # the schema is inferred from the first page, before the drift
        server.fake_api.evolve_fields(after=15)
        buffer = io.StringIO()
        with redirect_stdout(buffer), pytest.raises(SchemaContractError) as caught:
            tap.sync_all()
        served = server.records("events")
    message = str(caught.value)
    assert "\n" not in message
    assert "stream 'events'" in message and "'loyalty_tier'" in message
    assert "'freeze'" in message and "schema_contract" in message
    messages = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    emitted = {r["id"] for r in records_of(messages, "events")}
    assert emitted == {r["id"] for r in served[:15]}
    for state in [m["value"] for m in messages if m["type"] == "STATE"]:
        value = state.get("bookmarks", {}).get("events", {}).get("replication_key_value")
        if value is not None:  # a bookmark never claims a record that was not emitted
            claimed = {r["id"] for r in served if r["occurred_at"] <= value}
            assert claimed <= emitted


def test_the_definition_sets_the_contract_and_the_setting_wins(tmp_path: Path) -> None:
    with SandboxServer("lab") as server:
        config = lab_config(
            server, tmp_path, resource_defaults={"schema_contract": {"columns": "discard_value"}}
        )
        tap = TapExample(config=config)
        _ = tap.streams
        server.fake_api.evolve_fields(after=15)
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            tap.sync_all()
        messages = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
        assert all("loyalty_tier" not in r for r in records_of(messages, "events"))
        evolved = run_tap({**config, "schema_contract": "evolve"})
        assert any("loyalty_tier" in r for r in records_of(evolved, "events"))


def test_catalog_selection_still_wins(drifting: SandboxServer) -> None:
    config = drifting.tap_config()
    catalog = TapExample(config={**FAST, **config}).catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] != "customers":
            continue
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", "email"]:
                item["metadata"]["selected"] = False
    customers = records_of(run_tap(config, catalog=catalog), "customers")
    assert customers and all("email" not in r for r in customers)
    assert any("loyalty_tier" in r for r in customers)  # new fields of a selected stream go out


def test_discovery_can_sample_pages_for_new_fields(drifting: SandboxServer) -> None:
    def discovered(pages: int) -> dict[str, Any]:
        tap = TapExample(config={**drifting.tap_config(), "discover_sample_pages": pages})
        with redirect_stdout(io.StringIO()) as out:
            tap.run_discovery()
        catalog: dict[str, Any] = json.loads(out.getvalue())
        entry: dict[str, Any] = next(
            e for e in catalog["streams"] if e["tap_stream_id"] == "customers"
        )
        return entry

    assert "loyalty_tier" not in discovered(0)["schema"]["properties"]
    sampled = discovered(2)
    assert "loyalty_tier" in sampled["schema"]["properties"]
    breadcrumbs = [m["breadcrumb"] for m in sampled["metadata"]]
    assert ["properties", "loyalty_tier"] in breadcrumbs  # so Meltano's select lists it


def test_the_state_of_an_evolving_run_is_usable(drifting: SandboxServer) -> None:
    first = run_tap(drifting.tap_config())
    again = run_tap(drifting.tap_config(), state=last_state(first))
    assert len(records_of(again, "events")) < len(records_of(first, "events"))


def test_target_jsonl_keeps_a_field_that_appears_on_page_two(
    drifting: SandboxServer, target_jsonl: Path, tmp_path: Path
) -> None:

    config = tmp_path / "target-jsonl.json"
    config.write_text(json.dumps({"destination_path": str(tmp_path / "out")}))
    (tmp_path / "out").mkdir()
    load_into(target_jsonl, config, run_tap(drifting.tap_config()))
    (written,) = (tmp_path / "out").glob("customers-*.jsonl")
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    served = {r["id"]: r for r in drifting.records("customers")}
    assert len(rows) == len(served)
    assert all(row.get("loyalty_tier") == served[row["id"]].get("loyalty_tier") for row in rows)
    assert sum("loyalty_tier" in row for row in rows) == len(served) - PAGE
