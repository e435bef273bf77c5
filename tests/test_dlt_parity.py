"""dlt ``rest_api`` configs, unchanged: the tap loads them and extracts exactly the records dlt
itself extracts from the same local server (dlt is the oracle, run in the test without a
pipeline: ``rest_api_resources(config)`` iterated).

The tap adds each ``{resources.R.F}`` value to child records as ``_R_F`` (dlt's
``include_from_parent`` name); dlt adds it only when ``include_from_parent`` names the field, so
the comparison drops those fields where the config does not include them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_example.definition import APIKeyAuthSpec, BearerAuthSpec
from tap_example.errors import DefinitionError
from tap_example.sandbox import SandboxServer
from tap_example.sandbox.apis.lab import API_KEY
from tests.dlt_oracle import build, dlt_records, tap_records

dlt_rest_api = pytest.importorskip("dlt.sources.rest_api")


def doc(*resources: Any, **client: Any) -> dict[str, Any]:
    return {"client": {"base_url": "https://api.test", **client}, "resources": list(resources)}


# --------------------------------------------------------------------------- auth


def test_auth_without_type_is_bearer_as_in_dlt() -> None:
    definition = build(doc("posts", auth={"token": "${token}"}), {"token": "t0k"})
    (spec,) = definition.auth
    assert isinstance(spec, BearerAuthSpec) and spec.token == "${token}"


def test_auth_string_shorthand_takes_credentials_from_settings() -> None:
    (spec,) = build(doc("posts", auth="bearer")).auth
    assert isinstance(spec, BearerAuthSpec) and spec.token == "${token}"
    (basic,) = build(doc("posts", auth="http_basic")).auth
    assert basic.values() == {"username": "${username}", "password": "${password}"}


def test_api_key_in_a_cookie_is_accepted_and_param_means_query() -> None:
    document = doc("posts", auth={"type": "api_key", "api_key": "k", "location": "cookie"})
    (spec,) = build(document).auth
    assert isinstance(spec, APIKeyAuthSpec) and spec.location == "cookie"
    document = doc("posts", auth={"type": "api_key", "api_key": "k", "location": "param"})
    (spec,) = build(document).auth
    assert isinstance(spec, APIKeyAuthSpec) and spec.location == "query"


# --------------------------------------------------------------------------- placeholders


def test_resources_expressions_derive_the_parent_with_nested_fields() -> None:
    document = doc(
        "posts",
        {
            "name": "comments",
            "include_from_parent": ["title"],
            "endpoint": {
                "path": "posts/{resources.posts.id}/comments",
                "params": {"author": "{resources.posts.author.id}"},
                "json": {"post": "{resources.posts.id}"},
                "headers": {"X-Post": "p-{resources.posts.id}"},
            },
        },
    )
    comments = build(document).resource("comments")
    assert comments.parent == "posts"
    by_name = {b.placeholder: b for b in comments.bindings}
    assert set(by_name) == {"_posts_id", "_posts_author_id"}
    assert by_name["_posts_id"].in_path and by_name["_posts_author_id"].field == "author.id"


def test_expressions_are_filled_in_path_params_json_and_headers() -> None:
    from tap_example.engine.request import RequestBuilder

    document = doc(
        "posts",
        {
            "name": "comments",
            "endpoint": {
                "path": "posts/{resources.posts.id}/comments",
                "params": {"author": "{resources.posts.author.id}", "fixed": 1},
                "json": {"post": "{resources.posts.id}", "text": "id {resources.posts.id}"},
                "headers": {"X-Post": "p-{resources.posts.id}"},
            },
        },
    )
    definition = build(document)
    builder = RequestBuilder(definition, definition.resource("comments"), None)
    context = {"_posts_id": 7, "_posts_author_id": "a b"}
    assert builder.url("https://api.test", context) == "https://api.test/posts/7/comments"
    assert builder.params(context) == {"author": "a b", "fixed": 1}
    assert builder.payload(context) == {"post": 7, "text": "id 7"}
    assert builder.headers_for(context)["X-Post"] == "p-7"


def test_plain_params_bind_into_the_path_and_paths_default_to_the_name() -> None:
    document = doc(
        {"name": "repo", "endpoint": {"path": "repos/{owner}/issues", "params": {"owner": "o"}}},
        {"name": "users", "endpoint": {"params": {"q": 1}}},
        {"name": "root", "endpoint": {"path": ""}},
        {"name": "bare"},
    )
    definition = build(document)
    repo = definition.resource("repo")
    assert repo.path == "repos/o/issues" and repo.params == {}
    assert definition.resource("users").path == "users"
    assert definition.resource("bare").path == "bare"
    from tap_example.engine.request import RequestBuilder

    root = RequestBuilder(definition, definition.resource("root"), None)
    assert root.url("https://api.test/v1", None) == "https://api.test/v1"


def test_a_single_entity_path_reads_one_page_and_the_whole_body() -> None:
    document = doc("posts", {"name": "post", "endpoint": "posts/{resources.posts.id}"})
    post = build(document).resource("post")
    assert post.paginator is not None and post.paginator.kind == "single_page"
    assert post.data_selector == "$"


def test_include_from_parent_with_expression_parent_is_accepted() -> None:
    document = doc(
        "posts",
        {"name": "comments", "include_from_parent": ["id"], "endpoint": "p/{resources.posts.id}/c"},
    )
    assert build(document).resource("comments").include_from_parent == ("id",)


# --------------------------------------------------------------------------- dlt keys


def test_destination_hints_are_accepted_with_one_note_each() -> None:
    document = doc(
        {
            "name": "posts",
            "table_name": "blog_posts",
            "columns": {"id": {"data_type": "bigint", "precision": 64}},
            "max_table_nesting": 1,
            "write_disposition": {"disposition": "merge", "strategy": "upsert"},
            "primary_key": "id",
        }
    )
    definition = build(document)
    assert definition.resource("posts").write_disposition == "merge"
    notes = "\n".join(definition.notes)
    assert "dlt's table_name is accepted" in notes and "column hints precision" in notes
    assert "strategy 'upsert'" in notes and len(definition.notes) == 4


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            {"name": "p", "processing_steps": [{"filter": "x"}]},
            r"dlt's processing_steps holds Python callables .* stream maps",
        ),
        (
            {"name": "p", "endpoint": {"method": "POST", "data": {"a": 1}, "json": {"a": 1}}},
            r"endpoint\.data: 'json' and 'data' cannot both be given \(dlt's rule\)",
        ),
        (
            {
                "name": "p",
                "endpoint": {
                    "method": "POST",
                    "data": {"a": 1},
                    "paginator": {"type": "cursor", "cursor_body_path": "after"},
                },
            },
            r"paginator\.cursor_body_path: writes into a 'json' body, not 'data'",
        ),
        (
            {"name": "p", "endpoint": {"incremental": {"cursor_path": "u", "convert": len}}},
            r"incremental\.convert: dlt's convert is not supported by tap-example because",
        ),
        (
            {"name": "p", "endpoint": {"response_actions": [len]}},
            r"response_actions\[0\]: dlt's response action is a Python callable",
        ),
        (
            {"name": "p", "endpoint": {"response_actions": [{"status_code": 404, "action": len}]}},
            r"dlt's custom response action is not supported by tap-example because",
        ),
    ],
)
def test_dlt_keys_the_tap_cannot_honour_are_named_never_unknown(
    resource: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as caught:
        build(doc(resource))
    assert "unknown key" not in str(caught.value)


# --------------------------------------------------------------------------- the oracle


@pytest.fixture(scope="module")
def lab() -> Iterator[SandboxServer]:
    with SandboxServer("lab") as server:
        yield server


def without_bindings(rows: list[dict[str, Any]], resource: dict[str, Any]) -> list[str]:
    """Rows as sorted JSON, without the ``_R_F`` fields the config did not include."""
    text = json.dumps(resource.get("endpoint") or {})
    parent = text.split("{resources.")[1].split(".")[0] if "{resources." in text else None
    kept = {f"_{parent}_{field}" for field in resource.get("include_from_parent") or ()}
    return sorted(
        json.dumps(
            {
                k: v
                for k, v in row.items()
                if parent is None or not k.startswith(f"_{parent}_") or k in kept
            },
            sort_keys=True,
        )
        for row in rows
    )


def lab_config(server: SandboxServer, resources: list[Any], **client: Any) -> dict[str, Any]:
    return {
        "client": {"base_url": f"{server.base_url}/bearer", "auth": {"token": API_KEY}, **client},
        "resources": resources,
    }


ORACLE_CONFIGS: dict[str, list[Any]] = {
    "resources-expressions-and-explicit-paginators": [
        {
            "name": "projects",
            "endpoint": {
                "path": "projects",
                "data_selector": "items",
                "paginator": {"type": "offset", "limit": 5, "total_path": "total"},
            },
        },
        {
            "name": "tasks",
            "include_from_parent": ["name"],
            "endpoint": {
                "path": "projects/{resources.projects.id}/tasks",
                "data_selector": "data",
                "params": {"per_page": 2},
                "paginator": {
                    "type": "page_number",
                    "base_page": 1,
                    "total_path": "meta.total_pages",
                },
            },
        },
        {
            "name": "users",
            "endpoint": {
                "data_selector": "results",
                "params": {"limit": 10},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "cursor",
                },
            },
        },
    ],
    "no-paginator-dlt-detects-it": [
        {"name": "projects", "endpoint": {"path": "projects"}},
        {"name": "users", "endpoint": {"data_selector": "results", "params": {"limit": 10}}},
        {"name": "events", "endpoint": {"data_selector": "events", "params": {"limit": 10}}},
        "exports",
        {
            "name": "comments",
            "endpoint": "projects/{resources.projects.id}/tasks/tsk_{resources.projects.id}_1/comments",
        },
        {"name": "workspace", "endpoint": {"data_selector": "data"}},
    ],
    "incremental-like-dlt": [
        {  # dlt's older form: the param is the start param
            "name": "events",
            "endpoint": {
                "data_selector": "events",
                "params": {
                    "limit": 10,
                    "since": {
                        "type": "incremental",
                        "cursor_path": "occurred_at",
                        "initial_value": "2024-06-01T00:00:00Z",
                    },
                },
                "paginator": {"type": "json_link", "next_url_path": "links.next"},
            },
        },
        {  # {incremental.start_value} in params
            "name": "recent_events",
            "endpoint": {
                "path": "events",
                "data_selector": "events",
                "params": {"limit": 10, "since": "{incremental.start_value}"},
                "paginator": {"type": "json_link", "next_url_path": "links.next"},
                "incremental": {
                    "cursor_path": "occurred_at",
                    "initial_value": "2024-09-01T00:00:00Z",
                },
            },
        },
        {  # a nested numeric cursor, an open start and an end value (client-side filter)
            "name": "big_events",
            "endpoint": {
                "path": "events",
                "data_selector": "events",
                "params": {"limit": 10},
                "paginator": {"type": "json_link", "next_url_path": "links.next"},
                "incremental": {
                    "cursor_path": "payload.amount",
                    "initial_value": 100,
                    "end_value": 400,
                    "range_start": "open",
                    "range_end": "closed",
                },
            },
        },
        {  # last_value_func min
            "name": "small_events",
            "endpoint": {
                "path": "events",
                "data_selector": "events",
                "params": {"limit": 10},
                "paginator": {"type": "json_link", "next_url_path": "links.next"},
                "incremental": {
                    "cursor_path": "payload.amount",
                    "initial_value": 50,
                    "last_value_func": "min",
                },
            },
        },
    ],
    "include-from-parent-with-a-grandchild": [
        {
            "name": "projects",
            "endpoint": {
                "path": "projects",
                "data_selector": "items",
                "paginator": {"type": "offset", "limit": 5, "total_path": "total"},
            },
        },
        {
            "name": "tasks",
            "include_from_parent": ["id", "name"],
            "endpoint": {
                "path": "projects/{resources.projects.id}/tasks",
                "data_selector": "data",
                "params": {"per_page": 2},
                "paginator": {
                    "type": "page_number",
                    "base_page": 1,
                    "total_path": "meta.total_pages",
                },
            },
        },
        {
            "name": "comments",
            "include_from_parent": ["title", "_projects_id"],
            "endpoint": {
                "path": "projects/{resources.tasks._projects_id}/tasks/{resources.tasks.id}/comments",
                "paginator": {"type": "header_link"},
            },
        },
    ],
}


@pytest.mark.parametrize("name", list(ORACLE_CONFIGS))
def test_the_tap_extracts_what_dlt_extracts(lab: SandboxServer, tmp_path: Path, name: str) -> None:
    config = lab_config(lab, ORACLE_CONFIGS[name])
    expected = dlt_records(config)
    got = tap_records(config, tmp_path)
    assert set(got) == set(expected)
    by_name = {r["name"]: r for r in config["resources"] if isinstance(r, dict)}
    for stream, rows in expected.items():
        resource = by_name.get(stream, {"name": stream})
        assert rows, stream
        assert without_bindings(got[stream], resource) == without_bindings(rows, resource), stream


def test_detection_follows_dlts_order() -> None:
    import requests

    from tap_example.engine.paging import detect_paginator

    def response(body: Any, link: str | None = None) -> requests.Response:
        answer = requests.Response()
        answer.status_code = 200
        answer._content = json.dumps(body).encode()
        answer.url = "https://api.test/x"
        if link:
            answer.headers["Link"] = f'<{link}>; rel="next"'
        return answer

    assert detect_paginator(response({"next": "/p2"}, link="https://api.test/p2")).kind == (
        "header_link"
    )
    link = detect_paginator(response({"data": [], "links": {"next": {"href": "https://a/2"}}}))
    assert link.kind == "json_link" and getattr(link, "next_url_path", None) == "links.next.href"
    pages = detect_paginator(response({"data": [], "meta": {"total_pages": 3}, "next": 2}))
    assert pages.kind == "page_number" and getattr(pages, "total_path", None) == "meta.total_pages"
    cursor = detect_paginator(response({"data": [], "next_cursor": "abc"}))
    assert cursor.kind == "cursor" and getattr(cursor, "cursor_path", None) == "next_cursor"
    assert detect_paginator(response([{"id": 1}])).kind == "single_page"
