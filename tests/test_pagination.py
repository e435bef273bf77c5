"""Paginators and stop conditions, on real ``requests.Response`` objects."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import requests
from singer_sdk.streams.rest import HTTPRequest

from tap_example.definition import StopCondition, paginator_spec, parse_stop_condition
from tap_example.engine.documents import response_document
from tap_example.engine.paging import build_paginator
from tap_example.errors import APIError, PaginationError

if TYPE_CHECKING:
    from tap_example.engine.paging import DefinitionPaginator


def response(
    body: Any, url: str = "https://api.test/things?limit=2", headers: dict[str, str] | None = None
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = 200
    resp._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp.url = url
    resp.headers.update(headers or {})
    resp.request = requests.Request("GET", url).prepare()
    return resp


def request(
    url: str = "https://api.test/things", method: str = "GET", data: Any = None
) -> HTTPRequest:
    return HTTPRequest(url=url, method=method, params={"fixed": 1}, data=data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("_links.next is none", StopCondition(("_links", "next"), "missing")),
        ("has_more", StopCondition(("has_more",), "falsy")),
        (
            "not response.get('links', {}).get('next', {})",
            StopCondition(("links", "next"), "falsy"),
        ),
        ("{{ 'cursor' not in response }}", StopCondition(("cursor",), "missing")),
        ("not links.next", StopCondition(("links", "next"), "falsy")),
        ("cursor is missing", StopCondition(("cursor",), "missing")),
        ("meta.more is falsy", StopCondition(("meta", "more"), "falsy")),
    ],
)
def test_stop_condition_spellings(text: str, expected: StopCondition) -> None:
    assert parse_stop_condition(text) == expected
    assert parse_stop_condition(expected.canonical) == expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('x')",
        "response['a'] == 1",
        "has_more and True",
        "not response.get(x)",
        "a is maybe",
        "",
    ],
)
def test_stop_condition_outside_the_grammar_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not understood"):
        parse_stop_condition(text)


def test_stop_condition_semantics() -> None:
    missing = StopCondition(("_links", "next"), "missing")
    assert missing.is_met({}) and missing.is_met({"_links": {"next": None}})
    assert not missing.is_met({"_links": {"next": {"href": "x"}}})
    falsy = StopCondition(("has_more",), "falsy")
    assert falsy.is_met({"has_more": False}) and falsy.is_met({})
    assert not falsy.is_met({"has_more": True})


def walk(
    paginator: DefinitionPaginator[Any],
    pages: list[requests.Response],
    first: HTTPRequest | None = None,
) -> list[HTTPRequest]:
    """Drive a paginator the way the SDK does, recording each request it shapes."""
    sent: list[HTTPRequest] = []
    for page in pages:
        req = first or request()
        paginator.apply(req, paginator.current_value)
        sent.append(req)
        if paginator.finished:
            break
        paginator.advance(page)
        if paginator.finished:
            break
    return sent


def test_hal_next_link_is_followed_exactly() -> None:
    spec = {
        "type": "cursor",
        "cursor_path": "_links.next.href",
        "stop_condition": parse_stop_condition("_links.next is none"),
        "limit": 200,
    }
    paginator = build_paginator(paginator_spec(spec))
    first = request()
    paginator.apply(first, paginator.current_value)
    assert first.params == {"fixed": 1, "limit": 200}
    paginator.advance(
        response({"_links": {"next": {"href": "https://api.test/things?limit=200&offset=200"}}})
    )
    second = request()
    paginator.apply(second, paginator.current_value)
    assert second.url == "https://api.test/things?limit=200&offset=200" and second.params == {}
    paginator.advance(response({"_links": {"self": {"href": "x"}}}))
    assert paginator.finished


def test_json_link_relative_and_null() -> None:
    paginator = build_paginator(
        paginator_spec({"type": "json_link", "next_url_path": "links.next"})
    )
    paginator.advance(
        response({"links": {"next": "/things?page=2"}}, url="https://api.test/things")
    )
    assert paginator.current_value == "https://api.test/things?page=2"
    paginator.advance(response({"links": {"next": None}}))
    assert paginator.finished


def test_cursor_in_query_with_has_more() -> None:
    spec = {
        "type": "cursor",
        "cursor_param": "next",
        "stop_condition": parse_stop_condition("has_more"),
        "limit": 20,
    }
    paginator = build_paginator(paginator_spec(spec))
    paginator.advance(response({"data": [1], "has_more": True, "next": "abc"}))
    req = request()
    paginator.apply(req, paginator.current_value)
    assert req.params == {"fixed": 1, "limit": 20, "next": "abc"}
    paginator.advance(response({"data": [1], "has_more": False, "next": "def"}))
    assert paginator.finished


def test_cursor_in_post_body() -> None:
    spec = {
        "type": "cursor",
        "cursor_path": "cursor",
        "cursor_body_path": "cursor",
        "limit": 100,
        "stop_condition": parse_stop_condition("{{ 'cursor' not in response }}"),
    }
    paginator = build_paginator(paginator_spec(spec))
    first = request(method="POST", data={"query": {"x": 1}})
    paginator.apply(first, paginator.current_value)
    assert first.data == {"query": {"x": 1}, "limit": 100} and first.params == {"fixed": 1}
    paginator.advance(response({"shifts": [], "cursor": "c2"}))
    second = request(method="POST", data={"query": {"x": 1}})
    paginator.apply(second, paginator.current_value)
    assert second.data == {"query": {"x": 1}, "limit": 100, "cursor": "c2"}
    paginator.advance(response({"shifts": []}))
    assert paginator.finished


def test_page_size_setting_overrides_limit() -> None:
    paginator = build_paginator(
        paginator_spec({"type": "cursor", "cursor_param": "next", "limit": 20}), page_size=7
    )
    req = request()
    paginator.apply(req, None)
    assert req.params["limit"] == 7


def test_page_number_stops_after_page_count() -> None:
    spec = {
        "type": "page_number",
        "base_page": 1,
        "page_param": "page",
        "limit_param": "page_size",
        "limit": 50,
        "total_path": "page_count",
    }
    paginator = build_paginator(paginator_spec(spec))
    req = request()
    paginator.apply(req, paginator.current_value)
    assert req.params == {"fixed": 1, "page_size": 50, "page": 1}
    paginator.advance(response({"page_count": 2}))
    assert paginator.current_value == 2 and not paginator.finished
    paginator.advance(response({"page_count": 2}))
    assert paginator.finished


def test_page_number_without_total_runs_until_empty_page_or_maximum() -> None:
    paginator = build_paginator(
        paginator_spec({"type": "page_number", "total_path": None, "maximum_page": 3})
    )
    for _ in range(5):
        if paginator.finished:
            break
        paginator.advance(response({"items": [1]}))
    assert paginator.finished and paginator.count == 3


def test_offset_stops_at_total() -> None:
    paginator = build_paginator(
        paginator_spec({"type": "offset", "limit": 10, "total_path": "total"})
    )
    req = request()
    paginator.apply(req, paginator.current_value)
    assert req.params == {"fixed": 1, "limit": 10, "offset": 0}
    paginator.advance(response({"total": 25}))
    paginator.advance(response({"total": 25}))
    assert paginator.current_value == 20 and not paginator.finished
    paginator.advance(response({"total": 25}))
    assert paginator.finished


def test_header_link() -> None:
    paginator = build_paginator(paginator_spec({"type": "header_link"}))
    link = (
        '<https://api.test/things?page=2>; rel="next", <https://api.test/things?page=9>; rel="last"'
    )
    paginator.advance(response([1], headers={"Link": link}))
    assert paginator.current_value == "https://api.test/things?page=2"
    paginator.advance(
        response([1], headers={"Link": '<https://api.test/things?page=1>; rel="first"'})
    )
    assert paginator.finished


def test_repeated_token_is_a_clear_error() -> None:
    paginator = build_paginator(paginator_spec({"type": "cursor", "cursor_param": "cursor"}))
    paginator.advance(response({"cursor": "same"}))
    with pytest.raises(PaginationError, match="paging does not advance"):
        paginator.advance(response({"cursor": "same"}))


def test_non_json_body_is_a_clear_error() -> None:
    with pytest.raises(APIError, match="not JSON"):
        response_document(response(b"<html>oops</html>"))
