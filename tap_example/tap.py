"""The tap: settings, the definition they select, and the streams built from it."""

from __future__ import annotations

import atexit
import graphlib
import logging
import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

import click
from singer_sdk import Stream
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override

from tap_example.definition import BUILTIN_APIS, Definition, Resource, load_definition
from tap_example.engine.incremental import (
    describe_foreign_bookmarks,
    drop_foreign_bookmarks,
    normalise_bookmarks,
)
from tap_example.engine.logs import metrics_level, quiet_tap_logs
from tap_example.engine.progress import RunReport, RunStart, bookmarked_streams
from tap_example.engine.runtime import DEFAULT_USER_AGENT, Runtime
from tap_example.engine.sharding import Shard
from tap_example.engine.streamgroup import sync_streams
from tap_example.engine.writer import FastSingerWriter
from tap_example.errors import ConfigError, DefinitionError, TapExampleError
from tap_example.redact import redact, register_secret
from tap_example.schemas_loader import load_stream_schema
from tap_example.sdk_compat import SDKTapHooks
from tap_example.settings import CONFIG_SCHEMA
from tap_example.settings_hints import unknown_settings
from tap_example.streams import DefinitionStream, make_stream_class
from tap_example.timestamps import parse_timestamp
from tap_example.userinput import check_config_files, check_file_options, check_settings

if TYPE_CHECKING:
    from tap_example.inference import SchemaSampler

SECRET_SETTINGS = ("client_secret", "refresh_token", "api_key")
SANDBOX_SETTINGS = (
    "base_url",
    "token_url",
    "client_id",
    "client_secret",
    "refresh_token",
    "api_key",
    "account_id",
)


class OneLineErrorCommand(SingerCommand):
    """Ends the run on a :class:`TapExampleError` with its one-line message and exit code 1."""

    @override
    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except TapExampleError as exc:
            _fail(str(exc))
        except Exception as exc:  # a bug, not bad input: keep the details for --log-level=debug
            logging.getLogger("tap-example").debug("unexpected error", exc_info=True)
            _fail(
                f"unexpected {type(exc).__name__}: {exc} (please report it; set TAP_EXAMPLE_LOGLEVEL=debug for details)"
            )


def _fail(message: str) -> NoReturn:
    click.echo(f"tap-example: error: {redact(message)}", err=True)
    sys.exit(1)


