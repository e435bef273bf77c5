"""Credentials, token endpoints and bearer checks, per the auth style of each fake API."""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from .wire import Request, Response

AuthKind = Literal["client_credentials", "refresh_token", "api_key"]


@dataclass(frozen=True)
class AuthScheme:
    """How one API authenticates (apis.md, "Auth")."""

    kind: AuthKind
    grant_path: str | None = None  # None: no token endpoint
    expires_in: int = 3600
    separate_token_host: bool = False  # the token endpoint listens on its own port
    accepts_api_key: bool = False  # a static API key works as a bearer token too
    requires_account_id: bool = False


def demo_credentials(api: str, scheme: AuthScheme) -> dict[str, str]:
    """Fixed, obviously fake credentials the sandbox accepts."""
    if scheme.kind == "api_key":
        return {"api_key": f"sandbox-{api}-key"}
    credentials = {"client_id": f"sandbox-{api}-client", "client_secret": f"sandbox-{api}-secret"}
    if scheme.kind == "refresh_token":
        credentials["refresh_token"] = f"sandbox-{api}-refresh-0"
        credentials["account_id"] = "100200"
    return credentials


@dataclass
class _Token:
    expires_at: float  # time.monotonic()
    uses: int = 0


def _unauthorized(message: str, error: str = "invalid_token") -> Response:
    return Response.error(
        401, message, {"WWW-Authenticate": f'Bearer error="{error}"'}, error=error
    )


class TokenAuthority:
    """Issues access tokens and decides whether an API request is authorized.

    Tokens are random (not seeded): they are not data, and guessing them must not work.
    """

    def __init__(
        self,
        api: str,
        scheme: AuthScheme,
        *,
        token_ttl: int | None,
        token_max_uses: int | None,
        rotate_refresh_token: bool,
        token_lifetime: float | None = None,
        one_token_per_client: bool = False,
    ) -> None:
        self.scheme = scheme
        self.credentials = demo_credentials(api, scheme)
        self.api_key = (
            f"sandbox-{api}-key" if scheme.kind == "api_key" or scheme.accepts_api_key else None
        )
        self._api = api
        self._ttl = scheme.expires_in if token_ttl is None else token_ttl
        self._max_uses = token_max_uses
        self._rotate = rotate_refresh_token
        #: Seconds a token really works, whatever ``expires_in`` says (revoked early).
        self._lifetime = token_lifetime
        #: A new token revokes every earlier one (one token per client, as some APIs do).
        self._one_per_client = one_token_per_client
        self._tokens: dict[str, _Token] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self.tokens_issued = 0
        self.issued: list[str] = []  # every access and refresh token handed out, for leak tests

    @property
    def refresh_token(self) -> str | None:
        """The refresh token that currently works (it changes when rotated)."""
        return self.credentials.get("refresh_token")

    def grant(self, request: Request) -> Response:
        """Answer a token request: client credentials, or a refresh-token grant (crm)."""
        if request.method != "POST":
            return Response.error(405, "use POST for the token endpoint", {"Allow": "POST"})
        form = request.form()
        expected_grant = self.scheme.kind
        if form.get("grant_type") != expected_grant:
            return Response.error(
                400,
                f"grant_type must be {expected_grant!r}, got {form.get('grant_type')!r}",
                error="unsupported_grant_type",
            )
        client_id, client_secret = _client_credentials(request, form)
        if (client_id, client_secret) != (
            self.credentials["client_id"],
            self.credentials["client_secret"],
        ):
            return _unauthorized("bad client credentials", "invalid_client")
        with self._lock:
            answer: dict[str, object] = {"token_type": "bearer", "expires_in": self._ttl}
            if expected_grant == "refresh_token":
                if form.get("refresh_token") != self.credentials["refresh_token"]:
                    return _unauthorized(
                        "unknown, revoked or rotated refresh token", "invalid_grant"
                    )
                if self._rotate:
                    self.credentials["refresh_token"] = self._new_secret("refresh")
                answer["refresh_token"] = self.credentials["refresh_token"]
            token = self._new_secret("access")
            if self._one_per_client:
                self._tokens.clear()
            life = self._ttl if self._lifetime is None else self._lifetime
            self._tokens[token] = _Token(expires_at=time.monotonic() + life)
            self.tokens_issued += 1
        return Response.json(200, {"access_token": token, **answer}, {"Cache-Control": "no-store"})

    def authorize(self, request: Request) -> Response | None:
        """None when the request may proceed, else the 401/403 answer."""
        token = _bearer(request)
        if token is None:
            return _unauthorized("missing bearer token in the Authorization header")
        if not (self.api_key is not None and token == self.api_key) and not self._use(token):
            if self.scheme.kind == "api_key":
                return _unauthorized("invalid API key")
            return _unauthorized("invalid or expired access token")
        if self.scheme.requires_account_id and request.header("Account-Id") != self.credentials.get(
            "account_id"
        ):
            return Response.error(403, "missing or wrong Account-Id header")
        return None

    def revoke(self, request: Request) -> None:
        """Forget the request's access token (an injected 401 means it expired early)."""
        token = _bearer(request)
        if token is not None:
            with self._lock:
                self._tokens.pop(token, None)

    def revoke_all(self) -> None:
        """Forget every access token issued so far (as a server restart does)."""
        with self._lock:
            self._tokens.clear()

    def _use(self, token: str) -> bool:
        with self._lock:
            state = self._tokens.get(token)
            if state is None:
                return False
            spent = self._max_uses is not None and state.uses >= self._max_uses
            if spent or time.monotonic() >= state.expires_at:
                del self._tokens[token]
                return False
            state.uses += 1
            return True

    def _new_secret(self, purpose: str) -> str:
        secret = f"{self._api}-{purpose}-{next(self._serial)}-{secrets.token_urlsafe(12)}"
        self.issued.append(secret)
        return secret


def _bearer(request: Request) -> str | None:
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic, or else from the form fields (both are allowed)."""
    scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")
