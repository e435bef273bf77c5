"""dlt's paginator types and keys, in dlt configs loaded unchanged: the tap extracts exactly the
records dlt extracts (``rest_api_resources(config)`` iterated, no pipeline) from the same small
local server, one config per type or key (issue 17: ``json_response``, ``header_cursor``,
``stop_after_empty_page``, ``has_more_path``, ``page_body_path``, ``offset_body_path``,
``limit_body_path``, ``total_path: null``, ``maximum_page``, ``maximum_offset`` and dlt's
defaults). Configs dlt rejects are rejected by the tap too, in one line naming the key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from singer_sdk.streams.rest import HTTPRequest

import tap_example.engine.paging as paging
from tap_example.definition import AutoSpec, build_definition, paginator_spec
from tap_example.engine.paging import build_paginator
from tap_example.errors import DefinitionError, PaginationError
from tests.dlt_oracle import dlt_records, tap_records
from tests.jsonserver import Call, JSONServer

dlt_rest_api = pytest.importorskip("dlt.sources.rest_api")

ITEMS = [{"id": i, "name": f"item {i}"} for i in range(1, 24)]  # 23 items
SIZE = 5  # the server's page size where the request does not say
PAGES = 5  # ceil(23 / 5)

Answer = tuple[Any, dict[str, str]]  # the JSON body and the extra response headers


def _int(query: dict[str, Any], body: Any, name: str, default: int) -> int:
    """``name`` from the query string, else from the JSON body (a dot path), else ``default``."""
    if name in query:
        return int(query[name][0])
    node = body
    for key in name.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return int(node) if node is not None else default


def pages(query: dict[str, Any], body: Any) -> Answer:
    """Page numbers from 1 (query ``page``): a page count and ``has_more`` (bool and text)."""
    page = _int(query, body, "page", 1)
    more = page < PAGES
    data = ITEMS[(page - 1) * SIZE : page * SIZE]
    return {"data": data, "total_pages": PAGES, "has_more": more, "more_text": str(more)}, {}


def offsets(query: dict[str, Any], body: Any) -> Answer:
    """``offset``/``limit`` in the query, a record count and ``has_more``."""
    offset, limit = _int(query, body, "offset", 0), _int(query, body, "limit", SIZE)
    more = offset + limit < len(ITEMS)
    return {"data": ITEMS[offset : offset + limit], "total": len(ITEMS), "has_more": more}, {}


def search_pages(query: dict[str, Any], body: Any) -> Answer:
    """POST search: the page number (from 0) at ``paging.page`` of the JSON body."""
    page = _int(query, body, "paging.page", 0)
    assert body.get("filter") == {"kind": "all"}, body  # the resource's own body is kept
    return {"results": ITEMS[page * SIZE : (page + 1) * SIZE], "pages": PAGES}, {}


def search_offsets(query: dict[str, Any], body: Any) -> Answer:
    """POST search: the offset at ``paging.offset`` of the body, the limit in the body
    (``paging.size``) or the query (``limit``)."""
    offset = _int(query, body, "paging.offset", 0)
    limit = _int(query, body, "limit", 0) or _int(query, body, "paging.size", SIZE)
    return {"results": ITEMS[offset : offset + limit], "count": len(ITEMS)}, {}


def header_cursor(query: dict[str, Any], body: Any) -> Answer:
    """A bare list; the next cursor in the headers ``next`` and ``X-Next-Token`` (sent back as
    ``cursor`` or ``page_token``), absent on the last page."""
    start = _int(query, body, "cursor", 0) or _int(query, body, "page_token", 0)
    following = start + SIZE
    headers = {"next": str(following), "X-Next-Token": str(following)}
    return ITEMS[start:following], headers if following < len(ITEMS) else {}


def gappy(query: dict[str, Any], body: Any) -> Answer:
    """Four pages from 0 by page count; page 1 is empty (records moved away meanwhile)."""
    page = _int(query, body, "page", 0)
    data = [] if page == 1 else ITEMS[page * SIZE : (page + 1) * SIZE]
    return {"data": data, "total_pages": 4}, {}


def cursors(query: dict[str, Any], body: Any) -> Answer:
    """dlt's default cursor shape: ``cursors.next``, sent back as ``cursor``."""
    start = int(query.get("cursor", ["0"])[0])
    following = start + SIZE
    cursor = str(following) if following < len(ITEMS) else None
    return {"items": ITEMS[start:following], "cursors": {"next": cursor}}, {}


