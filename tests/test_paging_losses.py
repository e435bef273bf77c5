"""Paging that does not stop early: empty pages with a next link or cursor are followed, a
page-number or offset list with a known total goes on past an empty page, and a full first page
without the paginator's path is said in one warning line (issue 12, items 4 and 5)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tap_example.definition import paginator_spec
from tap_example.engine.paging import build_paginator
from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample
from tests.conftest import FAST, run_tap

ROOT = Path(__file__).resolve().parent.parent
LAB_DEFINITION = ROOT / "tests" / "definitions" / "lab.yaml"


def answer(body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    response.url = "https://api.test/things"
    response.headers.update(headers or {})
    response.request = requests.Request("GET", response.url).prepare()
    return response


@pytest.mark.parametrize(
    ("spec", "body", "headers", "continues"),
    [
        (
            {"type": "json_link", "next_url_path": "links.next"},
            {"links": {"next": "/p2"}},
            {},
            True,
        ),
        (
            {"type": "json_link", "next_url_path": "links.next"},
            {"links": {"next": None}},
            {},
            False,
        ),
        ({"type": "header_link"}, {}, {"Link": '<https://api.test/p2>; rel="next"'}, True),
        ({"type": "header_link"}, {}, {}, False),
        ({"type": "cursor", "cursor_param": "cursor"}, {"cursor": "abc"}, {}, True),
        (
            {
                "type": "cursor",
                "cursor_param": "c",
                "cursor_path": "next",
                "stop_condition": "has_more",
            },
            {"next": "abc", "has_more": False},
            {},
            False,
        ),
        ({"type": "page_number", "total_path": "pages"}, {"pages": 5}, {}, True),
        ({"type": "page_number", "total_path": "pages"}, {"pages": 1}, {}, False),
        ({"type": "page_number"}, {}, {}, False),  # no total: an empty page is the end
        ({"type": "offset", "limit": 10, "total_path": "total"}, {"total": 50}, {}, True),
        ({"type": "offset", "limit": 10}, {}, {}, False),
    ],
)
def test_an_empty_page_ends_paging_only_when_nothing_says_more_follow(
    spec: dict[str, Any], body: dict[str, Any], headers: dict[str, str], continues: bool
) -> None:
    paginator = build_paginator(paginator_spec(spec))
    assert paginator.continue_if_empty(answer({"items": [], **body}, headers)) is continues


def sync(tap: TapExample) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def lab_definition(tmp_path: Path, keep: str, **paginator: Any) -> Path:
    """lab.yaml with only the top-level resource ``keep`` (its paginator changed as given)."""
    document = yaml.safe_load(LAB_DEFINITION.read_text())
    document["resources"] = [r for r in document["resources"] if r["name"] == keep]
    document["resources"][0]["endpoint"]["paginator"].update(paginator)
    path = tmp_path / f"lab-{keep}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def lab() -> Iterator[SandboxServer]:
    with SandboxServer("lab", default_page_size=5) as server:
        yield server


def lab_config(server: SandboxServer, definition: Path) -> dict[str, Any]:
    return {
        **FAST,
        **server.tap_config(),
        "base_url": f"{server.base_url}/oauth-cc",
        "api_file": str(definition),
    }


@pytest.mark.parametrize(
    ("stream", "paginator", "page_size"),
    [
        ("events", {}, 10),  # json_link (params limit 10)
        ("users", {"limit": 5}, 5),  # cursor in a query parameter
        ("audit_logs", {"limit": 5}, 5),  # cursor in a POST body
        ("projects", {}, 5),  # offset with a total
    ],
)
def test_an_empty_middle_page_does_not_end_the_list(
    lab: SandboxServer, tmp_path: Path, stream: str, paginator: dict[str, Any], page_size: int
) -> None:
    config = lab_config(lab, lab_definition(tmp_path, stream, **paginator))
    tap = TapExample(config=config)
    _ = tap.streams  # discovery samples the first page now, before the faults
    total = len(lab.records(stream))
    assert total > 2 * page_size, "the list needs a page after the emptied one"
    lab.inject("pass", "empty-page")  # the second page comes back empty, its next link kept
    emitted = [m for m in sync(tap) if m["type"] == "RECORD"]
    assert len(emitted) == total - page_size, stream
    served = {json.dumps(r, sort_keys=True) for r in lab.records(stream)}
    assert all(json.dumps(m["record"], sort_keys=True) in served for m in emitted)


def test_an_empty_page_with_a_next_link_on_a_hal_api(sandbox: SandboxServer) -> None:
    config = {**FAST, **sandbox.tap_config(), "page_size": 20}
    catalog = TapExample(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "events"
    sandbox.inject("pass", "empty-page")
    emitted = [m for m in run_tap(config, catalog=catalog) if m["type"] == "RECORD"]
    assert len(emitted) == len(sandbox.records("events")) - 20


def test_a_full_first_page_without_the_paginators_path_is_said(
    lab: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    definition = lab_definition(tmp_path, "events", next_url_path="links.nxt")  # a typo
    messages = run_tap(lab_config(lab, definition))
    emitted = [m for m in messages if m["type"] == "RECORD"]
    assert len(emitted) == 10 < len(lab.records("events"))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    said = [w for w in warnings if "'links.nxt'" in w]
    assert len(said) == 1, warnings
    assert "stream 'events'" in said[0] and "first page is full" in said[0]


def test_a_right_path_or_a_short_page_says_nothing(
    lab: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_tap(lab_config(lab, lab_definition(tmp_path, "events")))
    assert not [r for r in caplog.records if "paginator's path" in r.getMessage()]


def test_an_empty_middle_page_with_a_link_header_does_not_end_the_list(tmp_path: Path) -> None:
    """header_link: one task's comments, one per page; the second page comes back empty with
    its Link header kept."""
    with SandboxServer("lab") as server:
        fake: Any = server.fake_api
        project_id, task = next(
            (pid, t)
            for pid, tasks in fake.children["tasks"].items()
            for t in tasks
            if len(fake.comments[t["id"]]) >= 3
        )
        comments = fake.comments[task["id"]]
        document = yaml.safe_load(LAB_DEFINITION.read_text())
        document["resources"] = [
            {
                "name": "task_comments",
                "primary_key": "id",
                "endpoint": {
                    "path": f"/projects/{project_id}/tasks/{task['id']}/comments",
                    "paginator": {"type": "header_link", "limit": 1},
                },
            }
        ]
        definition = tmp_path / "lab-comments.yaml"
        definition.write_text(yaml.safe_dump(document, sort_keys=False))
        tap = TapExample(config=lab_config(server, definition))
        _ = tap.streams  # discovery samples the first page now, before the fault
        server.inject("pass", "empty-page")
        emitted = [m["record"]["id"] for m in sync(tap) if m["type"] == "RECORD"]
    assert emitted == [c["id"] for c in comments if c["id"] != comments[1]["id"]]
