"""OAuth tokens on a bad day: revoked early under concurrency, shared by two jobs on an API that
allows one token per client, a token endpoint that is briefly down, and rotated refresh tokens
kept from one run to the next (issues 14.1, 14.2 and 12.3)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_example.engine.auth import OAuth2Authenticator
from tap_example.engine.tokenstore import TokenStore, default_directory
from tap_example.errors import AuthError
from tap_example.sandbox import SandboxServer
from tests.conftest import run_cli
from tests.test_reliability import FAST, assert_exactly_the_servers_records, sync

#: Enough parents that 16 workers are busy with child requests for a while.
CHILDREN: dict[str, Any] = {"api": "payments", "sizes": {"customers": 300}, "child_latency": 0.005}


def _renewals(log: list[str]) -> int:
    return sum("renewing it" in line for line in log)


# --------------------------------------------------------------------------- tokens revoked early


@pytest.mark.parametrize("sandbox", [CHILDREN], indirect=True)
def test_a_restart_that_revokes_every_token_costs_one_token_request(
    sandbox: SandboxServer,
) -> None:
    """16 workers in flight all get 401 for the same token: one of them renews it, the others
    send again with the new one; nothing is lost or repeated."""
    config = {**sandbox.tap_config(), **FAST, "max_concurrency": 16}
    restart = threading.Timer(0.3, sandbox.revoke_tokens)
    restart.start()
    try:
        run = sync(config)
    finally:
        restart.cancel()
    assert run.error is None, run.error
    assert_exactly_the_servers_records(run, sandbox)
    stats = sandbox.stats
    assert stats["by_status"].get(401, 0) >= 1, "the restart came after the run: make it longer"
    assert stats["tokens_issued"] == 2  # single-flight: one renewal however many saw 401
    assert _renewals(run.log) == 1
    assert run.tap.retries == 0


@pytest.mark.parametrize("sandbox", [{**CHILDREN, "token_lifetime": 0.25}], indirect=True)
def test_tokens_that_die_before_their_stated_expiry_are_renewed_as_often_as_needed(
    sandbox: SandboxServer,
) -> None:
    run = sync({**sandbox.tap_config(), **FAST, "max_concurrency": 16})
    assert run.error is None, run.error
    assert_exactly_the_servers_records(run, sandbox)
    issued = sandbox.stats["tokens_issued"]
    assert issued >= 2 and _renewals(run.log) == issued - 1


def _token_thief(server: SandboxServer, stop: threading.Event, every: float) -> threading.Thread:
    """Another job with the same client credentials, fetching a new token every ``every`` s."""
    credentials = server.credentials
    form = {"grant_type": "client_credentials", **credentials}

    def steal() -> None:
        while not stop.wait(every):
            requests.post(server.token_url or "", data=form, timeout=5)

    thread = threading.Thread(target=steal, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sandbox", [{**CHILDREN, "one_token_per_client": True}], indirect=True)
def test_another_job_taking_the_only_token_per_client_does_not_end_the_run(
    sandbox: SandboxServer,
) -> None:
    stop = threading.Event()
    thief = _token_thief(sandbox, stop, every=0.15)
    try:
        run = sync({**sandbox.tap_config(), **FAST, "max_concurrency": 16})
    finally:
        stop.set()
        thief.join(5)
    assert run.error is None, run.error
    assert_exactly_the_servers_records(run, sandbox)
    assert sandbox.stats["by_status"].get(401, 0) >= 1  # the thief did revoke the tap's tokens


def test_two_tap_processes_sharing_one_token_per_client_both_finish(tmp_path: Path) -> None:
    """Each job's new token revokes the other's; both runs end with every record, exit 0."""
    with SandboxServer(**CHILDREN, latency=0.002, one_token_per_client=True) as server:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({**server.tap_config(), **FAST, "max_concurrency": 16}))
        command = [
            sys.executable,
            "-c",
            "from tap_example.tap import TapExample; TapExample.cli()",
            "--config",
            str(config),
        ]
        jobs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [job.communicate(timeout=120) for job in jobs]
        expected = sum(len(server.records(stream)) for stream in server.streams)
        stats = server.stats
    for job, (out, err) in zip(jobs, outputs, strict=True):
        assert job.returncode == 0, err.strip().splitlines()[-1:]
        assert sum(
            1 for line in out.splitlines() if '"type":"RECORD"' in line.replace(" ", "")
        ) == (expected)
    assert stats["tokens_issued"] >= 3  # they did take each other's tokens


@pytest.mark.parametrize("sandbox", ["payments"], indirect=True)
def test_a_token_obtained_after_a_refusal_and_refused_too_ends_the_run_at_once(
    sandbox: SandboxServer,
) -> None:
    """An API that refuses every token this token endpoint issues (a wrong token_url, say)."""
    sandbox.inject(*[401] * 8)
    run = sync({**sandbox.tap_config(), **FAST, "max_concurrency": 1})
    assert run.error is not None
    assert "HTTP 401" in str(run.error) and "check the credentials" in str(run.error)
    # The first token, then renewals until fresh tokens were refused three times in a row
    # (one refusal may be another job taking the client's only token), no more.
    assert sandbox.stats["tokens_issued"] == 1 + OAuth2Authenticator.fresh_refusals_allowed


# --------------------------------------------------------------------------- the token endpoint


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("503", "HTTP 503"),
        ("429:1", "HTTP 429"),
        ("500", "HTTP 500"),
        ("reset", "connection to 127.0.0.1"),
        ("slow:3", "timed out waiting for an answer from 127.0.0.1"),
    ],
)
def test_a_token_endpoint_that_fails_once_is_retried(fault: str, cause: str) -> None:
    with SandboxServer(api="clinical") as server:  # clinical's data requests retry only 429
        server.inject_token(fault)
        run = sync({**server.tap_config(), **FAST, "request_timeout": 2})
        assert run.error is None, run.error
        assert_exactly_the_servers_records(run, server)
    assert run.tap.authenticator.token_requests == 2  # counted by the tap: a slow answer is late
    retries = [line for line in run.log if "token request to" in line and "retry 1 of" in line]
    assert len(retries) == 1 and cause in retries[0], run.log
    if fault == "429:1":  # Retry-After wins over the (tiny) backoff
        assert retries[0].endswith("in 1.00 s")


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_token_endpoint_refusal_ends_the_run_at_once(status: str) -> None:
    with SandboxServer(api="payments") as server:
        server.inject_token(status)
        run = sync({**server.tap_config(), **FAST, "max_retries": 5})
        assert server.stats["token_requests"] == 1
    assert isinstance(run.error, AuthError)
    assert str(run.error).startswith("payments: token request to http://127.0.0.1:")
    assert f"refused with HTTP {status}" in str(run.error)
    assert "(check the settings client_id, client_secret, and token_url)" in str(run.error)


def test_a_token_endpoint_that_stays_down_ends_the_run_naming_the_failure(tmp_path: Path) -> None:
    with SandboxServer(api="payments") as server:
        server.inject_token("reset", "reset", "reset")
        result = run_cli({**server.tap_config(), **FAST, "max_retries": 2}, tmp_path)
        assert server.stats["token_requests"] == 3
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-example: error: payments: token request to http://127.0.0.1:")
    assert (
        "failed: connection to 127.0.0.1:" in last and "dropped (gave up after 2 retries)" in last
    )


# --------------------------------------------------------------------------- rotated refresh tokens


def _crm_config(server: SandboxServer, store: Path | str) -> dict[str, Any]:
    return {**server.tap_config(), **FAST, "token_store_dir": str(store)}


def test_three_runs_with_one_config_follow_the_rotated_refresh_token(tmp_path: Path) -> None:
    """What Meltano does: the same config every run, while crm rotates its refresh token."""
    store = tmp_path / "tokens"
    with SandboxServer(api="crm") as server:
        config = _crm_config(server, store)  # printed once, as tap-example-sandbox does
        results = []
        for run_dir in ("one", "two", "three"):
            (tmp_path / run_dir).mkdir()
            results.append(run_cli(config, tmp_path / run_dir))
        secrets = server.issued_secrets
    for number, result in enumerate(results, start=1):
        assert result.returncode == 0, (number, result.stderr.strip().splitlines()[-1:])
        assert '"type":"RECORD"' in result.stdout.replace(" ", "")
        for secret in secrets:
            assert secret not in result.stderr
    kept = [r for r in results if "using the refresh token an earlier run kept in" in r.stderr]
    assert kept == results[1:]  # runs two and three said so, in one line each
    files = list(store.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert "refresh_token" in json.loads(files[0].read_text())


def test_without_a_token_store_the_second_run_needs_a_new_refresh_token(tmp_path: Path) -> None:
    with SandboxServer(api="crm") as server:
        config = _crm_config(server, "off")
        first, second = (sync(config) for _ in range(2))
    assert first.error is None
    assert isinstance(second.error, AuthError) and "HTTP 401" in str(second.error)
    assert any("token_store_dir is off" in line for line in first.log)


def test_the_default_store_is_under_the_users_state_directory(
    private_state_home: Path,
) -> None:
    assert default_directory() == private_state_home / "tap-example" / "tokens"
    with SandboxServer(api="crm") as server:
        config = {**server.tap_config(), **FAST}  # no token_store_dir: the default place
        runs = [sync(config) for _ in range(2)]
    assert [run.error for run in runs] == [None, None]
    assert len(list((private_state_home / "tap-example" / "tokens").iterdir())) == 1


def test_a_new_refresh_token_in_the_config_wins_over_the_kept_one(tmp_path: Path) -> None:
    store = tmp_path / "tokens"
    with SandboxServer(api="crm") as server:
        config = _crm_config(server, store)
        assert sync(config).error is None  # keeps the rotated token
        # The user re-authorises: a new refresh token (the sandbox's newest) goes into the
        # config; the kept one is now stale and must not be preferred.
        reauthorised = {**config, "refresh_token": server.credentials["refresh_token"]}
        run = sync(reauthorised)
    assert run.error is None, run.error
    assert not any("earlier run kept" in line for line in run.log)


def test_a_kept_token_the_api_refuses_falls_back_to_the_configured_one(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    with SandboxServer(api="crm") as server:
        config = _crm_config(server, store.directory)
        store.save(
            server.token_url or "",
            config["client_id"],
            "stale-refresh-token",
            replaces=config["refresh_token"],
        )
        run = sync(config)
    assert run.error is None, run.error
    assert any("refused the refresh token kept in" in line for line in run.log)


def test_the_store_writes_atomically_and_only_for_its_owner(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "a" / "b")
    path = store.save("https://id.test/token", "client", "r-1", replaces="r-0")
    assert store.load("https://id.test/token", "client", "r-0") is not None
    assert store.load("https://id.test/token", "other-client", "r-0") is None
    assert store.load("https://id.test/token", "client", "r-9") is None  # a newer config token
    store.save("https://id.test/token", "client", "r-2", replaces="r-0")
    kept = store.load("https://id.test/token", "client", "r-0")
    assert kept is not None and kept.refresh_token == "r-2"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TokenStore.from_setting("off") is None and TokenStore.from_setting("") is None
    home_store = TokenStore.from_setting("~/somewhere")
    assert home_store is not None and home_store.directory == Path.home() / "somewhere"


def test_a_store_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    with SandboxServer(api="crm") as server:
        run = sync(_crm_config(server, blocked / "tokens"))
    assert run.error is None
    assert any("could not be kept in" in line for line in run.log)


def test_the_in_process_sandbox_keeps_no_tokens(private_state_home: Path) -> None:
    """``sandbox: true`` starts a new sandbox, on a new port, every run: nothing to keep."""
    run = sync({"api": "crm", "sandbox": True, **FAST})
    assert run.error is None
    assert not (private_state_home / "tap-example").exists()


def test_nothing_is_written_outside_the_configured_state_home(private_state_home: Path) -> None:
    """The autouse fixture keeps every test's tokens out of the real home."""
    assert os.environ["XDG_STATE_HOME"] == str(private_state_home)
    started = time.monotonic()
    with SandboxServer(api="crm") as server:
        assert sync({**server.tap_config(), **FAST}).error is None
    assert time.monotonic() - started < 60
    assert any(private_state_home.rglob("*.json"))


