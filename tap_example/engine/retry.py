"""Retry and renewal policy: classify an answer, back off (``Retry-After`` wins), renew a
refused token, and end with one line naming the stream, the request and the cause.

:class:`RetryPolicy` is the definition's ``error_handler`` with the ``max_retries`` and
``backoff_factor`` settings applied; :meth:`RetryPolicy.wrap` turns one attempt (the SDK's
send, behind the run's rate-limit policy) into the request function a stream uses, and
:meth:`RetryPolicy.send_with_retries` retries a single call the same way (the token endpoint).

A 401 for an OAuth token: if another worker has already replaced that token, the request is
simply sent again with the current one; otherwise the authenticator renews it (one token
request, whoever else is waiting for it) and the request is sent again. The run fails only when
a token obtained because of a refusal is refused before the API has accepted it even once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Generator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

import backoff
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_example.definition.model import (
    Definition,
    ErrorHandler,
    ResponseAction,
    actions_ignore,
)
from tap_example.engine.documents import server_message
from tap_example.engine.failures import connection_failure
from tap_example.engine.ratelimit import MAX_RETRY_AFTER as MAX_RETRY_AFTER  # re-exported
from tap_example.engine.ratelimit import retry_after_seconds as retry_after_seconds
from tap_example.errors import APIError, TokenRejectedError, mask_url
from tap_example.redact import scrub

if TYPE_CHECKING:
    from backoff.types import Details

    from tap_example.engine.partition import RequestFunc

#: Network failures worth another try.
NETWORK_FAILURES: tuple[type[Exception], ...] = (
    ConnectionResetError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: Failures worth another try besides the retried statuses.
RETRIED_EXCEPTIONS: tuple[type[Exception], ...] = (RetriableAPIError, *NETWORK_FAILURES)
#: A request whose token keeps being replaced under it gives up after this many resends.
MAX_TOKEN_RESENDS = 10
#: Statuses of a token endpoint that is busy or briefly down: retried whatever the definition's
#: data requests retry.
TOKEN_RETRY_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Statuses of a token endpoint that no retry changes (bad credentials, wrong URL).
TOKEN_FINAL_CODES = frozenset({400, 401, 403, 404})


def bearer_token(request: requests.PreparedRequest | None) -> str | None:
    """The bearer token a request carried (to renew exactly the token that was refused)."""
    header = (request.headers.get("Authorization") if request is not None else None) or ""
    return header[7:] if header.startswith("Bearer ") else None


class Renewal(Enum):
    """What the authenticator did about a refused token."""

    #: Another worker had already replaced it: send again with the current token.
    REPLACED = "replaced"
    #: It was the current token: a new one was obtained (once, for everyone waiting).
    RENEWED = "renewed"
    #: It had been obtained after a refusal and was never accepted: the credentials do not
    #: work for this API, and a new token would not either.
    REFUSED = "refused"


class Renewable(Protocol):
    """An authenticator whose refused token can be renewed (single-flight)."""

    def invalidate(self, rejected_token: str | None = None) -> None:
        """Forget ``rejected_token`` so the next request gets a new one."""

    def renew(self, rejected_token: str | None) -> Renewal:
        """After a 401 for ``rejected_token``: replaced already, renewed now, or refused."""

    def accepted(self, token: str | None) -> None:
        """The API accepted a request that carried ``token``."""


class RetryHooks(Protocol):
    """What the policy reports to, and asks of, the stream it works for."""

    name: str

    def failure_message(self, response: requests.Response) -> str:
        """One line for a failed answer (stream, request, status, server message, hint)."""

    def on_retry(self, details: Details) -> None:
        """A retry is coming (log it, count it, slow the run down after a 429)."""

    def on_renewal(self, outcome: Renewal) -> None:
        """An access token was refused, and the authenticator did ``outcome`` about it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Which answers are retried, how often, and how long to wait in between."""

    retry_on_status_codes: tuple[int, ...]
    max_retries: int
    backoff_factor: float
    #: The endpoint's ``response_actions``: an answer they ignore is neither retried nor fatal.
    response_actions: tuple[ResponseAction, ...] = ()

    @classmethod
    def from_handler(cls, handler: ErrorHandler, settings: Mapping[str, Any]) -> RetryPolicy:
        """The definition's ``error_handler`` with the ``max_retries``/``backoff_factor``
        settings applied."""
        max_retries = settings.get("max_retries")
        factor = settings.get("backoff_factor")
        return cls(
            retry_on_status_codes=handler.retry_on_status_codes,
            max_retries=int(max_retries) if max_retries is not None else handler.max_retries,
            backoff_factor=float(factor) if factor is not None else handler.backoff_factor,
            response_actions=handler.response_actions,
        )

    def ignores(self, response: requests.Response) -> bool:
        """Whether a response action ignores ``response`` (dlt's ``action: ignore``)."""
        return actions_ignore(self.response_actions, response.status_code, lambda: response.text)

    @property
    def token_statuses(self) -> frozenset[int]:
        """The statuses retried at the token endpoint."""
        return (TOKEN_RETRY_CODES | set(self.retry_on_status_codes)) - TOKEN_FINAL_CODES

    def classify(
        self, response: requests.Response, *, renewable: bool, message: Callable[[], str]
    ) -> None:
        """Raise for a failed status: token refused, worth a retry, or final; an answer the
        endpoint's response actions ignore is none of these (it gives no records)."""
        if self.ignores(response):
            return
        status = response.status_code
        if status == 401 and renewable:
            raise TokenRejectedError(response)
        if status in self.retry_on_status_codes:
            raise RetriableAPIError(message(), response)
        raise APIError(message())

    def wait_before(self, attempt: int, response: requests.Response | None) -> float:
        """The wait before retry ``attempt + 1``: ``Retry-After`` if the answer has one, else
        ``backoff_factor * 2**attempt``."""
        after = retry_after_seconds(response)
        return after if after is not None else self.backoff_factor * math.pow(2, attempt)

    def waits(self) -> Generator[float, Any, None]:
        """``backoff_factor * 2**n``, unless the answer's ``Retry-After`` says otherwise."""
        exception = yield  # type: ignore[misc]
        attempt = 0
        while True:
            wait = self.wait_before(attempt, getattr(exception, "response", None))
            attempt += 1
            exception = yield wait

    def send_with_retries(
        self,
        send: Callable[[], requests.Response],
        *,
        statuses: Collection[int],
        on_retry: Callable[[str, float, int], None],
        url: str,
    ) -> requests.Response:
        """``send()`` until it answers with a status not in ``statuses`` or the retries run out
        (then the last answer is returned); network failures are retried the same way and the
        last one is raised. ``on_retry(cause, wait, retry_number)`` is told before each wait."""
        attempt = 0
        while True:
            try:
                response = send()
            except NETWORK_FAILURES as exc:
                if attempt >= self.max_retries:
                    raise
                cause, wait = connection_failure(exc, url), self.wait_before(attempt, None)
            else:
                if response.status_code not in statuses or attempt >= self.max_retries:
                    return response
                cause = f"HTTP {response.status_code}"
                wait = self.wait_before(attempt, response)
            attempt += 1
            on_retry(cause, wait, attempt)
            time.sleep(wait)

    def wrap(self, attempt: RequestFunc, hooks: RetryHooks, auth: Renewable | None) -> RequestFunc:
        """The request function: ``attempt`` with token renewal, retries and one-line errors."""
        renewing = self._renewing(attempt, hooks, auth)
        # The backoff decorator as the SDK builds it, minus backoff's own log lines (they
        # print raw URLs).
        retrying = backoff.on_exception(
            self.waits,
            RETRIED_EXCEPTIONS,
            max_tries=self.max_retries + 1,
            on_backoff=hooks.on_retry,
            jitter=None,
            logger=None,
        )(renewing)
        retries = self.max_retries

        def call(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            try:
                return retrying(prepared, context)
            except RetriableAPIError as exc:
                raise APIError(f"{exc} (gave up after {retries} retries)") from None
            except (requests.RequestException, ConnectionResetError) as exc:
                url = prepared.url or ""
                msg = (
                    f"stream '{hooks.name}': {prepared.method} {mask_url(url)} failed: "
                    f"{connection_failure(exc, url)} (gave up after {retries} retries)"
                )
                raise APIError(msg) from None

        return call

    def _renewing(
        self, attempt: RequestFunc, hooks: RetryHooks, auth: Renewable | None
    ) -> RequestFunc:
        """A refused access token: resent with the token that replaced it, or renewed once for
        everyone waiting; a token obtained after a refusal and refused too ends the request."""
        retry_401 = 401 in self.retry_on_status_codes

        def renewing_token(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            for _ in range(MAX_TOKEN_RESENDS):
                try:
                    response = attempt(prepared, context)
                except TokenRejectedError as rejected:
                    if auth is None:
                        raise APIError(hooks.failure_message(rejected.response)) from None
                    token = bearer_token(rejected.response.request)
                    outcome = auth.renew(token)
                    hooks.on_renewal(outcome)
                    if outcome is not Renewal.REFUSED:
                        continue
                    message = hooks.failure_message(rejected.response)
                    if retry_401:  # the definition retries 401: a new token for the next try
                        auth.invalidate(token)
                        raise RetriableAPIError(message, rejected.response) from None
                    raise APIError(message) from None
                if auth is not None:
                    auth.accepted(bearer_token(prepared))
                return response
            msg = (
                f"stream '{hooks.name}': {prepared.method} {mask_url(prepared.url or '')}: the "
                f"access token was refused {MAX_TOKEN_RESENDS} times in a row, each time after "
                "another worker or job had replaced it (is another job renewing tokens with the "
                "same client credentials?)"
            )
            raise APIError(msg)

        return renewing_token


def failure_message(
    stream_name: str,
    response: requests.Response,
    definition: Definition,
    settings: Mapping[str, Any],
) -> str:
    """One line for a failed answer: stream, request (URL masked), status, the server's words,
    and for 401/403 the settings the definition's credentials come from."""
    status = response.status_code
    text = (
        f"stream '{stream_name}': {response.request.method} {mask_url(response.url)} failed with HTTP "
        f"{status} {scrub(response.reason or '', 100)}".rstrip()
        + f": {server_message(response)}"
    )
    if status in (401, 403):
        given = [n for n in definition.settings_used if settings.get(n)]
        text += f" (check the credentials for the '{definition.name}' API"
        text += f": settings {', '.join(given)})" if given else ")"
    return text


def retry_line(stream_name: str, path: str, details: Details, policy: RetryPolicy) -> str:
    """The log line of a coming retry: what failed, where, which retry, and the wait."""
    exception = details.get("exception")
    response = getattr(exception, "response", None)
    cause = f"HTTP {response.status_code}" if response is not None else type(exception).__name__
    where = mask_url(response.url) if response is not None else path
    tries = details.get("tries", 0)
    wait = details.get("wait", 0.0)
    return f"stream '{stream_name}': {cause} from {where}; retry {tries} of {policy.max_retries} in {wait:.2f} s"
