"""Authenticators for every auth type a definition can name, chosen from a registry.

One shared authenticator per tap (as the SDK template does), built from the definition's
``client.auth``: the first alternative whose ``${settings}`` are all set. The registry
(:data:`AUTHENTICATORS`, :func:`register_authenticator`) maps each auth spec type of
:mod:`tap_example.definition.model` to a factory, as dlt's ``AUTH_MAP`` does; a spec type
without one is an error. Credentials are added only to requests for the API's own host(s);
a next link to another host gets none.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urljoin

import requests
from singer_sdk.authenticators import APIAuthenticatorBase, OAuthAuthenticator
from typing_extensions import override

from tap_example.definition.model import (
    APIKeyAuthSpec,
    AuthSpec,
    BearerAuthSpec,
    HTTPBasicAuthSpec,
    OAuth2AuthSpec,
)
from tap_example.definition.placeholders import fill_spec, missing_placeholders
from tap_example.engine.documents import server_message
from tap_example.engine.placement import host_of, without_params
from tap_example.errors import AuthError, ConfigError, mask_url
from tap_example.redact import register_secret

LOGGER = logging.getLogger("tap-example")


class HostBoundAuthenticator(APIAuthenticatorBase):
    """Adds credentials only to requests whose origin is one of ``allowed_origins``."""

    def __init__(self, *, allowed_origins: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed_origins = frozenset(o.lower() for o in allowed_origins)

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.url and host_of(request.url) not in self.allowed_origins:
            # Another host (say a next link elsewhere) gets no credentials, not even an API
            # key the server echoed into the link's query string.
            for name in ("Authorization", *self.auth_headers):
                request.headers.pop(name, None)
            request.url = without_params(request.url, self.auth_params)
            return request
        return self.add_credentials(request)

    def add_credentials(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return super().authenticate_request(request)


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
        self.default_token_expiration = default_expiration
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
    @override
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

    @override
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

    @override
    def add_credentials(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if not self.is_token_valid():
                self.update_access_token()
            request.headers["Authorization"] = f"Bearer {self.access_token}"
        return request

    @override
    def update_access_token(self) -> None:
        """Request a token; a refusal ends the run with one line naming what to check."""
        headers: dict[str, str] = {}
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
        expires = answer.get("expires_in", self.default_token_expiration)
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


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class AuthContext:
    """What building an authenticator needs besides its spec."""

    settings: Mapping[str, Any]
    base_url: str
    api_name: str
    timeout: float = 60

    @property
    def origins(self) -> list[str]:
        return [host_of(self.base_url)]


SpecT = TypeVar("SpecT", bound=AuthSpec)
AuthFactory = Callable[[Any, AuthContext], APIAuthenticatorBase]

#: Authenticator factories by auth spec type.
AUTHENTICATORS: dict[type[AuthSpec], AuthFactory] = {}


def register_authenticator(
    spec_type: type[SpecT], factory: Callable[[SpecT, AuthContext], APIAuthenticatorBase]
) -> None:
    """Make ``factory`` build the authenticator of ``spec_type`` (dlt's ``register_auth``)."""
    AUTHENTICATORS[spec_type] = factory


def _bearer(spec: BearerAuthSpec, ctx: AuthContext) -> APIAuthenticatorBase:
    return BearerAuthenticator(token=str(spec.token), allowed_origins=ctx.origins)


def _api_key(spec: APIKeyAuthSpec, ctx: AuthContext) -> APIAuthenticatorBase:
    return APIKeyAuthenticator(
        name=spec.name,
        api_key=str(spec.api_key),
        location=spec.location,
        allowed_origins=ctx.origins,
    )


def _http_basic(spec: HTTPBasicAuthSpec, ctx: AuthContext) -> APIAuthenticatorBase:
    return BasicAuthenticator(
        username=str(spec.username), password=str(spec.password), allowed_origins=ctx.origins
    )


def _oauth2(spec: OAuth2AuthSpec, ctx: AuthContext) -> APIAuthenticatorBase:
    scopes = spec.scopes
    return OAuth2Authenticator(
        api_name=ctx.api_name,
        token_url=_token_url(spec, ctx),
        client_id=str(spec.client_id),
        client_secret=spec.client_secret,
        refresh_token=spec.refresh_token or None,
        scopes=" ".join(scopes) if isinstance(scopes, tuple) else scopes,
        client_auth=spec.client_auth,
        default_expiration=spec.default_token_expiration,
        extra_request_data=spec.access_token_request_data,
        timeout=ctx.timeout,
        allowed_origins=ctx.origins,
    )


def _token_url(spec: OAuth2AuthSpec, ctx: AuthContext) -> str:
    if ctx.settings.get("token_url"):
        return str(ctx.settings["token_url"])
    url = str(spec.token_url or spec.access_token_url or "/token")
    if url.startswith("/"):
        return ctx.base_url.rstrip("/") + url
    return urljoin(ctx.base_url.rstrip("/") + "/", url)


register_authenticator(BearerAuthSpec, _bearer)
register_authenticator(APIKeyAuthSpec, _api_key)
register_authenticator(HTTPBasicAuthSpec, _http_basic)
register_authenticator(OAuth2AuthSpec, _oauth2)


def build_authenticator(
    alternatives: Sequence[AuthSpec],
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
        spec = fill_spec(raw, settings, where, origin)
        factory = AUTHENTICATORS.get(type(spec))
        if factory is None:
            msg = f"{origin}: {where}: no authenticator is registered for auth type {spec.kind!r}"
            raise ConfigError(msg)
        context = AuthContext(
            settings=settings, base_url=base_url, api_name=api_name, timeout=timeout
        )
        return factory(spec, context)
    options = " or ".join(", ".join(m) for m in missing_by_alternative)
    msg = f"{api_name}: authentication needs the settings {options}"
    raise ConfigError(msg)
