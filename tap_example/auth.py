"""Authenticators for the auth types a definition can name, and the choice among alternatives.

One shared authenticator per tap (as the SDK template does), chosen from the definition's
``client.auth``: the first alternative whose ``${settings}`` are all set. Credentials are added
only to requests for the API's own host(s); a next link to another host gets none.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from singer_sdk.authenticators import APIAuthenticatorBase, OAuthAuthenticator

from tap_example.definition import fill_placeholders, missing_placeholders
from tap_example.errors import ConfigError, TapExampleError, mask_url
from tap_example.pagination import host_of
from tap_example.redact import register_secret

LOGGER = logging.getLogger("tap-example")


class AuthError(TapExampleError):
    """Credentials were refused; the message says which API, which status and what to check."""


def server_message(response: requests.Response, limit: int = 200) -> str:
    """The human-readable part of an error body (``message``/``error``), else its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:limit]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:limit]
    text = " ".join(response.text.split())
    return text[:limit] or (response.reason or "")


class HostBoundAuthenticator(APIAuthenticatorBase):
    """Adds credentials only to requests whose origin is one of ``allowed_origins``."""

    def __init__(self, *, allowed_origins: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed_origins = frozenset(o.lower() for o in allowed_origins)

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.url and host_of(request.url) not in self.allowed_origins:
            # Another host (say a next link elsewhere) gets no credentials, not even an API
            # key the server echoed into the link's query string.
            for name in ("Authorization", *self.auth_headers):
                request.headers.pop(name, None)
            request.url = _without_params(request.url, self.auth_params)
            return request
        return self._authenticate(request)

    def _authenticate(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return super().authenticate_request(request)


def _without_params(url: str, names: Mapping[str, Any]) -> str:
    """``url`` without the query parameters called ``names``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if name not in names]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


class BearerAuthenticator(HostBoundAuthenticator):
    """``Authorization: Bearer <token>``."""

    def __init__(self, *, token: str, allowed_origins: Sequence[str]) -> None:
        super().__init__(allowed_origins=allowed_origins)
        register_secret(token)
        self.auth_headers["Authorization"] = f"Bearer {token}"


class APIKeyAuthenticator(HostBoundAuthenticator):
    """An API key in a header or in the query string."""

    def __init__(
        self, *, name: str, api_key: str, location: str, allowed_origins: Sequence[str]
    ) -> None:
        super().__init__(allowed_origins=allowed_origins)
        register_secret(api_key)
        if location == "query":
            self.auth_params[name] = api_key
        else:
            self.auth_headers[name] = api_key


class BasicAuthenticator(HostBoundAuthenticator):
    """HTTP Basic authentication."""

    def __init__(self, *, username: str, password: str, allowed_origins: Sequence[str]) -> None:
        super().__init__(allowed_origins=allowed_origins)
        register_secret(password)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        register_secret(encoded)
        self.auth_headers["Authorization"] = f"Basic {encoded}"


class OAuth2Authenticator(HostBoundAuthenticator, OAuthAuthenticator):
    """OAuth2 client-credentials or refresh-token grant, with token caching and renewal.

    The token is fetched lazily, cached until ``expires_in`` (minus a small margin), renewed
    when the API answers 401 (:meth:`invalidate`), and a rotated refresh token from the token
    answer replaces the old one for every later refresh in the run.
    """

    def __init__(
        self,
        *,
        api_name: str,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        refresh_token: str | None = None,
        scopes: str | None = None,
        client_auth: str = "body",
        default_expiration: int | None = None,
        extra_request_data: Mapping[str, Any] | None = None,
        timeout: float = 60,
        allowed_origins: Sequence[str],
    ) -> None:
        super().__init__(
            allowed_origins=allowed_origins,
            auth_endpoint=token_url,
            oauth_scopes=scopes,
            default_expiration=default_expiration,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.api_name = api_name
        self.refresh_token = refresh_token
        self.client_auth = client_auth
        self.extra_request_data = dict(extra_request_data or {})
        self.timeout = timeout
        self.token_requests = 0
        self._lock = threading.Lock()
        self._refreshed_at = 0.0
        for secret in (client_secret, refresh_token):
            register_secret(secret)

    @property
    def grant_type(self) -> str:
        return "refresh_token" if self.refresh_token else "client_credentials"

    @property
    def oauth_request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"grant_type": self.grant_type, **self.extra_request_data}
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.client_auth == "body":
            body["client_id"] = self.client_id
            if self.client_secret:
                body["client_secret"] = self.client_secret
        if self.oauth_scopes:
            body["scope"] = self.oauth_scopes
        return body

    def is_token_valid(self) -> bool:
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        margin = min(30.0, self.expires_in / 10)
        return time.monotonic() - self._refreshed_at < self.expires_in - margin

    def invalidate(self, rejected_token: str | None = None) -> None:
        """Forget the access token (the API refused it) so the next request gets a new one."""
        with self._lock:
            if rejected_token is None or rejected_token == self.access_token:
                self.access_token = None
                self.last_refreshed = None

    def _authenticate(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if not self.is_token_valid():
                self.update_access_token()
            request.headers["Authorization"] = f"Bearer {self.access_token}"
        return request

    def update_access_token(self) -> None:
        """Request a token; a refusal ends the run with one line naming what to check."""
        headers = dict(self._oauth_headers)
        if self.client_auth == "basic":
            pair = f"{self.client_id}:{self.client_secret or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self.token_requests += 1
        try:
            response = requests.post(
                self.auth_endpoint,
                data=self.oauth_request_body,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            msg = f"{self.api_name}: token request to {mask_url(self.auth_endpoint)} failed: {type(exc).__name__}"
            raise AuthError(msg) from None
        if response.status_code >= 400:
            needs = "client_id, client_secret" + (", refresh_token" if self.refresh_token else "")
            msg = (
                f"{self.api_name}: token request to {mask_url(self.auth_endpoint)} was refused with HTTP "
                f"{response.status_code}: {server_message(response)} (check the settings {needs}, and token_url)"
            )
            raise AuthError(msg)
        try:
            answer = response.json()
            token = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            msg = f"{self.api_name}: token endpoint {mask_url(self.auth_endpoint)} answered without an access_token"
            raise AuthError(msg) from None
        register_secret(token)
        self.access_token = token
        expires = answer.get("expires_in", self._default_expiration)
        self.expires_in = int(expires) if expires else None
        self.last_refreshed = datetime.now(timezone.utc)
        self._refreshed_at = time.monotonic()
        rotated = answer.get("refresh_token")
        if self.refresh_token and rotated and rotated != self.refresh_token:
            register_secret(rotated)
            self.refresh_token = rotated
            LOGGER.info(
                "%s: the token endpoint rotated the refresh token; using the new one from now on",
                self.api_name,
            )
        LOGGER.info(
            "%s: obtained an access token (expires in %s s)", self.api_name, self.expires_in
        )


# --------------------------------------------------------------------------- choosing


def _token_url(spec: Mapping[str, Any], settings: Mapping[str, Any], base_url: str) -> str:
    if settings.get("token_url"):
        return str(settings["token_url"])
    url = str(spec.get("token_url") or spec.get("access_token_url") or "/token")
    if url.startswith("/"):
        return base_url.rstrip("/") + url
    return urljoin(base_url.rstrip("/") + "/", url)


def build_authenticator(
    alternatives: Sequence[Mapping[str, Any]],
    *,
    settings: Mapping[str, Any],
    base_url: str,
    api_name: str,
    origin: str,
    timeout: float = 60,
) -> APIAuthenticatorBase | None:
    """Build the authenticator of the first alternative whose settings are all set."""
    if not alternatives:
        return None
    missing_by_alternative: list[list[str]] = []
    for index, raw in enumerate(alternatives):
        missing = missing_placeholders(raw, settings)
        if missing:
            missing_by_alternative.append(missing)
            continue
        where = f"client.auth[{index}]" if len(alternatives) > 1 else "client.auth"
        spec = fill_placeholders(raw, settings, where, origin)
        return _make(spec, settings=settings, base_url=base_url, api_name=api_name, timeout=timeout)
    options = " or ".join(", ".join(m) for m in missing_by_alternative)
    msg = f"{api_name}: authentication needs the settings {options}"
    raise ConfigError(msg)


def _make(
    spec: Mapping[str, Any],
    *,
    settings: Mapping[str, Any],
    base_url: str,
    api_name: str,
    timeout: float,
) -> APIAuthenticatorBase:
    origins = [host_of(base_url)]
    kind = spec["type"]
    if kind == "bearer":
        return BearerAuthenticator(token=str(spec["token"]), allowed_origins=origins)
    if kind == "api_key":
        return APIKeyAuthenticator(
            name=spec.get("name", "Authorization"),
            api_key=str(spec["api_key"]),
            location=spec.get("location", "header"),
            allowed_origins=origins,
        )
    if kind == "http_basic":
        return BasicAuthenticator(
            username=str(spec["username"]), password=str(spec["password"]), allowed_origins=origins
        )
    scopes = spec.get("scopes")
    return OAuth2Authenticator(
        api_name=api_name,
        token_url=_token_url(spec, settings, base_url),
        client_id=str(spec["client_id"]),
        client_secret=spec.get("client_secret"),
        refresh_token=spec.get("refresh_token") or None,
        scopes=" ".join(scopes) if isinstance(scopes, list) else scopes,
        client_auth=spec.get("client_auth", "body"),
        default_expiration=spec.get("default_token_expiration"),
        extra_request_data=spec.get("access_token_request_data"),
        timeout=timeout,
        allowed_origins=origins,
    )
