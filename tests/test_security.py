"""Security: secrets never printed, credentials only for the API's own host, TLS always
verified, and bad settings refused before any request."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests
from singer_sdk.streams import RESTStream

from tap_example.engine.auth import APIKeyAuthenticator, BearerAuthenticator
from tap_example.errors import ConfigError, mask_url
from tap_example.redact import register_secret
from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample
from tests.conftest import run_cli
from tests.test_reliability import FAST, assert_exactly_the_servers_records, sync

ROOT = Path(__file__).resolve().parent.parent
#: A bearer token or basic credentials that are not masked.
_UNMASKED_AUTHORIZATION = re.compile(r"(Bearer|Basic)\s+(?!\*\*\*)[A-Za-z0-9]")
_UNMASKED_SECRET_PARAM = re.compile(
    r"(api_key|client_secret|refresh_token|access_token)(=|\"?:\s*\"?)(?!\*\*\*|%2A%2A%2A)[^\s&\"',)]"
)


def _cli(config: dict[str, Any], tmp_path: Path, *, debug: bool = True) -> Any:
    env = {**os.environ, "TAP_EXAMPLE_LOGLEVEL": "DEBUG" if debug else "INFO"}
    return run_cli(config, tmp_path, env=env)


def assert_no_secret(output: str, secrets: list[str]) -> None:
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            assert form not in output, f"a secret leaked: {secret[:6]}..."
    assert not _UNMASKED_AUTHORIZATION.search(output), _UNMASKED_AUTHORIZATION.search(output)
    assert not _UNMASKED_SECRET_PARAM.search(output), _UNMASKED_SECRET_PARAM.search(output)


# --------------------------------------------------------------------------- secrets in output

#: Runs that exercise every credential path: renewals, rotation, faults, a static key.
LEAK_RUNS: dict[str, tuple[dict[str, Any], dict[str, Any], tuple[Any, ...]]] = {
    "payments": ({"api": "payments", "token_max_uses": 40}, {}, ("pass", 401, "500", "reset")),
    "billing": ({"api": "billing"}, {}, ("pass", "429", "truncated", 403)),
    "crm": ({"api": "crm", "token_max_uses": 2}, {}, ("pass", 401, "nonjson")),
    "commerce": ({"api": "commerce", "token_max_uses": 3}, {}, ("pass", 401, "502")),
    "commerce-key": ({"api": "commerce"}, {"client_id": None, "client_secret": None}, ("503",)),
    "clinical": ({"api": "clinical", "token_ttl": 1}, {}, ("429-date", 401)),
}


@pytest.mark.parametrize("case", LEAK_RUNS)
def test_no_secret_in_stdout_stderr_or_debug_logs(case: str, tmp_path: Path) -> None:
    server_options, overrides, faults = LEAK_RUNS[case]
    with SandboxServer(**server_options) as server:
        server.inject(*faults)
        config = {**server.tap_config(), **FAST, **overrides}
        if case == "commerce-key":
            config["api_key"] = server.api_key
        config = {k: v for k, v in config.items() if v is not None}
        result = _cli(config, tmp_path)
        secrets = server.issued_secrets
        assert server.stats["token_requests"] >= (0 if "key" in case or case == "billing" else 2)
    output = result.stdout + result.stderr
    assert "DEBUG" in result.stderr and "Starting new HTTP connection" in result.stderr
    assert len(secrets) >= 2
    assert_no_secret(output, secrets)
    # The run itself ends as it would have: a clean exit, or (billing's 403) one line.
    assert result.returncode == (1 if case == "billing" else 0), result.stderr[-500:]


@pytest.mark.parametrize("api", ["payments", "crm", "billing"])
def test_no_secret_when_credentials_are_refused_at_debug_level(api: str, tmp_path: Path) -> None:
    wrong = {
        "client_secret": "wrong-client-secret-1",
        "refresh_token": "wrong-refresh-token-1",
        "api_key": "wrong-api-key-1",
    }
    with SandboxServer(api=api) as server:
        result = _cli({**server.tap_config(), **wrong}, tmp_path)
        secrets = [*server.issued_secrets, *wrong.values()]
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert_no_secret(result.stdout + result.stderr, secrets)


_QUERY_KEY_DEFINITION = """
client:
  base_url: https://api.example.com
  auth: {type: api_key, name: api_key, location: query, api_key: "${api_key}"}
resources:
  - name: customers
    schema: customers.json
    endpoint: {path: /v1/customers, data_selector: data}