class TapExample(SDKTapHooks):
    """A Singer tap for any REST API described by a definition (built-in or the user's file)."""

    name = "tap-example"
    message_writer_class = FastSingerWriter  # msgspec encoding, no flush per record

    config_jsonschema = CONFIG_SCHEMA

    @override
    def __init__(self, *, state: Any = None, **kwargs: Any) -> None:
        quiet_tap_logs(self.logger)  # the SDK's per-partition lines are DEBUG detail
        self.state_given = state is not None
        super().__init__(state=state, **kwargs)
        self.metrics_logger.setLevel(metrics_level(self.config.get("metrics_log_level")))

    # -- CLI --------------------------------------------------------------------------
    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.__class__ = OneLineErrorCommand  # same command, with one-line error exits
        check_file_options(command)  # a bad --state or --catalog file: one line naming it
        return command

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """The SDK's ``--config`` reading, after checking each file (one line naming a file
        that is missing or not a JSON object, with the position of a JSON error)."""
        check_config_files(value)
        return super().cb_config(ctx, param, value)

    # -- settings ---------------------------------------------------------------------
    @cached_property
    def settings(self) -> dict[str, Any]:
        """The config, checked, with the sandbox's address and demo credentials when asked."""
        settings = dict(self.config)
        _check_settings(settings)
        if settings.get("sandbox"):
            settings.update(self._start_sandbox(settings))
        for name in SECRET_SETTINGS:
            register_secret(settings.get(name))
        return settings

    def _start_sandbox(self, settings: dict[str, Any]) -> dict[str, Any]:
        from tap_example.sandbox import SandboxServer

        if not settings.get("api"):
            raise ConfigError(
                "setting 'sandbox': needs 'api' (the sandbox serves the built-in APIs only)"
            )
        server = SandboxServer(api=settings["api"]).start()
        atexit.register(server.stop)
        self.logger.info("Sandbox for '%s' serving at %s", settings["api"], server.base_url)
        overrides = server.tap_config()
        return {k: v for k, v in overrides.items() if k in SANDBOX_SETTINGS}

    @cached_property
    def definition(self) -> Definition:
        definition = load_definition(
            api=self.settings.get("api"),
            api_file=self.settings.get("api_file"),
            settings=self.settings,
            strict=False,
        )
        known = [*self.config_jsonschema["properties"], *definition.settings_used]
        for line in unknown_settings(self.config, known):
            self.logger.warning("%s", line)
        for note in definition.notes:  # dlt keys accepted without effect, or mapped
            self.logger.info("%s", note)
        return definition

    @cached_property
    def runtime(self) -> Runtime:
        """What every stream of this run shares (settings, definition, authenticator, ...)."""
        report = RunReport(self.logger, self._run_start, lambda: len(self.streams))
        return Runtime(
            self.settings, self.definition, flush_output=self._flush_output, report=report
        )

    def _run_start(self) -> RunStart:
        """What the run's start line says (asked once the sync begins, selection applied)."""
        where = f"API '{self.definition.name}'" + (
            " (sandbox)" if self.settings.get("sandbox") else ""
        )
        selected = [name for name, stream in self.streams.items() if stream.selected]
        bookmarked = [name for name in bookmarked_streams(self.state) if name in self.streams]
        return RunStart(
            where, self.runtime.base_url, selected, len(self.streams), self.state_given, bookmarked
        )

    def _flush_output(self) -> None:
        flush = getattr(self.message_writer, "flush", None)
        if callable(flush):
            flush()

    @property
    def page_size(self) -> int | None:
        return self.runtime.page_size

    @property
    def max_pages(self) -> int:
        return self.runtime.max_pages

    @property
    def default_user_agent(self) -> str:
        return DEFAULT_USER_AGENT

    @property
    def authenticator(self) -> Any:
        """One authenticator shared by every stream (one token for the whole run)."""
        return self.runtime.authenticator

    @property
    def retries(self) -> int:
        """Retries so far in this run, over all streams."""
        return self.runtime.retries

    def prepare_for_requests(self) -> None:
        """Check everything a sync needs (settings, credentials) once, before the first request."""
        self.runtime.prepare_for_requests()

    # -- streams ----------------------------------------------------------------------
    @override
    def sync_top_level(self, streams: list[Stream]) -> None:
        """Up to ``max_parallel_streams`` top-level streams at once, taking turns
        (``engine/streamgroup.py``); the workers that fetch ahead serve them all."""
        concurrency = self.runtime.concurrency
        with concurrency.workers_kept():
            sync_streams(streams, self.runtime.max_parallel_streams, concurrency.turn, self.logger)

    @override
    def ending(self) -> AbstractContextManager[None]:
        return self.runtime.concurrency.turn.taken_over()

    @override
    def discover_streams(self) -> Sequence[Stream]:
        classes: dict[str, type[DefinitionStream]] = {}
        schemas: dict[str, dict[str, Any]] = {}
        sampler: SchemaSampler | None = None
        for resource in _parents_first(self.definition.resources):
            schema = load_stream_schema(resource, self.definition)
            if schema is None:  # a user resource without a schema file: infer from a sample
                sampler = sampler or _sampler(self, self.runtime)
                schema = sampler.infer(resource, classes.get(resource.parent or ""))
            if resource.parent:
                schema = _with_binding_fields(schema, resource, schemas[resource.parent])
            schemas[resource.name] = schema
            parent = classes.get(resource.parent) if resource.parent else None
            classes[resource.name] = make_stream_class(self.definition, resource, schema, parent)
        return [cls(tap=self, runtime=self.runtime) for cls in classes.values()]

    @override
    def run_discovery(self) -> str:
        """The catalog; with ``discover_sample_pages`` each stream's schema first gains the
        fields its first pages hold, so Meltano's ``select`` shows them."""
        pages = int(self.settings.get("discover_sample_pages") or 0)
        if pages:
            sampler = _sampler(self, self.runtime, pages=pages)
            for stream in self.streams.values():
                if isinstance(stream, DefinitionStream):
                    added = sampler.extend(type(stream), stream.schema)
                    if added:
                        stream.forget_metadata()
                        self.logger.info(
                            "stream '%s': sampling added fields %s", stream.name, ", ".join(added)
                        )
        return super().run_discovery()

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Apply only the bookmarks written for this API and base URL (the others are dropped,
        said in one warning line), and bring them into the fixed-width UTC form the streams write
        (:func:`~tap_example.timestamps.bookmark_string`), once, so comparisons hold."""
        super().load_state(state)
        source = self.runtime.state_source
        dropped = drop_foreign_bookmarks(self.state, source)
        if dropped:
            self.logger.warning("%s", describe_foreign_bookmarks(dropped, source))
        normalise_bookmarks(self.state, self.runtime.definition)


def _sampler(tap: TapExample, runtime: Runtime, pages: int = 1) -> SchemaSampler:
    """Schema inference, imported only by a run that samples (a resource without a schema file,
    or ``discover_sample_pages``): a plain run does not load it."""
    from tap_example.inference import SchemaSampler

    return SchemaSampler(tap, runtime, pages=pages)


def _check_settings(settings: dict[str, Any]) -> None:
    """Check the settings the SDK's schema cannot, normalising numbers given as strings."""
    if not settings.get("api") and not settings.get("api_file"):
        raise ConfigError("set 'api' (one of: " + ", ".join(BUILTIN_APIS) + ") or 'api_file'")
    if settings.get("api") and settings.get("api_file"):
        raise ConfigError("set only one of 'api' and 'api_file'")
    for name in ("page_size", "max_concurrency", "request_timeout", "max_pages_per_partition"):
        _number(settings, name, int, minimum=1, wording="a positive integer")
    _number(settings, "max_retries", int, minimum=0, wording="a non-negative integer")
    _number(settings, "discover_sample_pages", int, minimum=0, wording="a non-negative integer")
    Shard.parse(settings.get("shard"))  # 'i/n', or a one-line error naming the setting
    _number(settings, "backoff_factor", float, minimum=0, wording="a non-negative number")
    check_settings(settings)  # URLs, max_requests_per_second, token_store_dir
    start = settings.get("start_date")
    if start is not None and parse_timestamp(start) is None:
        raise ConfigError(
            f"setting 'start_date': {start!r} is not an RFC 3339 date-time such as 2024-01-01T00:00:00Z"
        )


