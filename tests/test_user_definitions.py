"""User definition files (``api_file``) run through the real tap against the lab sandbox.

The lab sandbox (``tap_example/sandbox/apis/lab.py``) serves every paginator and auth type;
``tests/definitions/lab.yaml`` describes it with no schema files, so every schema is inferred.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from tap_example.errors import DefinitionError
from tap_example.freeze_schemas import main as freeze_main
from tap_example.sandbox import SandboxServer
from tap_example.sandbox.apis.lab import API_KEY
from tap_example.tap import TapExample
from tap_example.timestamps import parse_timestamp
from tests.conftest import FAST, last_state, record_counts, records_by_stream, run_tap

ROOT = Path(__file__).resolve().parent.parent
LAB_DEFINITION = ROOT / "tests" / "definitions" / "lab.yaml"
DOCS = ROOT / "docs" / "definitions.md"

#: client.auth for each realm of the lab sandbox (the realm is the base URL's first segment).
AUTH_BY_REALM: dict[str, Any] = {
    "bearer": {"type": "bearer", "token": "${api_key}"},
    "key-header": {
        "type": "api_key",
        "name": "X-API-Key",
        "api_key": "${api_key}",
        "location": "header",
    },
    "key-query": {
        "type": "api_key",
        "name": "api_key",
        "api_key": "${api_key}",
        "location": "query",
    },
    "basic": {"type": "http_basic", "username": "${username}", "password": "${password}"},
    "oauth-cc": {
        "type": "oauth2_client_credentials",
        "client_id": "${client_id}",
        "client_secret": "${client_secret}",
        "access_token_url": "${token_url}",
    },
    "oauth-refresh": {
        "type": "oauth2",
        "client_id": "${client_id}",
        "client_secret": "${client_secret}",
        "refresh_token": "${refresh_token}",
        "token_url": "${token_url}",
    },
}


@pytest.fixture
def lab() -> Iterator[SandboxServer]:
    with SandboxServer("lab") as server:
        yield server


def lab_config(server: SandboxServer, definition: Path, realm: str = "oauth-cc") -> dict[str, Any]:
    config = server.tap_config()
    return {**config, "base_url": f"{server.base_url}/{realm}", "api_file": str(definition)}


def with_auth(tmp_path: Path, realm: str) -> Path:
    """lab.yaml with client.auth for ``realm``."""
    document = yaml.safe_load(LAB_DEFINITION.read_text())
    document["client"]["auth"] = AUTH_BY_REALM[realm]
    path = tmp_path / f"lab-{realm}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def expected_records(server: SandboxServer) -> dict[str, list[dict[str, Any]]]:
    """What the tap must emit: the sandbox's records plus the parent fields it adds."""
    fake: Any = server.fake_api
    expected = {
        stream: server.records(stream)
        for stream in ("projects", "events", "users", "audit_logs", "exports", "workspace")
    }
    projects = {p["id"]: p for p in server.records("projects")}
    expected["tasks"] = [
        {**task, "project_id": pid} for pid in projects for task in fake.children["tasks"][pid]
    ]
    expected["members"] = [
        {**member, "project_id": pid, "_projects_name": projects[pid]["name"]}
        for pid in projects
        for member in fake.children["members"][pid]
    ]
    expected["comments"] = [
        {**comment, "project_id": task["project_id"], "task_id": task["id"]}
        for task in expected["tasks"]
        for comment in fake.comments[task["id"]]
    ]
    return expected


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("realm", list(AUTH_BY_REALM))
def test_every_paginator_and_auth_type_extracts_exactly_the_lab_records(
    lab: SandboxServer, tmp_path: Path, realm: str
) -> None:
    messages = run_tap(lab_config(lab, with_auth(tmp_path, realm), realm))
    got = records_by_stream(messages)
    expected = expected_records(lab)
    assert set(got) == set(expected) == set(lab.streams)
    for stream, rows in expected.items():
        assert canonical(got[stream]) == canonical(rows), stream
    stats = lab.stats
    assert 401 not in stats["by_status"] and 403 not in stats["by_status"]
    # Every page of each paging style, after one sample request for the inferred schema.
    by_path = stats["by_path"]
    assert by_path[f"/{realm}/projects"] == 1 + 3  # offset, total 12, limit 5
    assert by_path[f"/{realm}/events"] == 1 + 4  # json_link, 40 at 10 a page
    assert by_path[f"/{realm}/users"] == 1 + 3  # cursor in the query, 25 at 10
    assert by_path[f"/{realm}/audit/search"] == 1 + 3  # cursor in the POST body, 23 at 10
    # The /exports next link points at another origin: followed, without any credential.
    assert lab.fake_api.foreign_requests == [  # type: ignore[attr-defined]
        {"path": f"/{realm}/exports", "credentials": []}
    ]