"""


def test_an_api_key_in_the_query_is_masked_in_urls_logs_and_errors(tmp_path: Path) -> None:
    key = "s3cr3t/key+with&odd=chars"
    (tmp_path / "api.yaml").write_text(_QUERY_KEY_DEFINITION)
    schema = {"type": "object", "properties": {"id": {"type": "string"}}}
    (tmp_path / "customers.json").write_text(json.dumps(schema))
    with SandboxServer(api="billing") as server:  # wants a bearer token: answers 401
        config = {"api_file": str(tmp_path / "api.yaml"), "base_url": server.base_url}
        result = _cli({**config, "api_key": key, "max_retries": 0}, tmp_path)
        assert server.stats["requests"] == 1
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "api_key=***" in last and "HTTP 401" in last
    assert "/v1/customers?" in result.stderr  # urllib3 logged the URL, masked
    assert_no_secret(result.stdout + result.stderr, [key])


def test_tracebacks_in_logs_are_redacted() -> None:
    secret = "tb-secret-value/with+chars"
    register_secret(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tap-example.test-redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        try:
            raise RuntimeError(f"GET https://x.example/?api_key={quote_plus(secret)} with {secret}")
        except RuntimeError:
            logger.debug("request failed for %s", secret, exc_info=True)
            logger.debug("stack", stack_info=True)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "RuntimeError" in text and "Traceback" in text
    assert secret not in text and quote_plus(secret) not in text
    assert text.count("***") >= 3


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "https://h.example/v1/x?api_key=abc123&page=2",
            "https://h.example/v1/x?api_key=***&page=2",
        ),
        (
            "https://user:pw@h.example/p?access_token=t&sig=s",
            "https://***@h.example/p?access_token=***&sig=***",
        ),
        ("https://h.example/p?cursor=abc", "https://h.example/p?cursor=abc"),
    ],
)
def test_urls_in_messages_mask_secret_query_values(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# --------------------------------------------------------------------------- credentials and hosts


class _Capture(BaseHTTPRequestHandler):
    """A foreign host: records what it was sent, answers an empty last HAL page."""

    seen: list[tuple[str, dict[str, str]]]

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        names = [
            "customers",
            "funding-sources",
            "events",
            "exchange-partners",
            "business-classifications",
        ]
        body = json.dumps({"_links": {}, "_embedded": {n: [] for n in names}, "total": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def foreign_host() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    seen: list[tuple[str, dict[str, str]]] = []
    handler = type("Capture", (_Capture,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_next_link_to_another_host_is_followed_without_credentials(
    foreign_host: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    origin, seen = foreign_host
    with SandboxServer(api="payments", link_origin=origin) as server:
        run = sync({**server.tap_config(), **FAST})
        first_pages = server.stats["requests"]
    assert run.error is None
    assert seen, "the tap did not follow the next link"
    assert len(seen) + first_pages > len(seen)
    for path, headers in seen:
        assert "authorization" not in headers, path
        assert "api_key" not in path and "token" not in path


@pytest.mark.parametrize("location", ["query", "header"])
def test_an_api_key_is_never_sent_to_another_host(location: str) -> None:
    auth = APIKeyAuthenticator(
        name="api_key",
        api_key="key-1234",
        location=location,
        allowed_origins=["https://api.example.com"],
    )
    own = auth(requests.Request("GET", "https://api.example.com/v1/x?page=2").prepare())
    assert "key-1234" in (own.url or "") + own.headers.get("api_key", "")
    # A next link elsewhere, even one that echoes the key where the API expects it.
    echoed = "?api_key=key-1234&page=3" if location == "query" else "?page=3"
    headers = {"api_key": "key-1234"} if location == "header" else {}
    foreign = requests.Request("GET", f"https://cdn.example.net/v1/x{echoed}", headers=headers)
    sent = auth(foreign.prepare())
    assert "key-1234" not in (sent.url or "") and "api_key" not in sent.headers
    assert sent.url == "https://cdn.example.net/v1/x?page=3"


def test_a_bearer_token_is_never_sent_to_another_port_or_scheme() -> None:
    auth = BearerAuthenticator(token="tok-5678", allowed_origins=["https://api.example.com"])
    for url in (
        "https://api.example.com:8443/x",
        "http://api.example.com/x",
        "https://evil.example/x",
    ):
        prepared = requests.Request(
            "GET", url, headers={"Authorization": "Bearer tok-5678"}
        ).prepare()
        assert "Authorization" not in auth(prepared).headers, url
    own = auth(requests.Request("GET", "https://api.example.com/x").prepare())
    assert own.headers["Authorization"] == "Bearer tok-5678"


def test_tls_verification_cannot_be_turned_off() -> None:
    tap = TapExample(config={"api": "payments", "client_id": "a", "client_secret": "b"})
    names = " ".join(tap.config_jsonschema["properties"])
    assert not re.search(r"verify|insecure|ssl|tls|cert", names, re.IGNORECASE)
    stream = tap.streams["customers"]
    assert isinstance(stream, RESTStream)
    assert stream.requests_session.verify is True
    for source in (ROOT / "tap_example").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False", text), (
            source
        )


# --------------------------------------------------------------------------- bad settings

BAD_SETTINGS = [
    ("payments", {"api": "nope"}, "setting 'api'"),
    (
        "payments",
        {"client_secret": None},
        "payments: authentication needs the settings client_secret",
    ),
    ("billing", {"api_key": None}, "api_key"),
    ("commerce", {"client_secret": None}, "needs the settings api_key or client_secret"),
    ("crm", {"refresh_token": None}, "refresh_token"),
    ("clinical", {"start_date": "2024-13-45T00:00:00Z"}, "setting 'start_date'"),
    ("clinical", {"start_date": "last tuesday"}, "setting 'start_date'"),
    ("payments", {"page_size": 0}, "setting 'page_size'"),
    ("payments", {"page_size": -3}, "setting 'page_size'"),
    ("payments", {"max_pages_per_partition": 0}, "setting 'max_pages_per_partition'"),
]


@pytest.mark.parametrize(("api", "overrides", "message"), BAD_SETTINGS)
def test_bad_settings_are_one_line_before_any_request(
    api: str, overrides: dict[str, Any], message: str
) -> None:
    with SandboxServer(api=api) as server:
        config = {k: v for k, v in {**server.tap_config(), **overrides}.items() if v is not None}
        with pytest.raises(ConfigError) as raised:
            TapExample(config=config, validate_config=True).sync_all()
        assert server.stats["requests"] == 0 and server.stats["token_requests"] == 0
    text = str(raised.value)
    assert message in text and "\n" not in text


def test_bad_settings_in_the_cli_are_one_line_without_traceback(tmp_path: Path) -> None:
    with SandboxServer(api="payments") as server:
        result = _cli({**server.tap_config(), "max_pages_per_partition": -1}, tmp_path, debug=False)
        assert server.stats["requests"] == 0
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("tap-example: error: setting 'max_pages_per_partition'")
    )


@pytest.mark.parametrize("sandbox", ["billing"], indirect=True)
def test_a_run_with_secrets_still_delivers_everything(sandbox: SandboxServer) -> None:
    """The redaction does not touch the data itself."""
    run = sync({**sandbox.tap_config(), **FAST})
    assert run.error is None
    assert_exactly_the_servers_records(run, sandbox)


# --------------------------------------------------------------------------- echoed credentials


def assert_no_fragment(output: str, secret: str, longer_than: int) -> None:
    """No piece of ``secret`` longer than ``longer_than`` characters (its start, where a cut
    message would end) appears in ``output``."""
    for end in range(longer_than + 1, len(secret) + 1):
        assert secret[:end] not in output, f"a fragment of a secret leaked: {secret[:end]!r}"


def test_an_error_body_echoing_the_refresh_token_is_scrubbed_before_it_is_cut(
    tmp_path: Path,
) -> None:
    secret = "SEKRET-refresh-0000"
    with SandboxServer(api="crm") as server:
        # The echo quotes the token request's form; 150 dots put the 200-character cut of the
        # server's message 10 characters into the refresh token.
        server.inject_token("echo:150")
        result = _cli({**server.tap_config(), **FAST, "refresh_token": secret}, tmp_path)
        assert server.stats["token_requests"] == 1
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "token request to" in last and "refused with HTTP 400" in last and "***" in last
    assert_no_fragment(result.stdout + result.stderr, secret, longer_than=5)


def test_an_error_body_echoing_the_access_token_is_scrubbed_before_it_is_cut(
    tmp_path: Path,
) -> None:
    with SandboxServer(api="payments") as server:
        # "Bearer payments-access-1-<random>" after 168 dots: the cut lands in the random part.
        server.inject("echo:168")
        result = _cli({**server.tap_config(), **FAST}, tmp_path)
        tokens = [s for s in server.issued_secrets if "-access-" in s]
    assert result.returncode == 1 and "HTTP 400" in result.stderr
    assert tokens
    for token in tokens:
        assert_no_fragment(result.stdout + result.stderr, token, longer_than=18)


def test_scrubbing_comes_before_cutting() -> None:
    from tap_example.redact import scrub

    secret = "scrub-me-0123456789"
    register_secret(secret)
    text = "x" * 95 + secret + " and more"
    assert scrub(text, 100) == "x" * 95 + "*** a"  # no "scrub" left of the secret
    assert scrub(text) == "x" * 95 + "*** and more"


def test_a_header_api_key_echoed_into_a_next_link_never_travels_in_the_url() -> None:
    auth = APIKeyAuthenticator(
        name="X-API-Key",
        api_key="key-1234",
        location="header",
        allowed_origins=["https://api.example.com"],
    )
    for echoed in ("X-API-Key=key-1234", "apikey=key-1234"):
        link = f"https://api.example.com/v1/x?page=3&{echoed}"
        sent = auth(requests.Request("GET", link).prepare())
        assert sent.url == "https://api.example.com/v1/x?page=3"
        assert sent.headers["X-API-Key"] == "key-1234"
    bearer = BearerAuthenticator(token="tok-5678", allowed_origins=["https://api.example.com"])
    sent = bearer(requests.Request("GET", "https://api.example.com/x?access=tok-5678").prepare())
    assert sent.url == "https://api.example.com/x" and "tok-5678" in sent.headers["Authorization"]