def _number(
    settings: dict[str, Any],
    name: str,
    kind: type[int] | type[float],
    *,
    minimum: float,
    wording: str,
) -> None:
    value = settings.get(name)
    if value is None:
        return
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting '{name}': must be {wording}, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"setting '{name}': must be {wording}, not {value!r}")
    settings[name] = number


def _parents_first(resources: Sequence[Resource]) -> list[Resource]:
    """Resources in definition order, each parent before its children.

    The loader rejects unknown parents and cycles already; ``graphlib`` checks again so that a
    definition built some other way fails with a clear error instead of looping.
    """
    by_name = {resource.name: resource for resource in resources}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for resource in resources:
        parent = resource.parent
        if parent is not None and parent not in by_name:
            msg = f"resource '{resource.name}' resolves from resource {parent!r}, which is not defined"
            raise DefinitionError(msg)
        sorter.add(resource.name, *([parent] if parent else []))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        chain = " -> ".join(str(name) for name in reversed(exc.args[1]))
        raise DefinitionError(f"resources form a parent cycle: {chain}") from None
    ordered: dict[str, Resource] = {}

    def place(resource: Resource) -> None:
        if resource.name not in ordered:
            if resource.parent is not None:
                place(by_name[resource.parent])
            ordered[resource.name] = resource

    for resource in resources:
        place(resource)
    return list(ordered.values())


def _with_binding_fields(
    schema: dict[str, Any], resource: Resource, parent_schema: dict[str, Any]
) -> dict[str, Any]:
    """Child records carry each bound value under the placeholder's name, typed as the parent field."""
    properties = dict(schema.get("properties") or {})
    parent_properties = parent_schema.get("properties") or {}
    for binding in resource.bindings:
        if binding.placeholder not in properties:
            properties[binding.placeholder] = _nested_property(parent_properties, binding.field)
    for field in resource.include_from_parent:
        properties.setdefault(f"_{resource.parent}_{field}", parent_properties.get(field, {}))
    return {**schema, "properties": properties}


def _nested_property(properties: Mapping[str, Any], field: str) -> dict[str, Any]:
    """The schema of ``field`` (a dot path) among ``properties``; ``{}`` where not declared."""
    schema: Any = {"properties": properties}
    for key in field.split("."):
        schema = (schema.get("properties") or {}).get(key) if isinstance(schema, dict) else None
    return dict(schema) if isinstance(schema, dict) else {}


__all__ = ["DefinitionError", "TapExample"]
