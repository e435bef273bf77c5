"""What one tap run shares: settings, the definition, the authenticator, concurrency, counters.

The tap builds one :class:`Runtime` and hands it to every stream; streams read nothing else of
the tap, so the engine never needs the SDK's private ``Stream._tap``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from singer_sdk.authenticators import APIAuthenticatorBase

from tap_example import __version__
from tap_example.definition.model import Definition, ErrorHandler, Resource
from tap_example.engine.auth import AuthRegistry
from tap_example.engine.concurrency import DEFAULT_MAX_CONCURRENCY, TapConcurrency
from tap_example.engine.progress import RunReport
from tap_example.engine.retry import RetryPolicy
from tap_example.engine.sharding import Shard
from tap_example.engine.streamgroup import DEFAULT_MAX_PARALLEL_STREAMS
from tap_example.engine.tokenstore import TokenStore
from tap_example.userinput import check_url

#: Pages one partition may take before paging counts as runaway (``max_pages_per_partition``).
DEFAULT_MAX_PAGES = 100_000
DEFAULT_USER_AGENT = f"tap-example/{__version__}"


class Runtime:
    """One run's shared parts, created lazily where they need settings or credentials."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        definition: Definition,
        *,
        flush_output: Callable[[], None] = lambda: None,
        report: RunReport | None = None,
    ) -> None:
        self.settings = settings
        self.definition = definition
        #: Writes out whatever the message writer still holds (records before an error).
        self.flush_output = flush_output
        #: The run's start line and summary; each stream reports its start and its end.
        self.report = report or RunReport(logging.getLogger(__name__))
        self._ready = False
        self._lock = threading.Lock()
        self._retries = 0
        self._concurrency: TapConcurrency | None = None

    # -- settings ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url") or self.definition.base_url).rstrip("/")

    @cached_property
    def state_source(self) -> dict[str, str]:
        """What this run's bookmarks belong to: the API (built-in name or the definition file's
        name) and the base URL (``sandbox`` for the built-in sandbox, whose port changes every
        run), never a credential."""
        if self.settings.get("sandbox"):
            base = "sandbox"
        else:
            parts = urlsplit(self.base_url)
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return {"api": self.definition.name, "base_url": base}

    @cached_property
    def shard(self) -> Shard | None:
        """This worker's share of the run (the ``shard`` setting), if the run is split."""
        return Shard.parse(self.settings.get("shard"))

    @cached_property
    def top_level_streams(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.definition.resources if r.parent is None)

    @property
    def page_size(self) -> int | None:
        value = self.settings.get("page_size")
        return int(value) if value is not None else None

    @property
    def max_pages(self) -> int:
        return int(self.settings.get("max_pages_per_partition") or DEFAULT_MAX_PAGES)

    @property
    def timeout(self) -> int:
        return int(self.settings.get("request_timeout") or 60)

    @property
    def user_agent(self) -> str:
        return str(self.settings.get("user_agent") or DEFAULT_USER_AGENT)

    # -- shared parts -----------------------------------------------------------------
    @cached_property
    def authenticators(self) -> AuthRegistry:
        """The run's authenticators: the client's, and each endpoint's own ``auth``."""
        return AuthRegistry(
            self.definition,
            settings=self.settings,
            base_url=str(self.settings.get("base_url") or self.definition.base_url),
            timeout=float(self.timeout),
            retry_policy=self.token_retry_policy,
            token_store=self.token_store,
        )

    @property
    def authenticator(self) -> APIAuthenticatorBase | None:
        """One authenticator shared by every stream without its own ``auth`` (one token for
        the whole run)."""
        return self.authenticators.client

    def authenticator_for(self, resource: Resource) -> APIAuthenticatorBase | None:
        """The authenticator of ``resource``'s requests (its endpoint's ``auth``, or the
        client's)."""
        return self.authenticators.for_resource(resource)

    @property
    def token_store(self) -> TokenStore | None:
        """Where rotated refresh tokens are kept between runs (``token_store_dir``); none for
        the in-process sandbox, whose token endpoint lives on a new port every run."""
        if self.settings.get("sandbox"):
            return None
        return TokenStore.from_setting(self.settings.get("token_store_dir"))

    @property
    def max_requests_per_second(self) -> float | None:
        """The API's request budget: the setting, else the definition's ``client.rate_limit``."""
        value = self.settings.get("max_requests_per_second")
        if value is not None:
            return float(value)
        return self.definition.rate_limit.max_requests_per_second

    @property
    def token_retry_policy(self) -> RetryPolicy:
        """Token requests are retried as the definition's requests are (its first resource's
        ``error_handler``, with the ``max_retries``/``backoff_factor`` settings)."""
        resources = self.definition.resources
        handler = resources[0].error_handler if resources else ErrorHandler()
        return RetryPolicy.from_handler(handler, self.settings)

    @property
    def concurrency(self) -> TapConcurrency:
        """Request slots, pooled sessions and workers (``max_concurrency``)."""
        with self._lock:
            if self._concurrency is None:
                value = self.settings.get("max_concurrency")
                self._concurrency = TapConcurrency(
                    int(value) if value else DEFAULT_MAX_CONCURRENCY, self.max_requests_per_second
                )
            return self._concurrency

    @property
    def max_parallel_streams(self) -> int:
        """Top-level streams synced at once (``engine/streamgroup.py``)."""
        value = self.settings.get("max_parallel_streams")
        return max(1, int(value)) if value is not None else DEFAULT_MAX_PARALLEL_STREAMS

    def prepare_for_requests(self) -> None:
        """Check everything a sync needs (settings, credentials) once, before the first request."""
        if not self._ready:
            self.definition.require_settings()
            if not self.settings.get("base_url"):  # the setting is checked with the others
                check_url(self.base_url, f"{self.definition.origin}: client.base_url")
            _ = self.authenticator  # missing credentials fail here
            self._ready = True

    # -- counters ---------------------------------------------------------------------
    @property
    def retries(self) -> int:
        return self._retries

    def count_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def close(self) -> None:
        """End of a sync: pooled connections and worker threads go, process settings return."""
        with self._lock:
            concurrency = self._concurrency
        if concurrency is not None:
            concurrency.close()
