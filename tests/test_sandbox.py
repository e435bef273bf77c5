"""The sandbox itself, over real HTTP: auth, paging, filters, faults and mutation."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from tap_example.sandbox import API_NAMES, SandboxServer

Record = dict[str, Any]

CHILD_PARENTS = {  # child stream -> (parent stream, parent key, path template)
    ("payments", "funding_sources"): ("customers", "id", "/customers/{}/funding-sources"),
    ("billing", "customer_addresses"): ("customers", "id", "/v1/customers/{}/addresses"),
    ("billing", "businesses"): ("customers", "id", "/v1/customers/{}/businesses"),
    ("clinical", "audit_trial"): ("study", "study_id", "/v1/study/{}/audit-trail"),
}
PATHS = {
    "payments": {
        "customers": "/customers",
        "events": "/events",
        "exchange_partners": "/exchange-partners",
        "business_classifications": "/business-classifications",
    },
    "billing": {
        "customers": "/v1/customers",
        "discounts": "/v1/discounts",
        "prices": "/v1/prices",
        "products": "/v1/products",
        "events": "/v1/events",
        "event_types": "/v1/event-types",
        "reports": "/v1/reports",
        "ip_addresses": "/v1/ips",
        "subscriptions": "/v1/subscriptions",
        "transactions": "/v1/transactions",
    },
    "crm": {"clients": "/v1/clients", "contacts": "/v1/contacts", "company": "/v1/company"},
    "commerce": {
        "customers": "/customers",
        "locations": "/locations",
        "shifts": "/labor/shifts/search",
    },
    "clinical": {"user": "/v1/user", "study": "/v1/study"},
}


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def session_for(server: SandboxServer) -> requests.Session:
    """A session authenticated the way the API wants (token call where there is one)."""
    config = server.tap_config()
    session = requests.Session()
    if server.api == "billing":
        session.headers["Authorization"] = f"Bearer {config['api_key']}"
        return session
    if server.api == "crm":
        answer = requests.post(
            config["token_url"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": config["refresh_token"],
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
            },
            timeout=5,
        )
        session.headers["Account-Id"] = config["account_id"]
    else:
        answer = requests.post(
            config["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(config["client_id"], config["client_secret"]),
            timeout=5,
        )
    answer.raise_for_status()
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return session


def walk_payments(session: requests.Session, url: str, stream: str) -> Iterator[Record]:
    resource = url.rstrip("/").rsplit("/", 1)[-1]
    next_url: str | None = f"{url}?limit=40"
    while next_url:
        page = session.get(next_url, timeout=5).json()
        yield from page["_embedded"][resource]
        next_url = page["_links"].get("next", {}).get("href")


def walk_billing(session: requests.Session, url: str, stream: str) -> Iterator[Record]:
    params: dict[str, Any] = {"limit": 20}
    while True:
        page = session.get(url, params=params, timeout=5).json()
        if isinstance(page["data"], dict):
            yield page["data"]
        else:
            yield from page["data"]
        if not page["has_more"]:
            return
        params["next"] = page["next"]


def walk_crm(session: requests.Session, url: str, stream: str) -> Iterator[Record]:
    if stream == "company":
        yield session.get(url, timeout=5).json()["data"]
        return
    next_url: str | None = f"{url}?per_page=50"
    while next_url:
        page = session.get(next_url, timeout=5).json()
        yield from page[stream]
        next_url = page["links"]["next"]


def walk_commerce(session: requests.Session, url: str, stream: str) -> Iterator[Record]:
    cursor = None
    while True:
        if stream == "shifts":
            body = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = session.post(url, json=body, timeout=5).json()
        else:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = session.get(url, params=params, timeout=5).json()
        yield from page[stream]
        if "cursor" not in page:
            return
        cursor = page["cursor"]


def walk_clinical(session: requests.Session, url: str, stream: str) -> Iterator[Record]:
    number = 1
    while True:
        page = session.get(url, params={"page": number, "page_size": 50}, timeout=5).json()
        records = page["items"] if stream == "audit_trial" else page["_embedded"][stream]
        yield from records
        if number >= page["page_count"] or not records:
            return
        number += 1


WALKERS: dict[str, Callable[[requests.Session, str, str], Iterator[Record]]] = {
    "payments": walk_payments,
    "billing": walk_billing,
    "crm": walk_crm,
    "commerce": walk_commerce,
    "clinical": walk_clinical,
}


def fetch_stream(server: SandboxServer, session: requests.Session, stream: str) -> list[Record]:
    walk = WALKERS[server.api]
    child = CHILD_PARENTS.get((server.api, stream))
    if child is None:
        return list(walk(session, server.base_url + PATHS[server.api][stream], stream))
    parent_stream, parent_key, template = child
    return [
        record
        for parent in server.records(parent_stream)
        for record in walk(session, server.base_url + template.format(parent[parent_key]), stream)
    ]


@pytest.mark.parametrize("api", API_NAMES)
def test_paging_walks_every_record_as_records_reports(api: str) -> None:
    with SandboxServer(api) as server:
        session = session_for(server)
        for stream in server.streams:
            assert fetch_stream(server, session, stream) == server.records(stream), stream
        assert server.mutate(2)
        for stream in server.streams:
            assert fetch_stream(server, session, stream) == server.records(stream), stream
        stats = server.stats
        assert stats["by_status"] == {200: stats["requests"] + stats["token_requests"]}


def test_data_is_deterministic_and_paginated_with_drift() -> None:
    first, again, other = (SandboxServer("billing", seed=seed) for seed in (0, 0, 1))
    assert first.records("customers") == again.records("customers")
    assert first.records("customers") != other.records("customers")
    customers = first.records("customers")
    assert len(customers) == 120 and all("_sandbox_rev" in record for record in customers)
    assert any(record["custom_data"] is None for record in customers)
    assert SandboxServer("payments", sizes={"customers": 7}).records("customers")[0]["created"]
    with pytest.raises(ValueError, match="nope"):
        SandboxServer("crm", sizes={"nope": 1})


def test_payments_order_and_hal_links() -> None:
    with SandboxServer("payments") as server:
        session = session_for(server)
        page = session.get(f"{server.base_url}/events", timeout=5).json()
        assert len(page["_embedded"]["events"]) == 25 and page["total"] == 450
        assert page["_links"]["next"]["href"].startswith(server.base_url)
        last = session.get(f"{server.base_url}/events?limit=500&offset=400", timeout=5).json()
        assert len(last["_embedded"]["events"]) == 50 and "next" not in last["_links"]
        created = [record["created"] for record in server.records("customers")]
        assert created[0] > created[-1]


def test_auth_rejects_bad_credentials_and_tokens() -> None:
    with SandboxServer("payments", token_max_uses=2) as server:
        config = server.tap_config()
        bad = requests.post(
            server.token_url or "",
            data={"grant_type": "client_credentials"},
            auth=(config["client_id"], "wrong"),
            timeout=5,
        )
        assert bad.status_code == 401 and "message" in bad.json()
        form = requests.post(
            server.token_url or "",
            data={
                "grant_type": "client_credentials",
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
            },
            timeout=5,
        )
        assert form.status_code == 200 and form.json()["expires_in"] == 3600
        headers = {"Authorization": f"Bearer {form.json()['access_token']}"}
        url = f"{server.base_url}/exchange-partners"
        statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(3)]
        assert statuses == [200, 200, 401]
        unknown = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert unknown.status_code == 401 and unknown.json()["message"]
    with SandboxServer("billing") as server:
        wrong = requests.get(
            f"{server.base_url}/v1/ips", headers={"Authorization": "Bearer x"}, timeout=5
        )
        assert wrong.status_code == 401
    with SandboxServer("commerce") as server:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        assert requests.get(f"{server.base_url}/locations", headers=headers, timeout=5).ok
        assert "api_key" not in server.tap_config()


def test_crm_rotates_refresh_tokens_and_checks_account_id() -> None:
    with SandboxServer("crm") as server:
        config = server.tap_config()
        assert server.token_url and not server.token_url.startswith(server.base_url)

        def refresh(token: str) -> requests.Response:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
            }
            return requests.post(server.token_url or "", data=form, timeout=5)

        first = refresh(config["refresh_token"])
        assert first.status_code == 200
        rotated = first.json()["refresh_token"]
        assert rotated != config["refresh_token"]
        stale = refresh(config["refresh_token"])
        assert stale.status_code == 401 and stale.json()["error"] == "invalid_grant"
        assert refresh(rotated).ok
        assert server.tap_config()["refresh_token"] != rotated  # rotated once more
        session = session_for(server)
        url = f"{server.base_url}/v1/company"
        assert session.get(url, timeout=5).ok
        assert session.get(url, headers={"Account-Id": "1"}, timeout=5).status_code == 403
        assert server.stats["token_requests"] == 4


def test_server_side_filters() -> None:
    with SandboxServer("billing") as server:
        session = session_for(server)
        customers = server.records("customers")
        bound = sorted((record["updated_at"] for record in customers), key=instant)[60]
        page = session.get(
            f"{server.base_url}/v1/customers",
            params={"updated_after": bound, "limit": 200},
            timeout=5,
        ).json()
        expected = {r["id"] for r in customers if instant(r["updated_at"]) > instant(bound)}
        assert {r["id"] for r in page["data"]} == expected and len(expected) == 59
        assert (
            session.get(
                f"{server.base_url}/v1/customers", params={"updated_after": "soon"}, timeout=5
            ).status_code
            == 400
        )
    with SandboxServer("crm") as server:
        session = session_for(server)
        bound = server.records("clients")[10]["updated_at"]
        page = session.get(
            f"{server.base_url}/v1/clients",
            params={"updated_since": bound, "per_page": 500},
            timeout=5,
        ).json()
        assert bound in {r["updated_at"] for r in page["clients"]}
    with SandboxServer("clinical") as server:
        session = session_for(server)
        study = next(s for s in server.records("study") if s["study_id"])
        url = f"{server.base_url}/v1/study/{study['study_id']}/audit-trail"
        entries = session.get(url, params={"page_size": 1000}, timeout=5).json()["items"]
        if entries:
            middle = entries[len(entries) // 2]["datetime"]
            later = session.get(url, params={"date_from": middle}, timeout=5).json()["items"]
            assert later == entries[len(entries) // 2 :]
        past_end = session.get(url, params={"page": 99}, timeout=5).json()
        assert past_end["items"] == []


def test_commerce_post_search_cursor() -> None:
    with SandboxServer("commerce") as server:
        session = session_for(server)
        url = f"{server.base_url}/labor/shifts/search"
        first = session.post(url, json={"limit": 100}, timeout=5).json()
        assert len(first["shifts"]) == 100 and "cursor" in first
        second = session.post(url, json={"limit": 100, "cursor": first["cursor"]}, timeout=5)
        assert second.json()["shifts"][0]["id"] > first["shifts"][-1]["id"]
        assert session.post(url, json={"cursor": "garbage!"}, timeout=5).status_code == 400
        assert session.get(url, timeout=5).status_code == 405


def test_injected_faults() -> None:
    with SandboxServer("clinical") as server:
        session = session_for(server)
        url = f"{server.base_url}/v1/study"
        server.inject("429", "429:3", "429-date", 503, "500", "nonjson", "truncated")
        assert session.get(url, timeout=5).headers["Retry-After"] == "0"
        assert session.get(url, timeout=5).headers["Retry-After"] == "3"
        assert session.get(url, timeout=5).headers["Retry-After"].endswith("GMT")
        unavailable = session.get(url, timeout=5)
        assert unavailable.status_code == 503 and "Retry-After" in unavailable.headers
        assert session.get(url, timeout=5).json()["message"]
        html = session.get(url, timeout=5)
        assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
        truncated = session.get(url, timeout=5)
        with pytest.raises(ValueError):
            truncated.json()
        server.inject("reset")
        with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            session.get(url, timeout=5)
        assert session.get(url, timeout=5).ok
        server.inject("401")
        assert session.get(url, timeout=5).status_code == 401
        assert session.get(url, timeout=5).status_code == 401  # the token was invalidated
        with pytest.raises(ValueError):
            server.inject("418")
        assert server.stats["faults"] == {
            "429": 2, "429-date": 1, "503": 1, "500": 1, "nonjson": 1, "truncated": 1,
            "reset": 1, "401": 1,
        }  # fmt: skip


def test_random_faults_hit_some_requests() -> None:
    with SandboxServer("billing", fault_rate=0.5, fault_kinds=("502",)) as server:
        session = session_for(server)
        statuses = {
            session.get(f"{server.base_url}/v1/ips", timeout=5).status_code for _ in range(20)
        }
        assert statuses == {200, 502}


def test_mutate_bumps_and_appends_later_records() -> None:
    with SandboxServer("billing") as server:
        session = session_for(server)
        before = server.records("customers")
        newest = max((record["updated_at"] for record in before), key=instant)
        changed = server.mutate(2)
        assert len(changed["customers"]) == 4 and len(changed["event_types"]) == 2
        page = session.get(
            f"{server.base_url}/v1/customers", params={"updated_after": newest}, timeout=5
        ).json()
        assert sorted(r["id"] for r in page["data"]) == sorted(changed["customers"])
        assert len(server.records("customers")) == len(before) + 2
        assert fetch_stream(server, session, "customers") == server.records("customers")
    with SandboxServer("clinical") as server:
        latest = max(instant(r["datetime"]) for r in server.records("audit_trial"))
        changed = server.mutate()
        added = [r for r in server.records("audit_trial") if r["uuid"] in changed["audit_trial"]]
        assert added and all(instant(r["datetime"]) > latest for r in added)


def test_cli_prints_config_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "tap_example.sandbox", "--api", "crm", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            config = json.loads(process.stdout.readline())
            assert config["api"] == "crm" and config["refresh_token"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    bad = subprocess.run(
        [sys.executable, "-m", "tap_example.sandbox", "--api", "crm", "--size", "x"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
