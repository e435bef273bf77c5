"""SandboxServer: one fake API on a local port, with its token endpoint, faults and counters."""

from __future__ import annotations

import collections
import copy
import threading
import time
from dataclasses import replace
from types import TracebackType
from typing import Any

from .apis import API_NAMES, EXTRA_API_NAMES, FAKE_APIS
from .apis.base import FakeApi, Record, Route
from .auth import TokenAuthority, demo_credentials
from .faults import FaultPlan, RateLimit
from .wire import ApiError, Request, Response, SandboxHTTPServer

#: Values of ``SandboxServer(broken_paging=...)``.
BROKEN_PAGING = frozenset({None, "repeat", "cycle"})


class _Stats:
    """Request counters, so tests can assert how the tap talked to the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.token_requests = 0
        self.by_path: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[int] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()

    def count(self, request: Request, response: Response, *, token: bool) -> None:
        with self._lock:
            if token:
                self.token_requests += 1
            else:
                self.requests += 1
            self.by_path[request.path] += 1
            self.by_status[response.status] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self, tokens_issued: int) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "token_requests": self.token_requests,
                "by_path": dict(self.by_path),
                "by_status": dict(self.by_status),
                "faults": dict(self.faults),
                "tokens_issued": tokens_issued,
            }


class SandboxServer:
    """A deterministic local fake of one of the five APIs in the wire contract.

    Data is generated once from `seed` and `sizes`; `mutate()` changes it the way a live API
    would between syncs; `inject()` and `fault_rate` make requests fail on purpose;
    `broken_paging` and `link_origin` make paging misbehave (see `_misbehave`).

    Tokens: `token_lifetime` ends them sooner than the `expires_in` they state; with
    `one_token_per_client` a new token revokes the earlier ones; `revoke_tokens()` is a restart;
    `inject_token()` makes the token endpoint fail. `rate_limit`: 429 beyond N requests/s.
    """

    def __init__(
        self,
        api: str = "payments",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        sizes: dict[str, int] | None = None,
        token_ttl: int | None = None,
        token_max_uses: int | None = None,
        rotate_refresh_token: bool = True,
        latency: float = 0.0,
        child_latency: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = ("429", "500", "502", "503", "504"),
        default_page_size: int | None = None,
        broken_paging: str | None = None,
        link_origin: str | None = None,
        token_lifetime: float | None = None,
        one_token_per_client: bool = False,
        rate_limit: int | None = None,
    ) -> None:
        if api not in FAKE_APIS:
            raise ValueError(
                f"unknown api {api!r}; expected one of {', '.join(API_NAMES + EXTRA_API_NAMES)}"
            )
        if default_page_size is not None and default_page_size < 1:
            raise ValueError("default_page_size must be >= 1")
        if broken_paging not in BROKEN_PAGING:
            raise ValueError("broken_paging must be 'repeat', 'cycle' or None")
        self.api = api
        self._fake = FAKE_APIS[api](seed=seed, sizes=sizes, page_size=default_page_size)
        self._scheme = self._fake.auth
        self._authority = TokenAuthority(
            api,
            self._scheme,
            token_ttl=token_ttl,
            token_max_uses=token_max_uses,
            rotate_refresh_token=rotate_refresh_token,
            token_lifetime=token_lifetime,
            one_token_per_client=one_token_per_client,
        )
        self._faults = FaultPlan(seed, fault_rate, fault_kinds)
        self._token_faults = FaultPlan(seed, 0.0, ())
        self._rate_limit = RateLimit(rate_limit) if rate_limit is not None else None
        self._routes = self._fake.routes()
        self._stats = _Stats()
        self._host = host
        self._port = port
        self._latency = latency
        self._child_latency = child_latency
        self._broken_paging = broken_paging
        self._link_origin = link_origin
        self._answered: dict[str, list[Response]] = {}  # broken_paging: first answers
        self._answer_count: collections.Counter[str] = collections.Counter()
        self._answered_lock = threading.Lock()
        self._listeners: list[SandboxHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._listeners:
            return self
        self._listeners.append(SandboxHTTPServer((self._host, self._port), self._serve_api_host))
        if self._scheme.separate_token_host or self._fake.foreign_host:
            self._listeners.append(SandboxHTTPServer((self._host, 0), self._serve_token_host))
        if self._fake.foreign_host:
            self._fake.foreign_origin = self._url_of(1)
        for listener in self._listeners:
            thread = threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-{self.api}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for listener in self._listeners:
            listener.shutdown()
            listener.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listeners.clear()
        self._threads.clear()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and credentials -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._url_of(0)

    @property
    def token_url(self) -> str | None:
        path = self._scheme.grant_path
        if path is None:
            return None
        return f"{self._url_of(1 if self._scheme.separate_token_host else 0)}{path}"

    @property
    def credentials(self) -> dict[str, str]:
        """The demo credentials; for crm, with the refresh token that works right now."""
        return dict(self._authority.credentials)

    @property
    def api_key(self) -> str | None:
        """A static API key accepted as bearer token (billing; commerce as an OAuth alternative)."""
        return self._authority.api_key

    @property
    def issued_secrets(self) -> list[str]:
        """Every credential the tap must never print: demo secrets and all tokens issued."""
        secret_names = ("client_secret", "refresh_token", "api_key")
        demo = demo_credentials(self.api, self._scheme)
        static = [self._authority.api_key, *(demo.get(name) for name in secret_names)]
        return [s for s in static if s] + list(self._authority.issued)

    def tap_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"api": self.api, "base_url": self.base_url}
        if self.token_url is not None:
            config["token_url"] = self.token_url
        return self._fake.tap_config({**config, **self.credentials})

    @property
    def fake_api(self) -> FakeApi:
        """The fake API itself, for API-specific checks (e.g. lab's ``foreign_requests``)."""
        return self._fake

    # -- data --------------------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        return list(self._fake.streams)

    def records(self, stream: str) -> list[Record]:
        return self._fake.records(stream)

    def mutate(self, count: int = 3) -> dict[str, list[Any]]:
        return self._fake.mutate(count)

    def inject(self, *faults: str | int) -> None:
        self._faults.inject(*faults)

    def inject_token(self, *faults: str | int) -> None:
        """Faults for the next requests to the token endpoint (the same kinds as ``inject``)."""
        self._token_faults.inject(*faults)

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working, as after a server restart."""
        self._authority.revoke_all()

    @property
    def stats(self) -> dict[str, Any]:
        return copy.deepcopy(self._stats.snapshot(self._authority.tokens_issued))

    # -- request handling --------------------------------------------------------------------

    def _url_of(self, listener: int) -> str:
        if not self._listeners:
            raise RuntimeError("the sandbox is not running: call start() first")
        host, port = self._listeners[listener].socket.getsockname()[:2]
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - only mapping a wildcard to loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def _grant(self, request: Request) -> Response:
        """The token endpoint: an injected fault, else the authority's answer."""
        return self._token_faults.serve(request, self._authority.grant, self._stats.count_fault)

    def _serve_token_host(self, request: Request) -> Response:
        if self._scheme.separate_token_host and request.path == self._scheme.grant_path:
            response = self._grant(request)
        elif self._fake.foreign_host:
            response = self._fake.serve_foreign(request)
            self._stats.count(request, response, token=False)
            return response
        else:
            response = Response.error(404, f"no such path on the token host: {request.path}")
        self._stats.count(request, response, token=True)
        return response

    def _serve_api_host(self, request: Request) -> Response:
        if not self._scheme.separate_token_host and request.path == self._scheme.grant_path:
            response = self._grant(request)
            self._stats.count(request, response, token=True)
            return response
        response = self._serve_api(request)
        self._stats.count(request, response, token=False)
        return response

    def _serve_api(self, request: Request) -> Response:
        """The rate limit (counted on arrival), latency, then an injected or random fault, then
        auth, then the endpoint itself."""
        refused = self._rate_limit.refuse() if self._rate_limit is not None else None
        if refused is not None:
            return refused
        found = self._match(request)
        is_child = isinstance(found, tuple) and found[0].child
        delay = self._latency + (self._child_latency if is_child else 0.0)
        if delay:
            time.sleep(delay)
        fault = self._faults.next()
        if fault is not None and fault.kind == "pass":
            fault = None
        if fault is not None:
            self._stats.count_fault(fault.kind)
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            forced = fault.response(request)
            if forced is not None:
                if fault.kind == "401":
                    self._authority.revoke(request)
                return forced
        response = self._fake.authorize(request, self._authority) or self._answer(request, found)
        response = self._misbehave(request, response)
        if fault is not None:
            response = fault.mangle(response)
        if fault is not None and fault.delivery != "normal":
            response = replace(response, delivery=fault.delivery)
        return response

    def _misbehave(self, request: Request, response: Response) -> Response:
        """Paging that never ends (``broken_paging``) and links to a foreign host (``link_origin``).

        ``repeat``: every later request to an endpoint gets its first answer again (the same
        records and the same next link or cursor); ``cycle``: answers alternate between the
        first two (page 1, page 2, page 1, ...), whatever page the client asks for.
        """
        if response.status != 200:
            return response
        if self._broken_paging is not None:
            endpoint = f"{request.method} {request.path}"
            period = 1 if self._broken_paging == "repeat" else 2
            with self._answered_lock:
                answers = self._answered.setdefault(endpoint, [])
                self._answer_count[endpoint] += 1
                if len(answers) < period:
                    answers.append(response)
                response = answers[(self._answer_count[endpoint] - 1) % period]
        if self._link_origin is not None:
            own, foreign = request.origin.encode(), self._link_origin.encode()
            headers = {
                name: value.replace(request.origin, self._link_origin)
                for name, value in response.headers.items()
            }
            response = replace(response, body=response.body.replace(own, foreign), headers=headers)
        return response

    def _match(self, request: Request) -> tuple[Route, dict[str, str]] | Response:
        allowed = []
        for candidate in self._routes:
            match = candidate.pattern.match(request.path)
            if match is None:
                continue
            if candidate.method == request.method:
                return candidate, match.groupdict()
            allowed.append(candidate.method)
        if allowed:
            return Response.error(
                405,
                f"{request.method} is not allowed on {request.path}",
                {"Allow": ", ".join(allowed)},
            )
        return Response.error(404, f"no such endpoint: {request.method} {request.path}")

    def _answer(self, request: Request, found: tuple[Route, dict[str, str]] | Response) -> Response:
        if isinstance(found, Response):
            return found
        endpoint, params = found
        with self._fake.lock:
            try:
                return endpoint.handler(request, params)
            except ApiError as error:
                return error.response()
