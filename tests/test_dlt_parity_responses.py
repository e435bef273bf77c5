"""dlt parity for answers and shapes: ``response_actions``, ``api_key`` in a cookie, an
endpoint's own ``auth``, JSONPath ``data_selector``s, ``columns`` hints and
``{incremental.*}`` in headers.

dlt is the oracle (``rest_api_resources(config)`` iterated, no pipeline): the tap loads each
config unchanged and extracts exactly the records dlt extracts from the same local server (a
small one here, bound to 127.0.0.1, with the shapes the sandbox lacks). Where dlt itself cannot
run a config (it raises ``NotImplementedError`` for an API key in a cookie) the test says so and
checks the tap alone.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_example.definition import build_definition
from tap_example.definition.model import ErrorHandler, ResponseAction
from tap_example.engine.auth import AuthRegistry
from tap_example.engine.records import RecordSelector
from tap_example.engine.retry import RetryPolicy
from tap_example.errors import ConfigError, DefinitionError
from tap_example.jsonpaths import compile_selector
from tests.conftest import records_by_stream
from tests.dlt_oracle import build, dlt_records, tap_messages
from tests.jsonserver import Call, JSONServer

dlt_rest_api = pytest.importorskip("dlt.sources.rest_api")

CLIENT_TOKEN = "client-t0ken-abc"
ADMIN_KEY = "admin-k3y-xyz"
COOKIE_KEY = "c00kie-s3cret-q"

PROJECTS = [{"id": i, "name": f"p{i}", "active": i != 3} for i in (1, 2, 3, 4)]
NESTED = {
    "data": [
        {"id": 1, "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
        {"id": 2, "items": []},
        {"id": 3, "items": [{"sku": "c", "qty": 5}]},
    ],
    "groups": [
        {"members": [{"id": 10, "active": True}, {"id": 11, "active": False}]},
        {"members": [{"id": 12, "active": True}]},
    ],
}
TYPED = [
    {
        "id": i,
        "created": f"2024-01-0{i}T10:00:00Z",
        "day": f"2024-02-0{i}",
        "amount": 1.5 * i,
        "flag": i % 2 == 0,
        "payload": {"k": i},
        "note": None if i == 2 else f"n{i}",
    }
    for i in (1, 2, 3)
]
EVENTS: list[dict[str, Any]] = [
    {"id": i, "occurred_at": f"2024-03-0{i}T00:00:00Z"} for i in range(1, 8)
]


class Lab:
    """A small API with the shapes these tests need; it remembers every request it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.other_base = ""  # another origin, for a next link off the API's host

    def answer(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any]:
        """``(status, body)`` for one request."""
        with self.lock:
            self.requests.append((path, headers))
        auth = headers.get("Authorization")
        if path == "/elsewhere":
            return 200, {"data": [{"id": "x1"}]}
        if path.startswith("/admin/"):  # the endpoint's own auth, and nothing of the client's
            if headers.get("X-Admin-Key") != ADMIN_KEY or auth:
                return 401, {"error": "admin key only"}
            return 200, {"data": [{"user": "root"}, {"user": "ops"}]}
        if path == "/public":
            return (401, {"error": "no auth"}) if auth else (200, {"data": [{"id": 1}]})
        if path == "/cookie/items":
            if f"session_key={COOKIE_KEY}" not in headers.get("Cookie", ""):
                return 401, {"error": "cookie missing"}
            return 200, {"data": [{"id": "c1"}], "next": f"{self.other_base}/elsewhere"}
        if auth != f"Bearer {CLIENT_TOKEN}":
            return 401, {"error": "bad token"}
        return self.data(path, query, headers)

    def data(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if path == "/projects":
            return 200, {"data": PROJECTS}
        if len(parts) == 3 and parts[0] == "projects" and parts[2] == "tasks":
            project = int(parts[1])
            if project == 2:
                return 404, {"error": "project 2 has no tasks list"}
            tasks = [{"id": f"t{project}-{n}", "done": n == 1} for n in (1, 2)]
            note = "archived project" if project == 3 else "ok"
            return 200, {"data": tasks, "note": note}
        if path == "/maintenance":
            return 503, {"error": "down for maintenance"}
        if path == "/pages":
            page = int(query.get("page", ["1"])[0])
            marker = "STOP-HERE" if page == 2 else "fine"
            return 200, {"data": [{"id": page * 10 + i} for i in (1, 2)], "marker": marker}
        if path == "/nested":
            return 200, NESTED
        if path == "/typed":
            return 200, {"data": TYPED}
        if path == "/events":
            since = headers.get("X-Since", "")
            return 200, {"data": [e for e in EVENTS if e["occurred_at"] >= since]}
        return 404, {"error": "no such path"}


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[Lab, str]]:
    state = Lab()

    def answer(call: Call) -> tuple[int, Any]:
        return state.answer(call.path, call.query, call.headers)

    with JSONServer(answer) as main, JSONServer(answer) as other:
        state.other_base = other.origin
        yield state, main.origin