# --------------------------------------------------------------------------- the sandbox's switches


def _token(server: SandboxServer) -> str:
    form = {"grant_type": "client_credentials", **server.credentials}
    answer = requests.post(server.token_url or "", data=form, timeout=5)
    assert answer.ok, answer.text
    token: str = answer.json()["access_token"]
    return token


def _customers(server: SandboxServer, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{server.base_url}/customers", headers=headers, timeout=5).status_code


def test_the_sandbox_revokes_tokens_as_asked() -> None:
    with SandboxServer(api="payments", one_token_per_client=True) as server:
        first = _token(server)
        assert _customers(server, first) == 200
        second = _token(server)  # another job, same client: the first token is revoked
        assert (_customers(server, first), _customers(server, second)) == (401, 200)
        server.revoke_tokens()  # a restart
        assert _customers(server, second) == 401
    with SandboxServer(api="payments", token_lifetime=0.3) as server:
        answer = requests.post(
            server.token_url or "",
            data={"grant_type": "client_credentials", **server.credentials},
            timeout=5,
        ).json()
        assert answer["expires_in"] == 3600  # what it says ...
        assert _customers(server, answer["access_token"]) == 200
        time.sleep(0.4)
        assert _customers(server, answer["access_token"]) == 401  # ... is not what it does


def test_the_sandbox_token_endpoint_fails_as_asked() -> None:
    with SandboxServer(api="payments") as server:
        server.inject_token("503", "echo:3")
        form = {"grant_type": "client_credentials", **server.credentials}
        answers = [requests.post(server.token_url or "", data=form, timeout=5) for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 400, 200]
        assert answers[1].json()["message"].startswith("... grant_type=client_credentials")
        assert server.stats["faults"] == {"token-503": 1, "token-echo": 1}


def test_the_sandbox_cli_takes_the_new_switches() -> None:
    command = [
        sys.executable, "-m", "tap_example.sandbox", "--api", "payments", "--port", "0",
        "--one-token-per-client", "--token-lifetime", "5", "--rate-limit", "2",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            config = json.loads(process.stdout.readline())
            form = {"grant_type": "client_credentials", **config}
            token = requests.post(config["token_url"], data=form, timeout=5).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            statuses = [
                requests.get(f"{config['base_url']}/events", headers=headers, timeout=5)
                for _ in range(6)  # at most two windows of 2: some are refused
            ]
            limited = [s for s in statuses if s.status_code == 429]
            assert limited and all(int(s.headers["Retry-After"]) >= 1 for s in limited)
        finally:
            process.kill()