def endless_cursor(query: dict[str, Any], body: Any) -> Answer:
    """A cursor that never runs out: only ``has_more`` or an empty page says the end."""
    start = int(query.get("after", ["0"])[0])
    following = start + SIZE
    more = following < len(ITEMS)
    return {"data": ITEMS[start:following], "next_after": following, "more": more}, {}


def links(query: dict[str, Any], body: Any) -> Answer:
    """``next`` links in the body (dlt's ``json_response``, now ``json_link``)."""
    page = int(query.get("page", ["0"])[0])
    following = f"/links?page={page + 1}" if page + 1 < PAGES else None
    return {"data": ITEMS[page * SIZE : (page + 1) * SIZE], "next": following}, {}


ROUTES: dict[str, Callable[[dict[str, Any], Any], Answer]] = {
    "/pages": pages,
    "/offsets": offsets,
    "/search/pages": search_pages,
    "/search/offsets": search_offsets,
    "/header-cursor": header_cursor,
    "/gappy": gappy,
    "/cursors": cursors,
    "/endless": endless_cursor,
    "/links": links,
}


def answer(call: Call) -> tuple[int, Any]:
    route = ROUTES.get(call.path)
    if route is None:
        return 404, {"error": "no such path"}
    body, headers = route(call.query, call.json())
    call.answer_headers.update(headers)
    return 200, body


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with JSONServer(answer) as server:
        yield server.origin


def resource(name: str, path: str, paginator: Any, **endpoint: Any) -> dict[str, Any]:
    return {"name": name, "endpoint": {"path": path, "paginator": paginator, **endpoint}}


SEARCH = {"method": "POST", "json": {"filter": {"kind": "all"}}, "data_selector": "results"}

#: Per case: the resources, and how many records each extracts (the server's shapes are known).
CASES: dict[str, tuple[list[dict[str, Any]], dict[str, int]]] = {
    "json_response": (
        [resource("linked", "links", {"type": "json_response", "next_url_path": "next"})],
        {"linked": 23},
    ),
    "json_response-default-path": ([resource("linked", "links", "json_response")], {"linked": 23}),
    "header_cursor-defaults": (
        [resource("listed", "header-cursor", "header_cursor")],
        {"listed": 23},
    ),
    "header_cursor-key-and-param": (
        [
            resource(
                "listed",
                "header-cursor",
                {
                    "type": "header_cursor",
                    "cursor_key": "X-Next-Token",
                    "cursor_param": "page_token",
                },
            )
        ],
        {"listed": 23},
    ),
    "cursor-default-cursor_path-is-cursors.next": (
        [resource("cursored", "cursors", {"type": "cursor"}, data_selector="items")],
        {"cursored": 23},
    ),
    "cursor-has_more_path": (
        [
            resource(
                "cursored",
                "endless",
                {
                    "type": "cursor",
                    "cursor_path": "next_after",
                    "cursor_param": "after",
                    "has_more_path": "more",
                },
                data_selector="data",
            )
        ],
        {"cursored": 23},
    ),
    "cursor-stop_after_empty_page": (
        [
            resource(
                "cursored",
                "endless",
                {
                    "type": "cursor",
                    "cursor_path": "next_after",
                    "cursor_param": "after",
                    "stop_after_empty_page": True,
                },
                data_selector="data",
            )
        ],
        {"cursored": 23},
    ),
    "page_number-total_path-null-stops-at-the-empty-page": (
        [
            resource(
                "paged",
                "pages",
                {"type": "page_number", "base_page": 1, "total_path": None},
                data_selector="data",
            )
        ],
        {"paged": 23},
    ),
    "page_number-has_more_path": (
        [
            resource(
                "paged",
                "pages",
                {
                    "type": "page_number",
                    "base_page": 1,
                    "total_path": None,
                    "has_more_path": "has_more",
                    "stop_after_empty_page": False,
                },
                data_selector="data",
            ),
            resource(
                "paged_text",
                "pages",
                {
                    "type": "page_number",
                    "base_page": 1,
                    "total_path": None,
                    "has_more_path": "more_text",
                },
                data_selector="data",
            ),
        ],
        {"paged": 23, "paged_text": 23},
    ),
    "page_number-maximum_page-is-a-page-number": (
        [
            resource(
                "paged",
                "pages",
                {"type": "page_number", "base_page": 1, "total_path": None, "maximum_page": 3},
                data_selector="data",
            ),
            resource(
                "paged_from_two",
                "pages",
                {"type": "page_number", "base_page": 1, "page": 2, "total_path": "total_pages"},
                data_selector="data",
            ),
        ],
        {"paged": 10, "paged_from_two": 18},
    ),
    "page_number-stop_after_empty_page-true-stops-despite-the-total": (
        [
            resource(
                "gappy",
                "gappy",
                {"type": "page_number", "total_path": "total_pages", "stop_after_empty_page": True},
                data_selector="data",
            )
        ],
        {"gappy": 5},
    ),
    "page_number-stop_after_empty_page-false-pages-on": (
        [
            resource(
                "gappy",
                "gappy",
                {
                    "type": "page_number",
                    "total_path": "total_pages",
                    "stop_after_empty_page": False,
                },
                data_selector="data",
            )
        ],
        {"gappy": 15},
    ),
    "page_number-page_body_path": (
        [
            resource(
                "searched",
                "search/pages",
                {"type": "page_number", "page_body_path": "paging.page", "total_path": "pages"},
                **SEARCH,
            )
        ],
        {"searched": 23},
    ),
    "offset-has_more_path-and-maximum_offset": (
        [
            resource(
                "offsets",
                "offsets",
                {"type": "offset", "limit": 4, "total_path": None, "has_more_path": "has_more"},
                data_selector="data",
            ),
            resource(
                "capped",
                "offsets",
                {"type": "offset", "limit": 5, "total_path": None, "maximum_offset": 12},
                data_selector="data",
            ),
        ],
        {"offsets": 23, "capped": 15},
    ),
    "offset-offset_body_path-limit-in-the-query": (
        [
            resource(
                "searched",
                "search/offsets",
                {
                    "type": "offset",
                    "limit": 6,
                    "offset_body_path": "paging.offset",
                    "total_path": "count",
                },
                **SEARCH,
            )
        ],
        {"searched": 23},
    ),
    "offset-offset_body_path-and-limit_body_path": (
        [
            resource(
                "searched",
                "search/offsets",
                {
                    "type": "offset",
                    "limit": 7,
                    "offset_body_path": "paging.offset",
                    "limit_body_path": "paging.size",
                    "total_path": "count",
                },
                **SEARCH,
            )
        ],
        {"searched": 23},
    ),
}


