"""Retry and renewal policy: classify an answer, back off (``Retry-After`` wins), renew a token
once on 401, and end with one line naming the stream, the request and the cause.

:class:`RetryPolicy` is the definition's ``error_handler`` with the ``max_retries`` and
``backoff_factor`` settings applied; :meth:`RetryPolicy.wrap` turns one attempt (the SDK's
send, behind the run's request slots) into the request function a stream uses.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import backoff
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_example.definition.model import Definition, ErrorHandler
from tap_example.engine.documents import server_message
from tap_example.errors import APIError, TokenRejectedError, mask_url

if TYPE_CHECKING:
    from backoff.types import Details

    from tap_example.engine.partition import RequestFunc

#: Longest wait a ``Retry-After`` header may impose, in seconds.
MAX_RETRY_AFTER = 300.0

#: Failures worth another try besides the retried statuses.
RETRIED_EXCEPTIONS: tuple[type[Exception], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """``Retry-After`` as seconds (whole seconds or an HTTP date; a past date means now)."""
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()), MAX_RETRY_AFTER)


def bearer_token(request: requests.PreparedRequest | None) -> str | None:
    """The bearer token a request carried (to renew exactly the token that was refused)."""
    header = (request.headers.get("Authorization") if request is not None else None) or ""
    return header[7:] if header.startswith("Bearer ") else None


class Renewable(Protocol):
    """An authenticator whose token can be dropped so the next request gets a new one."""

    def invalidate(self, rejected_token: str | None = None) -> None: ...


class RetryHooks(Protocol):
    """What the policy reports to, and asks of, the stream it works for."""

    name: str

    def failure_message(self, response: requests.Response) -> str:
        """One line for a failed answer (stream, request, status, server message, hint)."""

    def on_retry(self, details: Details) -> None:
        """A retry is coming (log it, count it, slow the run down after a 429)."""

    def on_renewal(self) -> None:
        """The access token was refused and is being renewed."""


@dataclass(frozen=True)
class RetryPolicy:
    """Which answers are retried, how often, and how long to wait in between."""

    retry_on_status_codes: tuple[int, ...]
    max_retries: int
    backoff_factor: float

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
        )

    def classify(
        self, response: requests.Response, *, renewable: bool, message: Callable[[], str]
    ) -> None:
        """Raise for a failed status: token refused, worth a retry, or final."""
        status = response.status_code
        if status == 401 and renewable:
            raise TokenRejectedError(response)
        if status in self.retry_on_status_codes:
            raise RetriableAPIError(message(), response)
        raise APIError(message())

    def waits(self) -> Generator[float, Any, None]:
        """``backoff_factor * 2**n``, unless the answer's ``Retry-After`` says otherwise."""
        exception = yield  # type: ignore[misc]
        attempt = 0
        while True:
            response = getattr(exception, "response", None)
            after = retry_after_seconds(response)
            wait = after if after is not None else self.backoff_factor * math.pow(2, attempt)
            attempt += 1
            exception = yield wait

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
                msg = (
                    f"stream '{hooks.name}': {prepared.method} {mask_url(prepared.url or '')} failed: "
                    f"{type(exc).__name__} (gave up after {retries} retries)"
                )
                raise APIError(msg) from None

        return call

    def _renewing(
        self, attempt: RequestFunc, hooks: RetryHooks, auth: Renewable | None
    ) -> RequestFunc:
        """One renewal of a refused access token, then the answer counts as any other."""
        retry_401 = 401 in self.retry_on_status_codes

        def renewing_token(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            try:
                return attempt(prepared, context)
            except TokenRejectedError as rejected:
                if auth is None:
                    raise APIError(hooks.failure_message(rejected.response)) from None
                hooks.on_renewal()
                auth.invalidate(bearer_token(rejected.response.request))
                try:
                    return attempt(prepared, context)
                except TokenRejectedError as again:
                    message = hooks.failure_message(again.response)
                    if retry_401:
                        auth.invalidate(bearer_token(again.response.request))
                        raise RetriableAPIError(message, again.response) from None
                    raise APIError(message) from None

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
        f"{status} {response.reason or ''}".rstrip()
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