def test_api_key_in_query_is_re_added_to_next_links_that_lack_it(lab: SandboxServer) -> None:
    # The sandbox's next links leave the key out, and refuse requests without it ...
    first = requests.get(
        f"{lab.base_url}/key-query/events", params={"limit": "10", "api_key": API_KEY}, timeout=10
    ).json()
    next_link = first["links"]["next"]
    assert "api_key" not in next_link
    assert requests.get(next_link, timeout=10).status_code == 401
    # ... so the complete run above (realm key-query) proves the tap adds it to each next link;
    # header links (comments) as well as body links (events).
    comments = requests.get(
        f"{lab.base_url}/key-query/projects/101/tasks/tsk_101_2/comments",
        params={"limit": "1", "api_key": API_KEY},
        timeout=10,
    )
    assert "api_key" not in comments.links["next"]["url"]


def test_grandchildren_carry_their_own_and_the_grandparents_values(
    lab: SandboxServer, tmp_path: Path
) -> None:
    messages = run_tap(lab_config(lab, with_auth(tmp_path, "oauth-cc")))
    tasks = {t["id"]: t for t in records_by_stream(messages)["tasks"]}
    comments = records_by_stream(messages)["comments"]
    assert comments and all(c["project_id"] == tasks[c["task_id"]]["project_id"] for c in comments)
    # Each comment came from its own task's path, under its own project.
    fake: Any = lab.fake_api
    for comment in comments:
        assert comment["id"] in {c["id"] for c in fake.comments[comment["task_id"]]}
    members = records_by_stream(messages)["members"]
    names = {p["id"]: p["name"] for p in lab.records("projects")}
    assert all(m["_projects_name"] == names[m["project_id"]] for m in members)


def instant(value: Any) -> datetime:
    parsed = parse_timestamp(value)
    assert parsed is not None, f"not a timestamp: {value!r}"
    return parsed


def test_incremental_start_param_filters_on_the_server(lab: SandboxServer, tmp_path: Path) -> None:
    config = lab_config(lab, with_auth(tmp_path, "key-header"), "key-header")
    first = run_tap(config)
    bookmark = instant(last_state(first)["bookmarks"]["events"]["replication_key_value"])
    assert bookmark == max(instant(e["occurred_at"]) for e in lab.records("events"))
    lab.mutate(3)  # three new events, all later than anything served before
    requests_before = lab.stats["by_path"]["/key-header/events"]
    second = run_tap(config, state=last_state(first))
    newer = [e for e in lab.records("events") if instant(e["occurred_at"]) >= bookmark]
    assert len(newer) == 4  # the bookmarked event (the filter is inclusive) and the new three
    assert canonical(records_by_stream(second)["events"]) == canonical(newer)
    # The schema sample, then one page: the server filtered by `since`, so the tap did not
    # page through all 43 events.
    assert lab.stats["by_path"]["/key-header/events"] - requests_before == 1 + 1


# --------------------------------------------------------------------------- inference