def rows(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


@pytest.mark.parametrize("case", list(CASES))
def test_the_tap_pages_as_dlt_pages(base_url: str, tmp_path: Path, case: str) -> None:
    resources, counts = CASES[case]
    config = {"client": {"base_url": base_url}, "resources": resources}
    expected = dlt_records(config)
    assert {name: len(found) for name, found in expected.items()} == counts  # the oracle's view
    got = tap_records(config, tmp_path)
    assert set(got) == set(expected)
    for stream, records in expected.items():
        assert rows(got[stream]) == rows(records), stream


def build(paginator: Any, method: str = "GET") -> Any:
    endpoint = {"path": "things", "method": method, "paginator": paginator}
    document = {
        "client": {"base_url": "https://api.test"},
        "resources": [{"name": "things", "endpoint": endpoint}],
    }
    return build_definition(document, origin="test.yaml", settings={}, base_dir=Path("."), name="t")


@pytest.mark.parametrize(
    ("paginator", "message"),
    [
        (
            {"type": "page_number", "total_path": None, "stop_after_empty_page": False},
            r"paginator type 'page_number' never stops .* set total_path, maximum_page",
        ),
        (
            {"type": "offset", "limit": 5, "total_path": None, "stop_after_empty_page": False},
            r"paginator type 'offset' never stops .* set total_path, maximum_offset",
        ),
        (
            {"type": "page_number", "page_param": "p", "page_body_path": "paging.page"},
            r"takes 'page_param' or 'page_body_path', not both",
        ),
        (
            {"type": "offset", "limit": 5, "limit_param": "n", "limit_body_path": "paging.n"},
            r"takes 'limit_param' or 'limit_body_path', not both",
        ),
        (
            {"type": "cursor", "cursor_param": "c", "cursor_body_path": "paging.c"},
            r"takes 'cursor_param' or 'cursor_body_path', not both",
        ),
    ],
)
def test_configs_dlt_rejects_are_one_line_errors_naming_the_key(
    paginator: dict[str, Any], message: str
) -> None:
    config = {
        "client": {"base_url": "https://api.test", "paginator": paginator},
        "resources": ["things"],
    }
    with pytest.raises(ValueError, match=r"must be provided|not both"):
        dlt_records(config)
    with pytest.raises(DefinitionError, match=message) as caught:
        build(paginator, method="POST")
    assert "\n" not in str(caught.value)
    assert "resources[0] (things).endpoint.paginator" in str(caught.value)


def test_body_paths_need_a_post() -> None:
    with pytest.raises(DefinitionError, match=r"paginator\.page_body_path: needs method POST"):
        build({"type": "page_number", "page_body_path": "paging.page"})


def test_a_missing_or_non_boolean_has_more_is_a_paging_error() -> None:
    def response(body: Any) -> requests.Response:
        answer = requests.Response()
        answer.status_code = 200
        answer._content = json.dumps(body).encode()
        answer.url = "https://api.test/things"
        return answer

    spec = paginator_spec({"type": "page_number", "total_path": None, "has_more_path": "more"})
    paginator = build_paginator(spec)
    with pytest.raises(PaginationError, match=r"has_more_path 'more' is not in the response"):
        paginator.advance(response({"data": [1]}))
    with pytest.raises(PaginationError, match=r"has_more_path 'more' .* is not a boolean: 3"):
        build_paginator(spec).advance(response({"data": [1], "more": 3}))
    paginator = build_paginator(spec)
    paginator.advance(response({"data": [1], "more": "no"}))
    assert paginator.finished


def test_body_placed_offsets_fan_out_to_distinct_requests() -> None:
    """Page fan-out (a known total: several pages requested at once) puts each upcoming
    offset into its own copy of the body, so every prefetched answer is a different page."""
    spec = paginator_spec(
        {
            "type": "offset",
            "limit": 5,
            "offset_body_path": "paging.offset",
            "limit_body_path": "paging.size",
            "total_path": "count",
        }
    )
    paginator = build_paginator(spec)
    first = {"results": ITEMS[:5], "count": len(ITEMS)}
    answer = requests.Response()
    answer.status_code = 200
    answer._content = json.dumps(first).encode()
    answer.url = "https://api.test/search"
    tokens = paginator.peek_ahead(answer, 8)
    assert tokens == [5, 10, 15, 20]
    bodies: list[Any] = []
    body = {"filter": {"kind": "all"}}
    for token in tokens:
        request = HTTPRequest(method="POST", url="https://api.test/search", data=body)
        paginator.apply(request, token)
        bodies.append(request.data)
    assert body == {"filter": {"kind": "all"}}  # the resource's body is never changed
    assert bodies == [
        {"filter": {"kind": "all"}, "paging": {"offset": t, "size": 5}} for t in tokens
    ]


def test_by_default_the_tap_pages_on_past_an_empty_page_a_total_says_is_not_the_last(
    base_url: str, tmp_path: Path
) -> None:
    """The one deliberate difference: without ``stop_after_empty_page`` dlt stops at the empty
    page (its default is ``true``) and loses the pages after it; the tap goes on while the
    total says more pages follow (issue 12). ``stop_after_empty_page: true`` is dlt's way."""
    paginator = {"type": "page_number", "total_path": "total_pages"}
    config = {
        "client": {"base_url": base_url},
        "resources": [resource("gappy", "gappy", paginator, data_selector="data")],
    }
    assert len(dlt_records(config)["gappy"]) == 5
    assert len(tap_records(config, tmp_path)["gappy"]) == 15


def test_detection_is_remembered_per_resource_not_per_module() -> None:
    """What ``auto`` detected lives on the resource's spec (one per definition load), so two
    runs never share it."""
    assert not hasattr(paging, "_DETECTED")
    first, second = paginator_spec("auto"), paginator_spec("auto")
    assert isinstance(first, AutoSpec) and isinstance(second, AutoSpec)
    assert first == second and first.detection is not second.detection
    assert "detection" not in AutoSpec.keys()  # noqa: SIM118 - keys() is the spec's, not a dict's
    copy_ = first.with_page_size(50)
    assert isinstance(copy_, AutoSpec) and copy_.detection is first.detection
