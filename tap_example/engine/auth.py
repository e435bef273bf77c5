"""Authenticators for every auth type a definition can name, chosen from a registry.

One shared authenticator per tap (as the SDK template does), built from the definition's
``client.auth``: the first alternative whose ``${settings}`` are all set; a resource whose
endpoint has its own ``auth`` gets its own (:class:`AuthRegistry`). The registry
(:data:`AUTHENTICATORS`, :func:`register_authenticator`) maps each auth spec type of
:mod:`tap_example.definition.model` to a factory, as dlt's ``AUTH_MAP`` does; a spec type
without one is an error. Credentials are added only to requests for the API's own host(s);
a next link to another host gets none.
"""

from __future__ import annotations

import base64
import functools
import logging
import random
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
    Definition,
    HTTPBasicAuthSpec,
    OAuth2AuthSpec,
    Resource,
)
from tap_example.definition.placeholders import fill_spec, missing_placeholders
from tap_example.engine.documents import server_message
from tap_example.engine.failures import connection_failure
from tap_example.engine.placement import host_of, without_params, without_values
from tap_example.engine.retry import Renewal, RetryPolicy
from tap_example.engine.tokenstore import StoredToken, TokenStore
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
        if request.url:
            # A credential a server echoed into a link's query string (an API key that belongs
            # in a header, a token) is never sent on in a URL, to any host.
            request.url = without_values(request.url, self.echoed_secrets())
        if request.url and host_of(request.url) not in self.allowed_origins:
            # Another host (say a next link elsewhere) gets no credentials, not even an API
            # key the server echoed into the link's query string.
            for name in ("Authorization", *self.auth_headers):
                request.headers.pop(name, None)
            request.url = without_params(request.url, self.auth_params)
            return request
        return self.add_credentials(request)

    def echoed_secrets(self) -> frozenset[str]:
        """Credential values that must never travel in a URL's query string (an API key whose
        place is the query string is added back, for the API's own host only)."""
        return frozenset()

    def add_credentials(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return super().authenticate_request(request)


class BearerAuthenticator(HostBoundAuthenticator):
    """``Authorization: Bearer <token>``."""

    def __init__(self, *, token: str, allowed_origins: Sequence[str]) -> None:
        super().__init__(allowed_origins=allowed_origins)
        register_secret(token)
        self.auth_headers["Authorization"] = f"Bearer {token}"
        self.token = token

    @override
    def echoed_secrets(self) -> frozenset[str]:
        return frozenset({self.token})


class APIKeyAuthenticator(HostBoundAuthenticator):
    """An API key in a header, in the query string, or in a cookie (``name=<key>`` added to
    the ``Cookie`` header of requests to the API's own host only)."""

    def __init__(
        self, *, name: str, api_key: str, location: str, allowed_origins: Sequence[str]
    ) -> None:
        super().__init__(allowed_origins=allowed_origins)
        register_secret(api_key)
        self.api_key = api_key
        self.cookie = f"{name}={api_key}" if location == "cookie" else None
        register_secret(self.cookie)
        if location == "query":
            self.auth_params[name] = api_key
        elif location != "cookie":
            self.auth_headers[name] = api_key

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.cookie is not None:  # only add_credentials (the API's own host) puts it back
            _remove_cookie(request, self.cookie)
        return super().authenticate_request(request)

    @override
    def add_credentials(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = super().add_credentials(request)
        if self.cookie is not None:
            existing = request.headers.get("Cookie")
            request.headers["Cookie"] = f"{existing}; {self.cookie}" if existing else self.cookie
        return request

    @override
    def echoed_secrets(self) -> frozenset[str]:
        return frozenset({self.api_key})


def _remove_cookie(request: requests.PreparedRequest, cookie: str) -> None:
    """``cookie`` (``name=value``) taken out of the request's ``Cookie`` header."""
    existing = request.headers.get("Cookie")
    if not existing:
        return
    kept = [part for part in (p.strip() for p in existing.split(";")) if part and part != cookie]
    if kept:
        request.headers["Cookie"] = "; ".join(kept)
    else:
        del request.headers["Cookie"]


class BasicAuthenticator(HostBoundAuthenticator):
    """HTTP Basic authentication."""

    def __init__(self, *, username: str, password: str, allowed_origins: Sequence[str]) -> None:
        super().__init__(allowed_origins=allowed_origins)
        register_secret(password)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        register_secret(encoded)
        self.auth_headers["Authorization"] = f"Basic {encoded}"
        self.secrets = frozenset({password, encoded})

    @override
    def echoed_secrets(self) -> frozenset[str]:
        return self.secrets


class TokenEndpoint:
    """Where token requests go: transient failures (the retry policy's token statuses, dropped
    connections, timeouts) are retried as data requests are; the rest end the run in one line."""

    def __init__(
        self, *, api_name: str, url: str, timeout: float, policy: RetryPolicy | None
    ) -> None:
        self.api_name = api_name
        self.url = url
        self.timeout = timeout
        self.policy = policy or RetryPolicy((), max_retries=0, backoff_factor=0.0)
        self.requests = 0

    def post(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> requests.Response:
        """The token endpoint's answer (a refusal too); a network failure that outlasts the
        retries is an :class:`AuthError` naming its kind and host."""

        def send() -> requests.Response:
            self.requests += 1
            return requests.post(
                self.url, data=dict(body), headers=dict(headers), timeout=self.timeout
            )

        policy = self.policy
        try:
            return policy.send_with_retries(
                send, statuses=policy.token_statuses, on_retry=self._on_retry, url=self.url
            )
        except (requests.RequestException, ConnectionResetError) as exc:
            msg = (
                f"{self.api_name}: token request to {mask_url(self.url)} failed: "
                f"{connection_failure(exc, self.url)} (gave up after {policy.max_retries} retries)"
            )
            raise AuthError(msg) from None

    def _on_retry(self, cause: str, wait: float, retry: int) -> None:
        LOGGER.info(
            "%s: token request to %s: %s; retry %d of %d in %.2f s",
            self.api_name,
            mask_url(self.url),
            cause,
            retry,
            self.policy.max_retries,
            wait,
        )

    def refusal(self, response: requests.Response, needs: str) -> AuthError:
        """The one-line error for a token request the endpoint answered with a failure."""
        status = response.status_code
        text = (
            f"{self.api_name}: token request to {mask_url(self.url)} was refused with HTTP "
            f"{status}: {server_message(response)}"
        )
        if status in self.policy.token_statuses:
            return AuthError(f"{text} (gave up after {self.policy.max_retries} retries)")
        return AuthError(f"{text} (check the settings {needs}, and token_url)")


class OAuth2Authenticator(HostBoundAuthenticator, OAuthAuthenticator):
    """OAuth2 client-credentials or refresh-token grant, with token caching and renewal.

    The token is fetched lazily and cached until ``expires_in`` (minus a small margin). A 401
    goes to :meth:`renew`: a token already replaced is not renewed again; the current one is
    renewed once for every worker waiting (single-flight), after a short random pause so that
    two jobs sharing a client on an API that allows one token per client do not revoke each
    other's token before either has used it. A token obtained after a refusal and refused
    before the API accepted it once means the credentials do not work: :attr:`Renewal.REFUSED`.

    A rotated refresh token from the token answer replaces the old one for the rest of the run
    and is kept in the :class:`~tap_example.engine.tokenstore.TokenStore` for the next run.
    """

    #: Seconds (low, high) of the random pause before a token is renewed after a 401.
    renewal_pause: tuple[float, float] = (0.05, 0.25)
    #: Fresh tokens refused in a row before the credentials count as not working: another job
    #: taking the only token its client may hold can revoke a fresh token before its first use,
    #: so one such refusal proves nothing; three in a row (with growing pauses) do.
    fresh_refusals_allowed = 3

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
        retry_policy: RetryPolicy | None = None,
        token_store: TokenStore | None = None,
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
        self.endpoint = TokenEndpoint(
            api_name=api_name, url=token_url, timeout=timeout, policy=retry_policy
        )
        self._lock = threading.Lock()
        self._refreshed_at = 0.0
        self._fresh = False  # the current token was obtained because a request was refused
        self._proven = False  # the API has accepted the current token at least once
        self._fresh_refusals = 0  # fresh tokens refused in a row, none of them ever accepted
        for secret in (client_secret, refresh_token):
            register_secret(secret)
        self.kept = KeptRefreshToken(self, token_store, configured=refresh_token)

    @property
    def token_requests(self) -> int:
        """Requests sent to the token endpoint so far (retries included)."""
        return self.endpoint.requests

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

    def renew(self, rejected_token: str | None) -> Renewal:
        """A request carrying ``rejected_token`` was answered 401: what to do about it."""
        with self._lock:
            current = self.access_token
            if current is not None and rejected_token not in (None, current):
                return Renewal.REPLACED
            if current is not None and self._fresh and not self._proven:
                self._fresh_refusals += 1
                if self._fresh_refusals >= self.fresh_refusals_allowed:
                    return Renewal.REFUSED
            low, high = self.renewal_pause
            pause = random.uniform(low, high) * (1 + self._fresh_refusals)  # noqa: S311 - jitter
            time.sleep(pause)
            self._obtain(after_refusal=True)
            return Renewal.RENEWED

    @override
    def echoed_secrets(self) -> frozenset[str]:
        values = (self.access_token, self.refresh_token, self.client_secret)
        return frozenset(value for value in values if value)

    def accepted(self, token: str | None) -> None:
        """The API answered a request carrying ``token`` without refusing it."""
        if not self._proven and token is not None and token == self.access_token:
            self._proven = True
            self._fresh_refusals = 0

    @override
    def add_credentials(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if not self.is_token_valid():
                self._obtain(after_refusal=False)
            request.headers["Authorization"] = f"Bearer {self.access_token}"
        return request

    @override
    def update_access_token(self) -> None:
        """Request a token; a refusal ends the run with one line naming what to check."""
        self._obtain(after_refusal=False)

    def _obtain(self, *, after_refusal: bool) -> None:
        response = self.endpoint.post(self.oauth_request_body, self._token_headers())
        if response.status_code >= 400 and self.kept.fall_back(response):
            response = self.endpoint.post(self.oauth_request_body, self._token_headers())
        if response.status_code >= 400:
            needs = "client_id, client_secret" + (", refresh_token" if self.refresh_token else "")
            raise self.endpoint.refusal(response, needs)
        try:
            answer = response.json()
            token = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            msg = f"{self.api_name}: token endpoint {mask_url(self.endpoint.url)} answered without an access_token"
            raise AuthError(msg) from None
        register_secret(token)
        self.access_token = token
        self._fresh, self._proven = after_refusal, False
        expires = answer.get("expires_in", self.default_token_expiration)
        self.expires_in = int(expires) if expires else None
        self.last_refreshed = datetime.now(timezone.utc)
        self._refreshed_at = time.monotonic()
        rotated = answer.get("refresh_token")
        if self.refresh_token and isinstance(rotated, str) and rotated != self.refresh_token:
            register_secret(rotated)
            self.refresh_token = rotated
            self.kept.rotated(rotated)
        LOGGER.info(
            "%s: obtained an access token (expires in %s s)", self.api_name, self.expires_in
        )

    def _token_headers(self) -> dict[str, str]:
        if self.client_auth != "basic":
            return {}
        pair = f"{self.client_id}:{self.client_secret or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


class KeptRefreshToken:
    """The authenticator's refresh token across runs: taken from the token store when an earlier
    run kept a rotated one, written back whenever the token endpoint rotates it."""

    def __init__(
        self, auth: OAuth2Authenticator, store: TokenStore | None, *, configured: str | None
    ) -> None:
        self.auth = auth
        self.store = store if configured else None  # only the refresh-token grant rotates
        self.configured = configured
        self.using_stored: StoredToken | None = None
        if self.store is None:
            return
        stored = self.store.load(auth.endpoint.url, str(auth.client_id), configured)
        if stored is not None:
            register_secret(stored.refresh_token)
            auth.refresh_token = stored.refresh_token
            self.using_stored = stored
            LOGGER.info(
                "%s: using the refresh token an earlier run kept in %s (saved %s), not the "
                "configured one, which the API has rotated since",
                auth.api_name,
                stored.path,
                stored.saved_at,
            )

    def rotated(self, token: str) -> None:
        """The token endpoint rotated the refresh token: keep the new one for the next run."""
        auth = self.auth
        if self.store is None:
            LOGGER.info(
                "%s: the token endpoint rotated the refresh token; using the new one for the "
                "rest of this run (token_store_dir is off: the next run needs a new one)",
                auth.api_name,
            )
            return
        try:
            path = self.store.save(
                auth.endpoint.url, str(auth.client_id), token, replaces=self.configured
            )
        except OSError as exc:
            LOGGER.warning(
                "%s: the token endpoint rotated the refresh token, but it could not be kept in "
                "%s (%s); the next run will need a new refresh_token",
                auth.api_name,
                self.store.directory,
                exc.strerror or type(exc).__name__,
            )
            return
        self.using_stored = None
        LOGGER.info(
            "%s: the token endpoint rotated the refresh token; using the new one and keeping it "
            "in %s for the next run",
            auth.api_name,
            path,
        )

    def fall_back(self, response: requests.Response) -> bool:
        """The kept token was refused: try the configured one once (``True``: try again)."""
        stored, auth = self.using_stored, self.auth
        if stored is None or response.status_code not in (400, 401) or not self.configured:
            return False
        self.using_stored = None
        auth.refresh_token = self.configured
        LOGGER.warning(
            "%s: the token endpoint refused the refresh token kept in %s; trying the "
            "configured refresh_token",
            auth.api_name,
            stored.path,
        )
        return True


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class AuthContext:
    """What building an authenticator needs besides its spec."""

    settings: Mapping[str, Any]
    base_url: str
    api_name: str
    timeout: float = 60
    #: How token requests are retried (the data requests' policy); ``None``: not retried.
    retry_policy: RetryPolicy | None = None
    #: Where rotated refresh tokens are kept between runs; ``None``: nowhere.
    token_store: TokenStore | None = None

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
        retry_policy=ctx.retry_policy,
        token_store=ctx.token_store,
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
    retry_policy: RetryPolicy | None = None,
    token_store: TokenStore | None = None,
    key: str = "client.auth",
) -> APIAuthenticatorBase | None:
    """Build the authenticator of the first alternative whose settings are all set (``key``:
    where the alternatives are, for messages)."""
    if not alternatives:
        return None
    missing_by_alternative: list[list[str]] = []
    for index, raw in enumerate(alternatives):
        missing = missing_placeholders(raw, settings)
        if missing:
            missing_by_alternative.append(missing)
            continue
        where = f"{key}[{index}]" if len(alternatives) > 1 else key
        spec = fill_spec(raw, settings, where, origin)
        factory = AUTHENTICATORS.get(type(spec))
        if factory is None:
            msg = f"{origin}: {where}: no authenticator is registered for auth type {spec.kind!r}"
            raise ConfigError(msg)
        context = AuthContext(
            settings=settings,
            base_url=base_url,
            api_name=api_name,
            timeout=timeout,
            retry_policy=retry_policy,
            token_store=token_store,
        )
        return factory(spec, context)
    options = " or ".join(", ".join(m) for m in missing_by_alternative)
    which = "" if key == "client.auth" else f" ({key})"
    msg = f"{api_name}: authentication{which} needs the settings {options}"
    raise ConfigError(msg)


class AuthRegistry:
    """The run's authenticators: the client's (``client.auth``), and each endpoint's own
    ``auth`` (dlt's per-endpoint override), built at first use. Resources whose ``auth`` is the
    same share one authenticator (one token, renewed once for all of them); every one of them
    adds credentials only to requests for the API's own host."""

    def __init__(
        self,
        definition: Definition,
        *,
        settings: Mapping[str, Any],
        base_url: str,
        timeout: float = 60,
        retry_policy: RetryPolicy | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        self.definition = definition
        self._build = functools.partial(
            build_authenticator,
            settings=settings,
            base_url=base_url,
            api_name=definition.name,
            origin=definition.origin,
            timeout=timeout,
            retry_policy=retry_policy,
            token_store=token_store,
        )
        self._lock = threading.Lock()
        self._client: list[APIAuthenticatorBase | None] = []
        self._endpoints: list[tuple[tuple[AuthSpec, ...], APIAuthenticatorBase | None]] = []

    @property
    def client(self) -> APIAuthenticatorBase | None:
        """The authenticator of ``client.auth`` (``None`` without one)."""
        with self._lock:
            if not self._client:
                self._client.append(self._build(self.definition.auth))
            return self._client[0]

    def for_resource(self, resource: Resource) -> APIAuthenticatorBase | None:
        """The authenticator for ``resource``: its endpoint's own ``auth`` when it has one
        (``auth: null``: none), else the client's."""
        if resource.auth is None or resource.auth == self.definition.auth:
            return self.client
        with self._lock:
            for specs, built in self._endpoints:
                if specs == resource.auth:
                    return built
            key = f"resources ({resource.name}).endpoint.auth"
            built = self._build(resource.auth, key=key) if resource.auth else None
            self._endpoints.append((resource.auth, built))
            return built
