"""The tap end to end against sandbox servers: exact records, children, keys, auth, retries, errors."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tap_example.errors import APIError, ConfigError
from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample
from tests.conftest import API_NAMES, record_counts, run_cli, run_tap, server_counts

EXPECTED_KEYS = {
    "payments": {
        s: ["id"]
        for s in [
            "customers",
            "funding_sources",
            "events",
            "exchange_partners",
            "business_classifications",
        ]
    },
    "billing": {
        **{
            s: ["id"]
            for s in [
                "customers",
                "customer_addresses",
                "businesses",
                "discounts",
                "prices",
                "products",
                "events",
                "reports",
                "subscriptions",
                "transactions",
            ]
        },
        "event_types": ["name"],
        "ip_addresses": [],
    },
    "crm": {"clients": ["id"], "contacts": ["id"], "company": []},
    "commerce": {"customers": ["id"], "locations": ["id"], "shifts": ["id"]},
    "clinical": {"user": ["id"], "study": ["crf_id"], "audit_trial": ["uuid"]},
}
CHILD_FIELDS = {
    ("payments", "funding_sources"): ("cus_id", "customers", "id"),
    ("billing", "customer_addresses"): ("cus_id", "customers", "id"),
    ("billing", "businesses"): ("cus_id", "customers", "id"),
    ("clinical", "audit_trial"): ("study_id", "study", "study_id"),
}


@pytest.mark.parametrize("sandbox", API_NAMES, indirect=True)
def test_every_record_of_the_server_arrives_exactly_once(sandbox: SandboxServer) -> None:
    messages = run_tap(sandbox.tap_config())
    assert record_counts(messages) == server_counts(sandbox)
    for stream in sandbox.streams:
        keys = EXPECTED_KEYS[sandbox.api][stream]
        if keys:
            emitted = [
                tuple(m["record"][k] for k in keys)
                for m in messages
                if m["type"] == "RECORD" and m["stream"] == stream
            ]
            assert len(emitted) == len(set(emitted)), f"duplicate keys in {stream}"
            served = {tuple(r[k] for k in keys) for r in sandbox.records(stream)}
            assert set(emitted) == served


@pytest.mark.parametrize("api", API_NAMES)
def test_discovery_declares_key_properties(api: str) -> None:
    tap = TapExample(config={"api": api}, validate_config=True)
    catalog = tap.catalog_dict
    keys = {entry["tap_stream_id"]: entry["key_properties"] for entry in catalog["streams"]}
    assert keys == EXPECTED_KEYS[api]


@pytest.mark.parametrize("sandbox", ["payments", "billing", "clinical"], indirect=True)
def test_child_records_carry_the_parent_value_with_its_type(sandbox: SandboxServer) -> None:
    messages = run_tap(sandbox.tap_config())
    schemas = {m["stream"]: m["schema"] for m in messages if m["type"] == "SCHEMA"}
    for (api, child), (field, parent, parent_field) in CHILD_FIELDS.items():
        if api != sandbox.api:
            continue
        parent_values = {r[parent_field] for r in sandbox.records(parent)}
        children = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == child]
        assert children and all(c[field] in parent_values for c in children)
        assert schemas[child]["properties"][field]["type"] in (
            "string",
            ["string"],
            schemas[parent]["properties"][parent_field]["type"],
        )
        served = {json.dumps(r, sort_keys=True) for r in sandbox.records(child)}
        # The server's own fields are untouched; the bound value is only added.
        for record in children:
            original = {
                k: v
                for k, v in record.items()
                if k != field or k in next(iter(sandbox.records(child)))
            }
            assert any(original.items() <= json.loads(s).items() for s in served), (child, record)


@pytest.mark.parametrize("sandbox", ["billing"], indirect=True)
def test_each_stream_sends_its_schema_once_before_its_records(sandbox: SandboxServer) -> None:
    """Child streams are synced once per parent; their SCHEMA still goes out once - again only
    when the schema changed (the schema contract added a field the API sent)."""
    messages = run_tap(sandbox.tap_config())
    schemas = [m for m in messages if m["type"] == "SCHEMA"]
    assert sorted({m["stream"] for m in schemas}) == sorted(sandbox.streams)
    last: dict[str, Any] = {}
    for message in schemas:
        assert last.get(message["stream"]) != message["schema"], message["stream"]
        last[message["stream"]] = message["schema"]
    positions: dict[str, int] = {}
    for i, m in enumerate(messages):
        if m["type"] == "SCHEMA":
            positions.setdefault(m["stream"], i)
    for i, message in enumerate(messages):
        if message["type"] == "RECORD":
            assert positions[message["stream"]] < i


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_timestamps_leave_in_utc(sandbox: SandboxServer) -> None:
    messages = run_tap(sandbox.tap_config())
    created = [
        m["record"]["created"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "customers"
    ]
    assert created and all(value.endswith("Z") for value in created)


@pytest.mark.parametrize("sandbox", [{"api": "payments", "token_max_uses": 50}], indirect=True)
def test_expired_token_gets_one_renewal_and_the_run_completes(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages = run_tap(sandbox.tap_config())
    assert record_counts(messages) == server_counts(sandbox)
    assert sandbox.stats["tokens_issued"] > 1
    assert "access token refused (HTTP 401); renewing it" in caplog.text


@pytest.mark.parametrize("sandbox", [{"api": "crm", "token_max_uses": 3}], indirect=True)
def test_crm_follows_refresh_token_rotation(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = sandbox.tap_config()
    messages = run_tap(config)
    assert record_counts(messages) == server_counts(sandbox)
    assert sandbox.stats["tokens_issued"] >= 3
    assert "rotated the refresh token" in caplog.text
    assert config["refresh_token"] not in caplog.text


@pytest.mark.parametrize("sandbox", ["commerce"], indirect=True)
def test_commerce_api_key_skips_the_token_call(sandbox: SandboxServer) -> None:
    config = {
        k: v for k, v in sandbox.tap_config().items() if k not in ("client_id", "client_secret")
    }
    config["api_key"] = sandbox.api_key  # the sandbox's demo key, accepted as a bearer token
    messages = run_tap(config)
    assert record_counts(messages) == server_counts(sandbox)
    assert sandbox.stats["token_requests"] == 0


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_retryable_faults_are_retried_with_retry_after(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox.inject("429", "429-date", 500, 502, 503, 504, "reset", "truncated")
    messages = run_tap({**sandbox.tap_config(), "max_retries": 8})
    assert record_counts(messages) == server_counts(sandbox)
    assert "HTTP 429" in caplog.text and "retry 8 of 8" in caplog.text


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_non_retryable_status_ends_the_run_with_a_clear_error(sandbox: SandboxServer) -> None:
    sandbox.inject(403)
    with pytest.raises(
        APIError,
        match=r"stream '\w+': GET http://127\.0\.0\.1:\d+/\S+ failed with HTTP 403 Forbidden: forbidden",
    ):
        run_tap(sandbox.tap_config())


@pytest.mark.parametrize("sandbox", ["clinical"], indirect=True)
def test_retries_are_bounded(sandbox: SandboxServer) -> None:
    sandbox.inject(*["429"] * 7)
    with pytest.raises(APIError, match=r"HTTP 429 .*gave up after 2 retries"):
        run_tap({**sandbox.tap_config(), "max_retries": 2})


def _cli(config: dict[str, Any], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(config, tmp_path, *args)


@pytest.mark.parametrize("sandbox", ["payments", "billing", "crm"], indirect=True)
def test_bad_credentials_end_with_one_line_and_no_secret(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = {
        **sandbox.tap_config(),
        "client_secret": "wrong-secret-value",
        "api_key": "wrong-api-key-value",
        "refresh_token": "wrong-refresh-token",
        "max_retries": 0,
    }
    result = _cli(config, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-example: error:") and ("401" in last or "403" in last)
    for secret in ("wrong-secret-value", "wrong-api-key-value", "wrong-refresh-token"):
        assert secret not in result.stderr and secret not in result.stdout


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "set 'api'"),
        ({"api": "nope"}, "api"),
        ({"api": "payments", "page_size": 0}, "page_size"),
        ({"api": "payments", "start_date": "yesterday"}, "start_date"),
        ({"api": "payments"}, "client_id, client_secret"),
        (
            {"api": "crm", "client_id": "a", "client_secret": "b", "refresh_token": "c"},
            "account_id",
        ),
    ],
)
def test_bad_config_is_one_line_before_any_request(
    config: dict[str, Any], message: str, tmp_path: Path
) -> None:
    result = _cli({**config, "base_url": "http://127.0.0.1:9"}, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_config_errors_raise_typed_exceptions() -> None:
    with pytest.raises(ConfigError):
        run_tap({"api": "payments", "page_size": -5})
