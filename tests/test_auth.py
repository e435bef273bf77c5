"""Authenticators: token grants against the sandbox's token endpoints, caching, rotation, hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from tap_example.definition import auth_specs
from tap_example.engine.auth import (
    APIKeyAuthenticator,
    BasicAuthenticator,
    BearerAuthenticator,
    OAuth2Authenticator,
    build_authenticator,
)
from tap_example.errors import AuthError, ConfigError
from tap_example.sandbox import SandboxServer

if TYPE_CHECKING:
    from singer_sdk.authenticators import APIAuthenticatorBase


def prepared(url: str) -> requests.PreparedRequest:
    return requests.Request("GET", url).prepare()


def oauth(server: SandboxServer, **overrides: Any) -> OAuth2Authenticator:
    credentials = server.credentials
    options = {
        "api_name": server.api,
        "token_url": server.token_url,
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "refresh_token": credentials.get("refresh_token"),
        "allowed_origins": [server.base_url],
        **overrides,
    }
    return OAuth2Authenticator(**options)


@pytest.mark.parametrize("client_auth", ["body", "basic"])
def test_client_credentials_token_is_cached_until_it_expires(
    sandbox: SandboxServer, client_auth: str
) -> None:
    auth = oauth(sandbox, client_auth=client_auth)
    first = auth(prepared(f"{sandbox.base_url}/customers")).headers["Authorization"]
    second = auth(prepared(f"{sandbox.base_url}/events")).headers["Authorization"]
    assert first == second and first.startswith("Bearer ")
    assert auth.token_requests == 1
    auth.invalidate()
    third = auth(prepared(f"{sandbox.base_url}/events")).headers["Authorization"]
    assert third != first and auth.token_requests == 2
    assert requests.get(
        f"{sandbox.base_url}/customers", headers={"Authorization": third}, timeout=5
    ).ok


def test_invalidate_ignores_a_token_already_replaced(sandbox: SandboxServer) -> None:
    auth = oauth(sandbox)
    old = auth(prepared(f"{sandbox.base_url}/x")).headers["Authorization"][7:]
    auth.invalidate(old)
    new = auth(prepared(f"{sandbox.base_url}/x")).headers["Authorization"][7:]
    auth.invalidate(old)  # a second thread reporting the same stale token
    assert auth(prepared(f"{sandbox.base_url}/x")).headers["Authorization"][7:] == new


def test_bad_client_secret_is_one_line_without_the_secret(sandbox: SandboxServer) -> None:
    auth = oauth(sandbox, client_secret="not-the-secret")
    with pytest.raises(AuthError) as caught:
        auth(prepared(f"{sandbox.base_url}/customers"))
    message = str(caught.value)
    assert "payments: token request to" in message and "HTTP 401" in message
    assert "client_secret" in message and "not-the-secret" not in message


@pytest.mark.parametrize("sandbox", ["crm"], indirect=True)
def test_refresh_token_rotation_is_used_for_later_refreshes(sandbox: SandboxServer) -> None:
    original = sandbox.credentials["refresh_token"]
    auth = oauth(sandbox)
    auth(prepared(f"{sandbox.base_url}/v1/clients"))
    assert auth.refresh_token != original  # the answer rotated it
    auth.invalidate()
    auth(prepared(f"{sandbox.base_url}/v1/clients"))  # works only with the rotated token
    assert auth.token_requests == 2


def test_credentials_go_only_to_the_api_origin() -> None:
    auth = BearerAuthenticator(token="tok-123", allowed_origins=["https://api.test"])
    assert auth(prepared("https://api.test/a")).headers["Authorization"] == "Bearer tok-123"
    assert "Authorization" not in auth(prepared("https://elsewhere.test/a")).headers
    assert "Authorization" not in auth(prepared("https://api.test:8443/a")).headers


def test_api_key_in_query_and_header() -> None:
    query = APIKeyAuthenticator(
        name="api_key", api_key="k-999", location="query", allowed_origins=["https://api.test"]
    )
    assert "api_key=k-999" in (query(prepared("https://api.test/a?page=2")).url or "")
    assert "k-999" not in (query(prepared("https://other.test/a")).url or "")
    header = APIKeyAuthenticator(
        name="X-Key", api_key="k-999", location="header", allowed_origins=["https://api.test"]
    )
    assert header(prepared("https://api.test/a")).headers["X-Key"] == "k-999"


def test_basic_auth() -> None:
    auth = BasicAuthenticator(username="u", password="p", allowed_origins=["https://api.test"])
    assert auth(prepared("https://api.test/a")).headers["Authorization"] == "Basic dTpw"


def test_first_complete_alternative_wins_and_missing_settings_are_named() -> None:
    alternatives = [
        {"type": "bearer", "token": "${api_key}"},
        {
            "type": "oauth2",
            "client_id": "${client_id}",
            "client_secret": "${client_secret}",
            "token_url": "/oauth2/token",
        },
    ]

    def choose(settings: dict[str, str]) -> APIAuthenticatorBase | None:
        return build_authenticator(
            auth_specs(alternatives),
            settings=settings,
            base_url="https://api.test",
            api_name="commerce",
            origin="test",
        )

    assert isinstance(choose({"api_key": "abcd"}), BearerAuthenticator)
    chosen = choose({"client_id": "a", "client_secret": "b"})
    assert isinstance(chosen, OAuth2Authenticator)
    assert chosen.auth_endpoint == "https://api.test/oauth2/token"
    overridden = choose({"client_id": "a", "client_secret": "b", "token_url": "http://id.test/t"})
    assert isinstance(overridden, OAuth2Authenticator)
    assert overridden.auth_endpoint == "http://id.test/t"
    with pytest.raises(
        ConfigError,
        match="commerce: authentication needs the settings api_key or client_id, client_secret",
    ):
        choose({})
