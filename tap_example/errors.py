"""Errors that end a run with one clear line, and URL masking for messages.

Every failure the user can fix (a setting, a definition key, an HTTP answer) is raised as a
:class:`TapExampleError`; the CLI prints its message alone, without a traceback.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from singer_sdk.exceptions import FatalAPIError

#: Query parameter names whose values are never printed.
SECRET_PARAM = re.compile(
    r"(key|token|secret|password|passwd|signature|sig|auth|credential|session)", re.IGNORECASE
)
MASK = "***"


class TapExampleError(Exception):
    """A failure with a one-line, secret-free explanation for the user."""


class ConfigError(TapExampleError):
    """A tap setting is missing or invalid."""


class DefinitionError(TapExampleError):
    """An API definition is invalid; the message names the file and the key at fault."""


class APIError(TapExampleError, FatalAPIError):
    """The API answered in a way the tap cannot go on from (a non-retryable status, bad body)."""


class PaginationError(APIError):
    """Paging does not advance (a repeated link, cursor or page) or ran past its limit."""


class AuthError(TapExampleError):
    """Credentials were refused; the message says which API, which status and what to check."""


class TokenRejectedError(Exception):
    """The API answered 401 to an OAuth token: the retry policy renews it once and resends.

    Control flow inside one request, never shown to the user.
    """

    def __init__(self, response: Any) -> None:
        super().__init__(response.status_code)
        self.response = response


def mask_url(url: str) -> str:
    """Return ``url`` with user info and secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