def discovered_schemas(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tap = TapExample(config={**FAST, **config}, validate_config=True)
    return {name: stream.schema for name, stream in tap.streams.items()}


def test_inferred_schemas_have_types_nullability_and_formats(lab: SandboxServer) -> None:
    schemas = discovered_schemas(lab_config(lab, LAB_DEFINITION))
    projects = schemas["projects"]["properties"]
    assert projects["id"] == {"type": "integer"}  # the primary key is never null
    assert projects["name"] == {"type": ["null", "string"]}
    assert projects["archived"] == {"type": ["null", "boolean"]}
    assert projects["budget"]["type"] == ["null", "number"]
    assert projects["created_at"] == {"type": ["null", "string"], "format": "date-time"}
    assert projects["due_on"] == {"type": ["null", "string"], "format": "date"}
    assert projects["owner"]["type"] == ["null", "object"]
    assert projects["owner"]["properties"]["id"] == {"type": ["null", "integer"]}
    assert projects["tags"]["type"] == ["null", "array"]
    assert projects["tags"]["items"] == {"type": ["null", "string"]}
    events = schemas["events"]["properties"]
    assert events["occurred_at"] == {"type": "string", "format": "date-time"}  # replication key
    assert events["payload"]["properties"]["amount"] == {"type": ["null", "number"]}
    # Children: inferred under the first parents, with typed binding fields.
    assert schemas["tasks"]["properties"]["project_id"] == {"type": "integer"}
    comments = schemas["comments"]["properties"]  # the first task has no comments
    assert comments["posted_at"]["format"] == "date-time"
    assert comments["task_id"] == {"type": "string"}
    assert comments["project_id"] == {"type": "integer"}
    assert schemas["members"]["properties"]["_projects_name"] == {"type": ["null", "string"]}
    assert schemas["workspace"]["properties"]["seats"] == {"type": ["null", "integer"]}


def test_inference_uses_the_streams_auth_and_needs_credentials(lab: SandboxServer) -> None:
    config = lab_config(lab, LAB_DEFINITION)
    del config["client_secret"]
    with pytest.raises(Exception, match=r"stream 'projects' has no 'schema' file.*client_secret"):
        discovered_schemas(config)
    assert lab.stats["requests"] == 0


def test_an_empty_first_page_cannot_be_inferred(tmp_path: Path) -> None:
    with (
        SandboxServer("lab", sizes={"users": 0}) as server,
        pytest.raises(
            DefinitionError,
            match=r"resources \(users\): no 'schema' file and its first page had no records",
        ),
    ):
        discovered_schemas(lab_config(server, LAB_DEFINITION))


def test_built_in_apis_never_infer(sandbox: SandboxServer) -> None:
    schemas = discovered_schemas(sandbox.tap_config())
    assert schemas["customers"]["properties"]
    assert sandbox.stats["requests"] == 0 and sandbox.stats["token_requests"] == 0


def test_frozen_schemas_are_used_instead_of_inference(
    lab: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "lab.yaml"
    definition.write_text(LAB_DEFINITION.read_text())
    config_file = tmp_path / "config.json"
    config = lab_config(lab, definition)
    config_file.write_text(json.dumps(config))
    assert freeze_main(["--config", str(config_file), "--out", str(tmp_path / "schemas")]) == 0
    printed = capsys.readouterr().out
    assert "  - name: projects\n    schema: schemas/projects.json" in printed
    frozen = json.loads((tmp_path / "schemas" / "events.json").read_text())
    assert frozen["properties"]["occurred_at"]["format"] == "date-time"
    # Add the printed schema lines: discovery then makes no request at all.
    document = yaml.safe_load(definition.read_text())
    for resource in document["resources"]:
        resource["schema"] = f"schemas/{resource['name']}.json"
    definition.write_text(yaml.safe_dump(document, sort_keys=False))
    before = lab.stats["requests"]
    assert discovered_schemas(config)["events"] == frozen
    assert lab.stats["requests"] == before
    # Every resource now names a schema file: nothing left to freeze.
    assert freeze_main(["--config", str(config_file), "--out", str(tmp_path / "schemas")]) == 0
    assert "nothing to freeze" in capsys.readouterr().out


# --------------------------------------------------------------------------- validation

BASE = {
    "client": {"base_url": "https://unused.example", "auth": {"type": "bearer", "token": "t"}},
    "resources": [
        {"name": "parents", "endpoint": {"path": "/parents"}},
        {
            "name": "kids",
            "endpoint": {
                "path": "/parents/{pid}/kids",
                "params": {"pid": {"type": "resolve", "resource": "parents", "field": "id"}},
            },
        },
    ],
}


def mutated(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(BASE))
    change(document)
    return document


def _kids_endpoint(document: dict[str, Any]) -> dict[str, Any]:
    endpoint: dict[str, Any] = document["resources"][1]["endpoint"]
    return endpoint


BAD_DEFINITIONS = [
    pytest.param(
        lambda d: _kids_endpoint(d).update(pagintor={"type": "offset"}),
        r"resources\[1\] \(kids\)\.endpoint: unknown key 'pagintor'",
        id="unknown-key",
    ),
    pytest.param(
        lambda d: _kids_endpoint(d).update(paginator={"type": "sideways"}),
        r"resources\[1\] \(kids\)\.endpoint\.paginator\.type: 'sideways' is not one of",
        id="unknown-paginator-type",
    ),
    pytest.param(
        lambda d: d["client"].update(auth={"type": "kerberos"}),
        r"client\.auth\.type: 'kerberos' is not one of",
        id="unknown-auth-type",
    ),
    pytest.param(
        lambda d: d["resources"][0].update(endpoint={"path": "/p/{parent.id}"}),
        r"resources\[0\] \(parents\)\.endpoint\.path: placeholder \{parent\.id\} is not a "
        r"valid name; valid names start with 'resources\.' or 'incremental\.'",
        id="dotted-placeholder-of-no-context",
    ),
    pytest.param(
        lambda d: _kids_endpoint(d)["params"]["pid"].update(resource="orphans"),
        r"resources\[1\] \(kids\)\.endpoint\.params\.pid: resolves from resource 'orphans', which is not defined",
        id="resolve-unknown-resource",
    ),
    pytest.param(
        lambda d: d["resources"][0]["endpoint"].update(
            path="/p/{kid}",
            params={"kid": {"type": "resolve", "resource": "kids", "field": "id"}},
        ),
        r"parent cycle",
        id="parent-cycle",
    ),
    pytest.param(
        lambda d: _kids_endpoint(d).update(path="/parents/{pid}/kids/{kid}"),
        r"resources\[1\] \(kids\)\.endpoint.*placeholder \{kid\} has no binding",
        id="placeholder-without-binding",
    ),
    pytest.param(
        lambda d: _kids_endpoint(d).update(
            paginator={"type": "json_link", "stop_condition": "len(response) < 10"}
        ),
        r"resources\[1\] \(kids\)\.endpoint\.paginator\.stop_condition: .* is not understood",
        id="stop-condition-outside-grammar",
    ),
    pytest.param(
        lambda d: _kids_endpoint(d).update(paginator={"type": "offset", "limit": 5, "page": 2}),
        r"kids\)\.endpoint\.paginator: unknown key 'page' for paginator type 'offset'",
        id="key-of-another-paginator-type",
    ),
    pytest.param(
        lambda d: _kids_endpoint(d).update(
            paginator={"type": "cursor", "cursor_body_path": "page.after"}
        ),
        r"kids\)\.endpoint\.paginator\.cursor_body_path: needs method POST",
        id="body-cursor-without-post",
    ),
    pytest.param(
        lambda d: d["resources"][0].update(include_from_parent=["id"]),
        r"resources\[0\] \(parents\)\.include_from_parent: the resource has no parent",
        id="include-from-parent-without-parent",
    ),
    pytest.param(
        lambda d: d["resources"][0].update(schema="schemas/parents.json"),
        r"resources\[0\] \(parents\)\.schema: file .*parents\.json does not exist",
        id="missing-schema-file",
    ),
    pytest.param(
        lambda d: d["resources"].append(
            {
                "name": "toys",
                "endpoint": {
                    "path": "/parents/{pid}/kids/{kid}/toys",
                    "params": {
                        "pid": {"type": "resolve", "resource": "parents", "field": "id"},
                        "kid": {"type": "resolve", "resource": "kids", "field": "id"},
                    },
                },
            }
        ),
        r"resources\[2\] \(toys\)\.endpoint\.params: all 'resolve' params must name the same "
        r"parent resource \(a grandchild resolves a grandparent's value from its parent",
        id="grandchild-resolving-from-grandparent",
    ),
    pytest.param(
        lambda d: d["client"].update(auth={"type": "bearer", "token": "${my_token}"}),
        r"authentication needs the settings my_token",
        id="missing-setting",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_DEFINITIONS)
def test_bad_definition_ends_the_run_with_one_line_before_any_request(
    lab: SandboxServer,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], object],
    message: str,
) -> None:
    definition = tmp_path / "bad.yaml"
    definition.write_text(yaml.safe_dump(mutated(change)))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_file": str(definition), "base_url": lab.base_url}))
    result = CliRunner().invoke(TapExample.cli, ["--config", str(config)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(message, lines[0]), lines[0]
    if "settings" not in message:  # a definition error names the file first
        assert lines[0].startswith(f"tap-example: error: {definition}: ")
    assert lab.stats["requests"] == 0 and lab.stats["token_requests"] == 0
    assert result.stdout == ""


# --------------------------------------------------------------------------- docs


def docs_example() -> str:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- lab-example:start -->\s*```yaml\n(.*?)```", text, re.DOTALL)
    assert block, "docs/definitions.md lost its lab example"
    return block.group(1)


def test_definition_written_from_the_docs_runs_against_the_lab(
    lab: SandboxServer, tmp_path: Path
) -> None:
    definition = tmp_path / "from-docs.yaml"
    definition.write_text(docs_example())
    config = {**lab.tap_config(), "api_file": str(definition)}
    config.pop("base_url")  # the docs' definition names its base_url from a setting
    config["lab_url"] = lab.base_url
    messages = run_tap(config)
    got = records_by_stream(messages)
    expected = expected_records(lab)
    assert set(got) == set(expected)
    for stream in got:
        assert canonical(got[stream]) == canonical(expected[stream]), stream
    assert record_counts(messages)["comments"] == len(lab.records("comments"))


def test_definition_from_the_docs_runs_a_server_not_built_for_it(tmp_path: Path) -> None:
    """The crm sandbox was built for the built-in definition; describe it afresh from the docs."""
    definition = tmp_path / "crm.yaml"
    definition.write_text(
        """
client:
  base_url: https://crm.invalid        # the base_url setting points at the sandbox
  headers: {Account-Id: "${account_id}"}
  auth:
    type: oauth2_refresh_token
    client_id: ${client_id}
    client_secret: ${client_secret}
    refresh_token: ${refresh_token}
  paginator: {type: page_number, base_page: 1, total_path: total_pages, limit: 40,
              limit_param: per_page}
resource_defaults:
  primary_key: id
  write_disposition: merge
resources:
  - name: clients
    endpoint:
      path: /v1/clients
      data_selector: clients
      incremental: {cursor_path: updated_at, start_param: updated_since}
  - name: contacts
    endpoint: {path: /v1/contacts, data_selector: contacts}
  - name: company
    primary_key: null
    write_disposition: replace
    endpoint: {path: /v1/company, data_selector: data, paginator: single_page}
"""
    )
    with SandboxServer("crm") as crm:
        config = {**crm.tap_config(), "api_file": str(definition)}
        del config["api"]
        messages = run_tap(config)
        got = records_by_stream(messages)
        for stream in ("clients", "contacts"):
            assert sorted(r["id"] for r in got[stream]) == sorted(
                r["id"] for r in crm.records(stream)
            )
        company = got["company"]
        assert len(company) == 1 and company[0]["name"] == "Sandbox Co"
        assert company[0].items() <= crm.records("company")[0].items()
