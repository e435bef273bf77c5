"""dlt's incremental keys on the tap: numeric and nested cursors kept in Singer state, lag,
ranges, ``on_cursor_value_missing`` and the params form (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_example.definition.model import Incremental
from tap_example.engine.cursor import MISSING, Cursor
from tap_example.errors import APIError
from tap_example.sandbox import SandboxServer
from tap_example.sandbox.apis.lab import API_KEY
from tests.conftest import run_tap


@pytest.fixture(scope="module")
def lab() -> Iterator[SandboxServer]:
    with SandboxServer("lab") as server:
        yield server


def events_file(tmp_path: Path, server: SandboxServer, incremental: dict[str, Any]) -> str:
    document = {
        "client": {"base_url": f"{server.base_url}/bearer", "auth": {"token": API_KEY}},
        "resources": [
            {
                "name": "events",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "data_selector": "events",
                    "params": {"limit": 10},
                    "paginator": {"type": "json_link", "next_url_path": "links.next"},
                    "incremental": incremental,
                },
            }
        ],
    }
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def bookmark(messages: list[dict[str, Any]]) -> Any:
    state = [m for m in messages if m["type"] == "STATE"][-1]["value"]
    return state["bookmarks"]["events"]["replication_key_value"]


def amounts(messages: list[dict[str, Any]]) -> list[float]:
    return [m["record"]["payload"]["amount"] for m in messages if m["type"] == "RECORD"]


def test_a_nested_numeric_cursor_is_a_numeric_bookmark_and_lag_steps_back(
    lab: SandboxServer, tmp_path: Path
) -> None:
    config = {
        "api_file": events_file(
            tmp_path, lab, {"cursor_path": "payload.amount", "initial_value": 0}
        )
    }
    first = run_tap(config)
    top = max(amounts(first))
    assert bookmark(first) == top and isinstance(bookmark(first), float)
    state = {
        "bookmarks": {"events": {"replication_key": "payload.amount", "replication_key_value": 300}}
    }
    second = amounts(run_tap(config, state=state))
    assert second and min(second) >= 300
    lagged = {
        "api_file": events_file(
            tmp_path, lab, {"cursor_path": "payload.amount", "initial_value": 0, "lag": 50}
        )
    }
    third = amounts(run_tap(lagged, state=state))
    assert min(third) >= 250 and min(third) < 300


def test_min_keeps_the_smallest_and_end_value_keeps_no_bookmark(
    lab: SandboxServer, tmp_path: Path
) -> None:
    low = {"cursor_path": "payload.amount", "initial_value": 1000, "last_value_func": "min"}
    messages = run_tap({"api_file": events_file(tmp_path, lab, low)})
    assert bookmark(messages) == min(amounts(messages))
    ranged = {"cursor_path": "payload.amount", "initial_value": 10, "end_value": 20}
    messages = run_tap({"api_file": events_file(tmp_path, lab, ranged)})
    assert all(10 <= a < 20 for a in amounts(messages)) and amounts(messages)
    state = [m for m in messages if m["type"] == "STATE"][-1]["value"]
    assert "replication_key_value" not in (state.get("bookmarks") or {}).get("events", {})


def test_the_incremental_param_form_is_the_start_param(lab: SandboxServer, tmp_path: Path) -> None:
    path = events_file(tmp_path, lab, {"cursor_path": "occurred_at"})
    document = yaml.safe_load(Path(path).read_text())
    endpoint = document["resources"][0]["endpoint"]
    del endpoint["incremental"]
    endpoint["params"]["since"] = {
        "type": "incremental",
        "cursor_path": "occurred_at",
        "initial_value": "2024-10-01T00:00:00Z",
    }
    Path(path).write_text(yaml.safe_dump(document))
    messages = run_tap({"api_file": path})
    stamps = [m["record"]["occurred_at"] for m in messages if m["type"] == "RECORD"]
    assert stamps and min(stamps) >= "2024-10-01"
    assert bookmark(messages).startswith(max(stamps)[:19])


def test_cursor_ranges_and_missing_values() -> None:
    def cursor(**keys: Any) -> Cursor:
        return Cursor("s", Incremental(cursor_path="a.b", initial_value=0, **keys))

    with pytest.raises(APIError, match=r"no value at cursor_path 'a\.b'"):
        cursor(on_cursor_value_missing="raise").value({"a": {}})
    assert cursor(on_cursor_value_missing="exclude").value({"a": None}) is MISSING
    assert cursor(on_cursor_value_missing="include").value({}) is None
    closed, opened = cursor(), cursor(range_start="open", range_end="closed")
    assert not closed.before(5.0, 5.0) and opened.before(5.0, 5.0)
    assert closed.after_end(9.0, 9.0) and not opened.after_end(9.0, 9.0)
    assert cursor(lag=3).lagged(10) == 7 and cursor(lag=30).lagged(10) == 0
    stamp = Cursor("s", Incremental(cursor_path="t", lag=60)).lagged("2024-01-01T00:01:00Z")
    assert stamp == "2024-01-01T00:00:00Z"