def config(base_url: str, *resources: Any, **client: Any) -> dict[str, Any]:
    return {
        "client": {"base_url": base_url, "auth": {"token": CLIENT_TOKEN}, **client},
        "resources": list(resources),
    }


def comparable(rows: list[dict[str, Any]], drop: str = "_projects_") -> list[str]:
    """Rows as sorted JSON, without the ``_R_F`` fields the tap adds for bindings."""
    return sorted(
        json.dumps({k: v for k, v in row.items() if not k.startswith(drop)}, sort_keys=True)
        for row in rows
    )


def assert_same_as_dlt(document: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    expected = dlt_records(document)
    messages = tap_messages(document, tmp_path)
    got = records_by_stream(messages)
    for name, rows in expected.items():
        assert comparable(got.get(name, [])) == comparable(rows), name
    assert set(got) <= set(expected)
    return {"expected": expected, "messages": messages}


# --------------------------------------------------------------------------- response_actions


def test_an_ignored_404_skips_one_parents_children_as_dlt_does(
    lab: tuple[Lab, str], tmp_path: Path
) -> None:
    _, base = lab
    document = config(
        base,
        {"name": "projects", "endpoint": {"path": "projects", "paginator": "single_page"}},
        {
            "name": "tasks",
            "endpoint": {
                "path": "projects/{resources.projects.id}/tasks",
                "paginator": "single_page",
                "response_actions": [
                    {"status_code": 404, "action": "ignore"},
                    {"content": "archived", "action": "ignore"},  # a 200 matched on its body
                ],
            },
        },
    )
    run = assert_same_as_dlt(document, tmp_path)
    tasks = records_by_stream(run["messages"])["tasks"]
    assert {row["id"][:2] for row in tasks} == {"t1", "t4"}  # 2: 404, 3: "archived" body


def test_an_ignored_status_is_not_retried_and_paging_stops_at_an_ignored_page(
    lab: tuple[Lab, str], tmp_path: Path
) -> None:
    state, base = lab
    document = config(
        base,
        {
            "name": "maintenance",
            "columns": {"id": {"data_type": "bigint"}},  # the schema: no record to infer from
            "endpoint": {
                "paginator": "single_page",
                "response_actions": [
                    {"status_code": 503, "content": "maintenance", "action": "ignore"}
                ],
            },
        },
        {
            "name": "pages",
            "endpoint": {
                "paginator": {"type": "page_number", "base_page": 1, "total_path": None},
                "response_actions": [
                    {"status_code": 200, "content": "STOP-HERE", "action": "ignore"}
                ],
            },
        },
    )
    before = len(state.requests)
    run = assert_same_as_dlt(document, tmp_path)
    assert run["expected"]["maintenance"] == [] and run["expected"]["pages"]
    paths = [path for path, _ in state.requests[before:]]
    # dlt once, the tap's discovery sample once and its sync once: never retried
    assert paths.count("/maintenance") == 3
    # dlt pages 1-2, the sample page 1, the sync pages 1-2: page 3 is never asked for
    assert paths.count("/pages") == 5


def test_response_actions_the_tap_cannot_carry_are_named() -> None:
    def document(actions: Any) -> dict[str, Any]:
        return config("https://api.test", {"name": "p", "endpoint": {"response_actions": actions}})

    def build(doc: dict[str, Any]) -> Any:
        return build_definition(doc, origin="t.yaml", settings={}, base_dir=None, name="t")

    with pytest.raises(DefinitionError, match=r"unknown response action 'retry'"):
        build(document([{"status_code": 500, "action": "retry"}]))
    with pytest.raises(DefinitionError, match=r"response_actions\[0\]: needs status_code"):
        build(document([{"action": "ignore"}]))
    with pytest.raises(DefinitionError, match=r"response_actions\[0\]\.action: missing"):
        build(document([{"status_code": 404}]))
    actions = (
        build(document([{"status_code": 404, "action": "ignore"}])).resource("p").error_handler
    )
    assert actions.response_actions == (ResponseAction(status_code=404),)


def response(status: int, body: Any) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.url = "https://api.test/x"
    answer.request = requests.Request("GET", answer.url).prepare()
    return answer


def test_an_ignored_answer_is_neither_retried_nor_fatal_and_is_counted_in_one_line() -> None:
    handler = ErrorHandler(response_actions=(ResponseAction(status_code=503),))
    policy = RetryPolicy.from_handler(handler, {})
    policy.classify(response(503, {}), renewable=False, message=lambda: "x")  # no raise
    with pytest.raises(Exception, match="failed"):
        policy.classify(response(404, {}), renewable=False, message=lambda: "failed")
    definition = build(
        config(
            "https://api.test",
            {
                "name": "p",
                "endpoint": {"response_actions": [{"status_code": 503, "action": "ignore"}]},
            },
        )
    )
    selector = RecordSelector("p", definition.resource("p"), logging.getLogger("t"))
    assert selector.ignored_line() is None
    for _ in range(3):
        page = selector.page(response(503, {"error": "busy"}))
        assert page.ignored and page.records == []
    assert selector.count(response(503, "not json")) == 0
    assert selector.ignored_line() == (
        "stream 'p': 3 responses ignored by the endpoint's response_actions (HTTP 503: 3); "
        "they gave no records"
    )


# --------------------------------------------------------------------------- auth


def test_an_api_key_in_a_cookie_goes_to_the_api_host_only(
    lab: tuple[Lab, str], tmp_path: Path
) -> None:
    state, base = lab
    auth = {"type": "api_key", "name": "session_key", "api_key": COOKIE_KEY, "location": "cookie"}
    document = config(
        base,
        {
            "name": "items",
            "endpoint": {
                "path": "cookie/items",
                "paginator": {"type": "json_link", "next_url_path": "next"},
            },
        },
        auth=auth,
    )
    with pytest.raises(Exception) as caught:  # dlt's APIKeyAuth cannot send a cookie
        dlt_records(document)
    assert isinstance(caught.value.__cause__ or caught.value.__context__, NotImplementedError)
    before = len(state.requests)
    messages = tap_messages(document, tmp_path)
    assert comparable(records_by_stream(messages)["items"]) == comparable(
        [{"id": "c1"}, {"id": "x1"}]
    )
    elsewhere = [h for p, h in state.requests[before:] if p == "/elsewhere"]
    assert elsewhere and all(COOKIE_KEY not in json.dumps(h) for h in elsewhere)
    assert COOKIE_KEY not in json.dumps(messages)


def test_ignored_answers_are_said_in_one_info_line_per_stream(
    lab: tuple[Lab, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, base = lab
    document = config(
        base,
        {"name": "projects", "endpoint": {"path": "projects", "paginator": "single_page"}},
        {
            "name": "tasks",
            "endpoint": {
                "path": "projects/{resources.projects.id}/tasks",
                "paginator": "single_page",
                "response_actions": [{"status_code": 404, "action": "ignore"}],
            },
        },
    )
    with caplog.at_level(logging.INFO):
        tap_messages(document, tmp_path)
    lines = [
        r.getMessage() for r in caplog.records if "ignored by the endpoint's" in r.getMessage()
    ]
    assert lines == [
        "stream 'tasks': 1 response ignored by the endpoint's response_actions (HTTP 404: 1); "
        "they gave no records"
    ]


def test_an_endpoint_with_its_own_auth_or_none_extracts_what_dlt_extracts(
    lab: tuple[Lab, str], tmp_path: Path
) -> None:
    _, base = lab
    document = config(
        base,
        {"name": "projects", "endpoint": {"path": "projects", "paginator": "single_page"}},
        {
            "name": "admins",
            "endpoint": {
                "path": "admin/users",
                "paginator": "single_page",
                "auth": {"type": "api_key", "name": "X-Admin-Key", "api_key": ADMIN_KEY},
            },
        },
        {"name": "public", "endpoint": {"paginator": "single_page", "auth": None}},
    )
    run = assert_same_as_dlt(document, tmp_path)
    assert all(run["expected"].values())
    assert set(records_by_stream(run["messages"])) == {"projects", "admins", "public"}


def test_the_auth_registry_builds_one_authenticator_per_distinct_spec() -> None:
    admin = {"type": "api_key", "name": "X-Admin-Key", "api_key": "${admin_key}"}
    document = config(
        "https://api.test",
        "plain",
        {"name": "a", "endpoint": {"auth": admin}},
        {"name": "b", "endpoint": {"auth": admin}},
        {"name": "c", "endpoint": {"auth": {"token": CLIENT_TOKEN}}},
        {"name": "d", "endpoint": {"auth": None}},
    )
    settings = {"admin_key": ADMIN_KEY}
    definition = build(document, settings)
    registry = AuthRegistry(definition, settings=settings, base_url="https://api.test")
    auth = {r.name: registry.for_resource(r) for r in definition.resources}
    assert auth["plain"] is registry.client is auth["c"]  # the same spec as the client's
    assert auth["a"] is auth["b"] and auth["a"] is not auth["plain"] and auth["d"] is None
    prepared = requests.Request("GET", "https://api.test/a").prepare()
    assert auth["a"] is not None and auth["a"](prepared).headers["X-Admin-Key"] == ADMIN_KEY
    foreign = requests.Request("GET", "https://other.test/a").prepare()
    assert "X-Admin-Key" not in auth["a"](foreign).headers
    unset = AuthRegistry(definition, settings={}, base_url="https://api.test")
    with pytest.raises(ConfigError, match=r"authentication \(resources \(a\)\.endpoint\.auth\)"):
        unset.for_resource(definition.resource("a"))


# --------------------------------------------------------------------------- data_selector


@pytest.mark.parametrize(
    "selector",
    [
        "$.data[*].items[*]",
        "$.groups[*].members[?(@.active == true)]",
        "$.data[?(@.id > 1)]",
        "data[*]",
        "$.data[1]",
        "$..members[*]",
    ],
)
def test_jsonpath_selectors_select_what_dlt_selects(
    lab: tuple[Lab, str], tmp_path: Path, selector: str
) -> None:
    _, base = lab
    document = config(
        base,
        {
            "name": "nested",
            "endpoint": {"path": "nested", "data_selector": selector, "paginator": "single_page"},
        },
    )
    run = assert_same_as_dlt(document, tmp_path)
    assert run["expected"]["nested"]


def test_plain_selectors_keep_the_fast_path_and_bad_jsonpath_is_one_line() -> None:
    document = {"data": {"items": [{"id": 1}]}}
    assert compile_selector("data.items")(document) == [{"id": 1}]
    assert compile_selector("$.data.items[*]")(document) == [{"id": 1}]
    assert compile_selector("$.data.items[?(@.id == 2)]")(document) == []
    with pytest.raises(DefinitionError, match=r"endpoint\.data_selector: not a valid JSONPath"):
        build(config("https://api.test", {"name": "p", "endpoint": {"data_selector": "$.a[?("}}))


# --------------------------------------------------------------------------- columns


def test_column_hints_type_the_schema_and_records_match_dlt(
    lab: tuple[Lab, str], tmp_path: Path
) -> None:
    _, base = lab
    columns = {
        "id": {"data_type": "bigint", "nullable": False},
        "created": {"data_type": "timestamp"},
        "day": {"data_type": "date"},
        "amount": {"data_type": "double"},
        "flag": {"data_type": "bool", "nullable": False},
        "payload": {"data_type": "json"},
        "note": {"data_type": "text", "description": "free text"},
    }
    document = config(
        base,
        {"name": "typed", "columns": columns, "endpoint": {"paginator": "single_page"}},
    )
    run = assert_same_as_dlt(document, tmp_path)
    (schema,) = [m["schema"] for m in run["messages"] if m["type"] == "SCHEMA"]
    properties = schema["properties"]
    assert properties["id"]["type"] == "integer"
    assert properties["created"] == {"type": ["string", "null"], "format": "date-time"}
    assert properties["day"] == {"type": ["string", "null"], "format": "date"}
    assert properties["amount"]["type"] == ["number", "null"]
    assert properties["flag"]["type"] == "boolean"
    assert properties["payload"]["type"] == ["object", "array", "null"]
    assert properties["note"]["description"] == "free text"


def test_an_unknown_column_type_is_one_line_naming_it() -> None:
    resource = {"name": "p", "columns": {"id": {"data_type": "uuid"}}}
    with pytest.raises(DefinitionError, match=r"columns\.id\.data_type: 'uuid' is not one of"):
        build(config("https://api.test", resource))


# --------------------------------------------------------------------------- incremental


def test_incremental_start_value_in_a_header_is_filled_as_dlt_fills_it(
    lab: tuple[Lab, str], tmp_path: Path
) -> None:
    state, base = lab
    document = config(
        base,
        {
            "name": "events",
            "endpoint": {
                "paginator": "single_page",
                "headers": {"X-Since": "{incremental.start_value}"},
                "incremental": {
                    "cursor_path": "occurred_at",
                    "initial_value": "2024-03-05T00:00:00Z",
                },
            },
        },
    )
    before = len(state.requests)
    run = assert_same_as_dlt(document, tmp_path)
    assert [r["id"] for r in records_by_stream(run["messages"])["events"]] == [5, 6, 7]
    sent = [h.get("X-Since") for p, h in state.requests[before:] if p == "/events"]
    assert sent and all(value and value.startswith("2024-03-05") for value in sent)
