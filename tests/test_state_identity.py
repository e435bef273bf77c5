"""State says what it belongs to (issue 12, item 1): bookmarks written for another API or base
URL are never applied - that stream is extracted in full, and one warning line says why."""

from __future__ import annotations

import pytest

from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample
from tests.conftest import last_state, record_counts, run_tap


def test_state_records_the_api_and_base_url_of_each_bookmark(sandbox: SandboxServer) -> None:
    state = last_state(run_tap(sandbox.tap_config()))
    entry = state["bookmarks"]["events"]
    assert entry["source"] == {"api": "payments", "base_url": sandbox.base_url}
    assert "secret" not in str(state).lower()


def test_billing_state_is_not_applied_to_commerce(caplog: pytest.LogCaptureFixture) -> None:
    with SandboxServer(api="billing") as billing:
        billing_state = last_state(run_tap(billing.tap_config()))
    assert billing_state["bookmarks"]["customers"]["replication_key_value"]
    with SandboxServer(api="commerce") as commerce:
        counts = record_counts(run_tap(commerce.tap_config(), state=billing_state))
        assert counts["customers"] == len(commerce.records("customers"))
        state = last_state(run_tap(commerce.tap_config(), state=billing_state))
        assert state["bookmarks"]["customers"]["source"]["api"] == "commerce"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    said = [w for w in warnings if "written for API 'billing'" in w]
    assert said and all("customers" in w and "extracted in full" in w for w in said)


def test_a_bookmark_for_another_base_url_is_not_applied(caplog: pytest.LogCaptureFixture) -> None:
    with SandboxServer(api="payments") as first:
        state = last_state(run_tap(first.tap_config()))
        again = record_counts(run_tap(first.tap_config(), state=state))
    assert again["events"] < len(first.records("events"))  # same base URL: incremental
    with SandboxServer(api="payments") as moved:  # another port: another base URL
        counts = record_counts(run_tap(moved.tap_config(), state=state))
        assert counts["events"] == len(moved.records("events"))
    assert any(
        "written for API 'payments' at" in r.getMessage() and r.levelname == "WARNING"
        for r in caplog.records
    )


def test_state_of_an_older_tap_example_without_a_source_is_still_applied(
    sandbox: SandboxServer,
) -> None:
    state = last_state(run_tap(sandbox.tap_config()))
    for entry in state["bookmarks"].values():
        entry.pop("source", None)
    counts = record_counts(run_tap(sandbox.tap_config(), state=state))
    assert counts["events"] < len(sandbox.records("events"))


def test_the_sandbox_keeps_one_identity_across_its_changing_ports() -> None:
    with SandboxServer(api="payments") as server:
        config = {**server.tap_config(), "sandbox": True, "api": "payments"}
        tap = TapExample(config={k: v for k, v in config.items() if k in ("api", "sandbox")})
        assert tap.runtime.state_source == {"api": "payments", "base_url": "sandbox"}
