"""The definition loader: built-ins load, placeholders fill, and bad definitions fail on one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tap_example.definition import BUILTIN_APIS, StopCondition, build_definition, load_definition
from tap_example.errors import DefinitionError

if TYPE_CHECKING:
    from tap_example.definition import Definition

MINIMAL = {
    "client": {"base_url": "https://api.test"},
    "resources": [{"name": "things", "endpoint": {"path": "/things"}}],
}


def build(document: dict[str, Any], settings: dict[str, Any] | None = None) -> Definition:
    return build_definition(
        document, origin="my.yaml", settings=settings or {}, base_dir=None, name="t"
    )


def with_resource(**resource: Any) -> dict[str, Any]:
    return {
        "client": {"base_url": "https://api.test"},
        "resources": [{"name": "things", **resource}],
    }


@pytest.mark.parametrize("api", BUILTIN_APIS)
def test_builtin_definitions_load_with_schemas(api: str) -> None:
    definition = load_definition(api=api, settings={}, strict=False)
    assert definition.name == api
    assert definition.base_url == "https://api.example.com"
    for resource in definition.resources:
        assert resource.schema_file is not None and resource.schema_file.is_file(), resource.name


def test_payments_definition_matches_the_wire_contract() -> None:
    definition = load_definition(api="payments", settings={"client_id": "a", "client_secret": "b"})
    names = [r.name for r in definition.resources]
    assert names == [
        "customers",
        "funding_sources",
        "events",
        "exchange_partners",
        "business_classifications",
    ]
    funding = definition.resource("funding_sources")
    assert funding.parent == "customers"
    assert funding.bindings[0].placeholder == "cus_id" and funding.bindings[0].field == "id"
    assert funding.data_selector == "_embedded.funding-sources"
    assert funding.primary_key == ("id",) and funding.write_disposition == "merge"
    assert funding.error_handler.retry_on_status_codes == (429, 500, 502, 503, 504)
    assert funding.error_handler.max_retries == 3 and funding.error_handler.backoff_factor == 2
    assert funding.paginator is not None
    stop = getattr(funding.paginator, "stop_condition", None)
    assert stop == StopCondition(("_links", "next"), "missing")


def test_resource_defaults_merge_into_endpoints() -> None:
    document = {
        "client": {"base_url": "https://api.test"},
        "resource_defaults": {
            "primary_key": "id",
            "endpoint": {"params": {"per_page": 50, "lang": "en"}, "headers": {"X-A": "1"}},
        },
        "resources": [{"name": "things", "endpoint": {"path": "/t", "params": {"per_page": 10}}}],
    }
    resource = build(document).resources[0]
    assert resource.params == {"per_page": 10, "lang": "en"}
    assert resource.headers == {"X-A": "1"}
    assert resource.primary_key == ("id",)


def test_setting_placeholders_are_filled_and_keep_types() -> None:
    document = with_resource(
        endpoint={"path": "/t", "params": {"size": "${page}", "q": "a-${word}"}}
    )
    resource = build(document, {"page": 5, "word": "x"}).resources[0]
    assert resource.params == {"size": 5, "q": "a-x"}


def test_missing_setting_is_named() -> None:
    document = with_resource(endpoint={"path": "/t", "headers": {"Account-Id": "${account_id}"}})
    with pytest.raises(
        DefinitionError,
        match=r"things\)\.endpoint\.headers\.Account-Id: \$\{account_id\} needs the setting 'account_id'",
    ):
        build(document)


def test_lenient_load_defers_missing_settings_to_sync() -> None:
    definition = load_definition(api="crm", settings={}, strict=False)
    assert definition.unfilled
    with pytest.raises(DefinitionError, match="account_id"):
        definition.require_settings()


def test_shorthands_and_write_dispositions() -> None:
    document = {
        "client": {"base_url": "https://api.test"},
        "resources": [
            "posts",
            {
                "name": "tags",
                "endpoint": "/v1/tags",
                "primary_key": ["a", "b"],
                "write_disposition": {"disposition": "merge"},
            },
        ],
    }
    posts, tags = build(document).resources
    assert posts.path == "posts" and posts.write_disposition == "append"
    assert (
        tags.path == "/v1/tags"
        and tags.primary_key == ("a", "b")
        and tags.write_disposition == "merge"
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            with_resource(endpoint={"path": "/t", "paginator": {"type": "cursor", "foo": 1}}),
            r"things\)\.endpoint\.paginator: unknown key 'foo'",
        ),
        (with_resource(endpoint={"paht": "/t"}), r"things\)\.endpoint: unknown key 'paht'"),
        (
            with_resource(endpoint={"path": "/t/{resources.x}"}),
            r"endpoint\.path: invalid expression \{resources\.x\}",
        ),
        (with_resource(endpoint={"path": "/t/{x}"}), r"placeholder \{x\} has no binding"),
        (
            with_resource(
                endpoint={
                    "path": "/t/{x}",
                    "params": {"x": {"type": "resolve", "resource": "nope", "field": "id"}},
                }
            ),
            r"resolves from resource 'nope', which is not defined",
        ),
        (
            with_resource(
                endpoint={
                    "path": "/t",
                    "paginator": {"type": "cursor", "stop_condition": "__import__('os')"},
                }
            ),
            r"stop_condition .* is not understood",
        ),
        (
            with_resource(endpoint={"path": "/t", "paginator": "sideways"}),
            r"paginator: 'sideways' is not one of",
        ),
        (
            with_resource(endpoint={"path": "/t", "data_selector": "$.data[?("}),
            r"data_selector: not a valid JSONPath",
        ),
        (
            with_resource(
                endpoint={"path": "/t", "incremental": {"cursor_path": "a", "last_value_func": "f"}}
            ),
            r"last_value_func: 'f' is not supported by tap-example because",
        ),
        (
            with_resource(endpoint={"path": "/t", "paginator": {"type": "offset"}}),
            r"paginator type 'offset' needs 'limit'",
        ),
        (
            with_resource(write_disposition="upsert", endpoint={"path": "/t"}),
            r"write_disposition: 'upsert' is not one of",
        ),
        (
            {"client": {"base_url": "x", "auth": {"type": "magic"}}, "resources": ["a"]},
            r"client\.auth\.type: 'magic' is not one of",
        ),
        (
            {"client": {"base_url": "x", "auth": {"type": "bearer"}}, "resources": ["a"]},
            r"client\.auth: 'token' is a required property",
        ),
        ({"client": {"base_url": "x"}, "resources": ["a", "a"]}, r"duplicate resource name 'a'"),
        ({"resources": ["a"]}, r"top level: 'client' is a required property"),
    ],
)
def test_bad_definitions_fail_with_one_line_naming_the_key(
    document: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as caught:
        build(document)
    text = str(caught.value)
    assert text.startswith("my.yaml: ")
    assert "\n" not in text


def test_parent_cycle_is_reported() -> None:
    document = {
        "client": {"base_url": "x"},
        "resources": [
            {
                "name": "a",
                "endpoint": {
                    "path": "/a/{x}",
                    "params": {"x": {"type": "resolve", "resource": "b", "field": "id"}},
                },
            },
            {
                "name": "b",
                "endpoint": {
                    "path": "/b/{y}",
                    "params": {"y": {"type": "resolve", "resource": "a", "field": "id"}},
                },
            },
        ],
    }
    with pytest.raises(DefinitionError, match=r"parent cycle a -> b -> a"):
        build(document)


def test_definition_files_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "things.json").write_text(
        json.dumps({"type": "object", "properties": {"id": {"type": "string"}}})
    )
    document = with_resource(endpoint={"path": "/t"}, schema="things.json")
    yaml_file = tmp_path / "api.yaml"
    yaml_file.write_text(yaml.safe_dump(document))
    json_file = tmp_path / "api.json"
    json_file.write_text(json.dumps(document))
    for path in (yaml_file, json_file):
        definition = load_definition(api_file=str(path))
        assert definition.resources[0].schema_file == (tmp_path / "things.json").resolve()
        assert definition.origin == str(path)


def test_unreadable_definition_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("client: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"broken\.yaml: not valid YAML"):
        load_definition(api_file=str(path))
    with pytest.raises(DefinitionError, match=r"does not exist"):
        load_definition(api_file=str(tmp_path / "missing.yaml"))


def test_unknown_builtin_api() -> None:
    with pytest.raises(DefinitionError, match=r"unknown API 'nope'; built-in APIs are: payments"):
        load_definition(api="nope")
