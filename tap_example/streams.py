"""The SDK adapter: one ``RESTStream`` subclass per definition resource, whose hooks delegate.

:class:`DefinitionStream` holds no policy of its own. Each SDK hook is a few lines that hand
the work to an engine object built once per stream (see ``docs/architecture.md``):

- :class:`~tap_example.engine.request.RequestBuilder`: URL, parameters, headers, body;
- :class:`~tap_example.engine.paging.DefinitionPaginator`: paging (one per paging loop);
- :class:`~tap_example.engine.records.RecordSelector` / ``RecordShaper``: records out of a body;
- :class:`~tap_example.engine.incremental.IncrementalPolicy`: start, filter, early stop;
- :class:`~tap_example.engine.retry.RetryPolicy`: retries, ``Retry-After``, token renewal;
- :class:`~tap_example.engine.children.ChildFanOut`: what a parent record means for children;
- :mod:`tap_example.engine.concurrency`: slots, pooled sessions, pages and children ahead.

Private SDK hooks are overridden in :class:`~tap_example.sdk_compat.SDKStreamHooks`, which this
class extends; every override is marked ``@override`` so a renamed SDK hook fails the type check.
:func:`make_stream_class` turns a :class:`~tap_example.definition.Resource` into a subclass with
the SDK's class attributes (``name``, ``path``, ``primary_keys``, ``replication_key``, ...).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from singer_sdk import Tap, metrics
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.singerlib import Catalog, MetadataMapping
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_example.definition.model import Definition, Incremental, Resource
from tap_example.engine.auth import OAuth2Authenticator
from tap_example.engine.batching import Batch, BatchPool, drain_batches
from tap_example.engine.children import ChildFanOut
from tap_example.engine.concurrency import (
    PrefetchAwareRequest,
    TapConcurrency,
    prefetch_children,
    prepared_ahead,
    settle_pages_ahead,
)
from tap_example.engine.conform import CompiledRecords
from tap_example.engine.documents import response_document
from tap_example.engine.incremental import (
    STATE_SOURCE_KEY,
    BookmarkTracker,
    IncrementalPolicy,
    opted_in,
)
from tap_example.engine.paging import DefinitionPaginator, build_paginator
from tap_example.engine.partition import PartitionState, RequestFunc, StreamRun
from tap_example.engine.progress import EmittedRecordCounter, StreamProgress
from tap_example.engine.records import (
    PageReader,
    RecordSelector,
    RecordShaper,
    schemas_to_follow,
)
from tap_example.engine.request import RequestBuilder
from tap_example.engine.retry import Renewal, RetryPolicy, failure_message, retry_line
from tap_example.engine.runtime import Runtime
from tap_example.errors import APIError, PaginationError
from tap_example.sdk_compat import SDKStreamHooks
from tap_example.timestamps import bookmark_string, instant

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context
    from singer_sdk.helpers.types import RequestFunc as SDKRequestFunc


class ReplicationHooks(SDKStreamHooks):
    """The SDK hooks about replication: the catalog's choice of key and method, and state.

    Part of the adapter (:class:`DefinitionStream` extends it); kept apart so each class stays
    one screenful of hooks.
    """

    resource: ClassVar[Resource]

    @override
    def apply_catalog(self, catalog: Catalog) -> None:
        """The SDK's catalog step; a replication key chosen for an opt-in cursor (Meltano's
        ``metadata: {stream: {replication-key: ...}}``) makes the stream incremental."""
        super().apply_catalog(catalog)
        self.forced_replication_method = opted_in(
            self.resource.incremental, self.replication_key, self.forced_replication_method
        )

    @property
    @override
    def metadata(self) -> MetadataMapping:
        """The SDK's catalog metadata; an opt-in cursor (``incremental.opt_in``) is offered as a
        valid replication key, to be chosen in the catalog (``replication-method: INCREMENTAL``)."""
        metadata = super().metadata
        declared = self.resource.incremental
        if declared is not None and declared.opt_in and not metadata.root.valid_replication_keys:
            metadata.root.valid_replication_keys = [declared.cursor_path]
        return metadata

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> Any:
        """The SDK's cap on bookmarks (the sync's start), in the same form as the bookmarks."""
        signpost = super().get_replication_key_signpost(context)
        declared = self.resource.incremental
        if signpost is None or (
            declared and (declared.numeric or declared.last_value_func == "min")
        ):
            return None  # no time cap on numbers, nor on a bookmark that moves back
        return bookmark_string(signpost)

    @override
    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """The later of the bookmark and ``start_date``, compared as instants in any form."""
        return max(value, start_date_value, key=instant)

    def state_partition(self, context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return self.state_manager.get_state_partition_context(context)


class RequestHooks(ReplicationHooks):
    """The SDK hooks that build a stream's requests and run its paging loop, delegating to
    :class:`~tap_example.engine.request.RequestBuilder` and the paginator registry.

    Part of the adapter (:class:`DefinitionStream` extends it).
    """

    runtime: Runtime
    run: StreamRun
    request_builder: RequestBuilder
    incremental: IncrementalPolicy
    fetching: StreamFetching

    @override
    def get_url(self, context: Context | None) -> str:
        return self.request_builder.url(self.url_base, context)

    @override
    def get_new_paginator(self) -> DefinitionPaginator[Any]:
        paginator = self.fresh_paginator()
        self.run.partition.paginator = paginator
        return paginator

    def fresh_paginator(self) -> DefinitionPaginator[Any]:
        runtime = self.runtime
        return build_paginator(self.resource.paginator, runtime.page_size, runtime.max_pages)

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The SDK's paging loop; a paging error names this stream."""
        self.run.partition.pages_ahead = []  # pages fetched ahead (engine.concurrency)
        try:
            yield from super().request_records(context)
        except PaginationError as exc:
            raise PaginationError(f"stream '{self.name}': {exc}") from None
        finally:
            settle_pages_ahead(self.fetching)

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**self.request_builder.params(context), **self.incremental.server_filter(context)}

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: Any) -> Any:
        return self.request_builder.payload(context)

    @override
    def get_http_request(self, *, page: PageContext[Any]) -> HTTPRequest:
        request = super().get_http_request(page=page)
        self.request_builder.shape(request, page.next_page_token, page.stream_context)
        return request


class DefinitionStream(RequestHooks):
    """A stream whose behaviour comes from one definition resource."""

    definition: ClassVar[Definition]
    resource: ClassVar[Resource]

    @override
    def __init__(self, tap: Tap, runtime: Runtime, **kwargs: Any) -> None:
        self.runtime = runtime
        self.run = StreamRun()
        super().__init__(tap=tap, **kwargs)
        self.request_builder = RequestBuilder(self.definition, self.resource, runtime.page_size)
        self.selector = RecordSelector(self.name, self.resource, self.logger)
        self.progress = StreamProgress(self.name, self.logger)
        self.retry_policy = RetryPolicy.from_handler(self.resource.error_handler, self.settings)
        self.fanout: ChildFanOut[StreamFetching] = ChildFanOut(self.name, self._children)
        self.incremental = IncrementalPolicy(
            self.name,
            self.resource.incremental,
            self,
            self.settings,
            lists_every_parent=self.fanout.lists_every_parent,
        )
        self.incremental.resolve(self.replication_key, self.replication_method)
        self.page_reader = PageReader(self.selector, self.incremental, self.run, self.logger)
        self.compiled_records = CompiledRecords(self.name)
        self.bookmark_tracker = BookmarkTracker(self.name, self.incremental)
        self.request_builder.incremental_values = self.incremental.placeholder_values
        self.batch_pool = BatchPool(self.tap_name, self.name)
        self.fetching = StreamFetching(self)
        self.reporting = StreamReporting(self)
        self._shaper: RecordShaper | None = None

    # -- SDK attributes ---------------------------------------------------------------
    @property
    def settings(self) -> Mapping[str, Any]:
        """The tap's settings (config plus the sandbox's address when ``sandbox`` is on)."""
        return self.runtime.settings

    @property
    @override
    def url_base(self) -> str:
        return self.runtime.base_url

    @property
    @override
    def authenticator(self) -> Any:
        auth = self.runtime.authenticator_for(self.resource)
        return auth if auth is not None else _no_auth  # a definition without ``auth``

    @property
    @override
    def timeout(self) -> int:
        return self.runtime.timeout

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return self.request_builder.headers

    @property
    @override
    def user_agent(self) -> str:
        return self.runtime.user_agent

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        return self.resource.write_disposition == "replace"

    @property
    @override
    def requests_session(self) -> requests.Session:
        """One pooled keep-alive session per host, shared by every stream and worker."""
        return self.concurrency.session_for(self.url_base)

    @property
    def concurrency(self) -> TapConcurrency:
        return self.runtime.concurrency

    # -- records ----------------------------------------------------------------------
    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of the partition, shaped; those older than the bookmark are not emitted
        (their children that need every parent are still synced)."""
        self.runtime.prepare_for_requests()
        self.runtime.report.stream_begins(self, context)
        self.run.partition = PartitionState()
        self.incremental.resolve(self.replication_key, self.replication_method)
        self.bookmark_tracker.start(self.replication_key, self.is_sorted, self.run.partition)
        if self.replication_key:  # the bookmarks this sync writes say what they belong to
            self.stream_state[STATE_SOURCE_KEY] = self.runtime.state_source
        partition = self.run.partition
        shard = self.runtime.shard if self.parent_stream_type is None else None
        if shard is not None and not shard.owns(self.name, self.runtime.top_level_streams):
            if not self.fanout.wanted_children():
                return  # another worker emits this stream, and it has no children to share
            partition.emit = False  # read for the children this worker takes; emit none of it
        try:
            rows = prefetch_children(self.fetching, super().get_records(context), context)
            if not partition.emit or (self.replication_key and self.fanout.lists_every_parent()):
                partition.fan_out_dropped = True
                contexts = partial(self.generate_child_contexts, context=context)
                rows = self.fanout.children_of_dropped(
                    rows, partition.dropped, contexts, all_children=not partition.emit
                )
            yield from rows
            if self.parent_stream_type is None:  # the children's last, partial batch files
                drain_batches(s for s in self.descendent_streams if isinstance(s, DefinitionStream))
        except Exception:
            self.flush_writer()  # records already emitted reach the target before the error
            raise
        finally:
            if self.parent_stream_type is None:  # this stream and its children are done
                self.concurrency.release_workers()

    @override
    def get_batches(self, batch_config: Any, context: Context | None = None) -> Iterable[Batch]:
        """A child stream's batches by size across its partitions (``engine.batching``)."""
        if self.parent_stream_type is None or self.state_partitioning_keys:
            yield from super().get_batches(batch_config, context)
        else:
            yield from self.batch_pool.add(batch_config, self.records_for_batches(context))

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """The record shaped for the schema, or ``None`` when it is older than the bookmark
        (its children that need every parent are synced by ``ChildFanOut.children_of_dropped``)."""
        shaped = (self._shaper or self._new_shaper()).shape(row, context)
        if shaped is None:  # the schema contract skips it (discard_row)
            return None
        partition = self.run.partition
        if not partition.emit or (
            self.replication_key and self.incremental.is_older(shaped, context)
        ):
            if partition.fan_out_dropped:
                partition.dropped.append(shaped)
            return None
        return shaped

    def shape_record(self, row: dict[str, Any], context: Context | None) -> dict[str, Any] | None:
        return (self._shaper or self._new_shaper()).shape(row, context)

    def _new_shaper(self) -> RecordShaper:
        """Built at first use: the schema is final once the catalog is applied."""
        self._shaper = RecordShaper.for_stream(self)
        return self._shaper

    def schema_changed(self, properties: dict[str, Any]) -> None:
        """The schema contract changed ``properties`` of ``self.schema``: the same in the catalog's
        schema and the stream maps' (the SCHEMA messages'), then the new SCHEMA goes out."""
        for schema in schemas_to_follow(self.schema, self.effective_schema, self.stream_maps):
            schema.setdefault("properties", {}).update(properties)
        self.compiled_records.reset()
        self.write_schema_now()

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        records = self.page_reader.read(response, self.context)
        (self._shaper or self._new_shaper()).contract.absorb(records)  # one SCHEMA per page
        return records

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        return self.fanout.child_context(record)

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Mapping[str, Any] | None]:
        """No child streams, no child contexts (the SDK would still build and filter one); with
        ``shard``, only the parents this worker takes."""
        if not self.child_streams:
            return ()
        contexts = super().generate_child_contexts(record, context)
        shard = self.runtime.shard if self.parent_stream_type is None else None
        return shard.taken(contexts) if shard is not None else contexts

    @override
    def request_decorator(self, func: SDKRequestFunc) -> SDKRequestFunc:
        """Slots, retries, token renewal and one-line errors around the SDK's send; answers
        fetched ahead are used first."""
        return PrefetchAwareRequest(self.fetching, self.with_policies(func))

    def with_policies(self, send: RequestFunc) -> RequestFunc:
        """``send`` (one attempt) behind the run's request slots, with retries and renewal."""
        auth = self.authenticator
        renewable = auth if isinstance(auth, OAuth2Authenticator) else None
        return self.retry_policy.wrap(self.concurrency.gated(send), self.reporting, renewable)

    # -- responses --------------------------------------------------------------------
    @override
    def validate_response(self, response: requests.Response) -> None:
        if self.retry_policy.ignores(response):  # response_actions: no records, not an error
            return
        if response.status_code < 400:
            if response.status_code != 204 and response.content:
                try:
                    response_document(response)
                except APIError as exc:  # a truncated or garbled body is worth another try
                    raise RetriableAPIError(f"stream '{self.name}': {exc}", response) from None
            return
        self.retry_policy.classify(
            response,
            renewable=isinstance(self.authenticator, OAuth2Authenticator),
            message=lambda: self.reporting.failure_message(response),
        )

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        return self.retry_policy.waits()

    @override
    def backoff_max_tries(self) -> int:
        return self.retry_policy.max_retries + 1

    # -- progress ---------------------------------------------------------------------
    @override
    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """Count requests and records per page (the SDK sums these into the stream's sync costs)."""
        records = self.selector.count(response)
        self.progress.on_page(records)
        return {"requests": 1, "records_read": records}

    @override
    def get_record_counter(self, **kwargs: Any) -> metrics.Counter:
        """The SDK's counter of emitted records, counting them for the stream's summary too."""
        return EmittedRecordCounter(self.progress, **kwargs)

    @override
    def log_sync_costs(self) -> None:
        """At the end of the run (called for every stream): the writer flushed, a summary."""
        self.flush_writer()
        self.runtime.close()  # the run is over: sessions and workers go
        contract = self._shaper.contract.summary() if self._shaper else None
        if contract:
            self.logger.info("%s", contract)
        self.selector.log_ignored()
        self.runtime.report.stream_ends(self.progress)

    # -- hooks of sdk_compat.SDKStreamHooks ---------------------------------------------
    @override
    def conformed(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.compiled_records.conformed(record, self.effective_schema, self.mask, self)

    @override
    def extracted_at(self) -> datetime | None:
        return self.run.partition.extracted_at

    @property
    @override
    def bookmarks(self) -> BookmarkTracker:
        return self.bookmark_tracker

    @override
    def prepared_ahead(self, token: Any) -> requests.PreparedRequest | None:
        return prepared_ahead(self.fetching, token)

    @override
    def schema_sent(self) -> bool:
        sent, self.run.schema_written = self.run.schema_written, True
        return sent

    def _children(self) -> list[StreamFetching]:
        return [c.fetching for c in self.child_streams if isinstance(c, DefinitionStream)]


class StreamReporting:
    """What the retry policy reports to (its ``RetryHooks``): log lines, counters, the gate."""

    def __init__(self, stream: DefinitionStream) -> None:
        self.stream = stream
        self.name = stream.name

    def failure_message(self, response: requests.Response) -> str:
        stream = self.stream
        return failure_message(stream.name, response, stream.definition, stream.settings)

    def on_retry(self, details: Details) -> None:
        stream = self.stream
        stream.logger.info("%s", retry_line(stream.name, stream.path, details, stream.retry_policy))
        stream.progress.on_retry()
        stream.runtime.count_retry()
        response = getattr(details.get("exception"), "response", None)
        stream.concurrency.on_retry(response, float(details.get("wait") or 0.0))

    def on_renewal(self, outcome: Renewal) -> None:
        logger = self.stream.logger
        if outcome is Renewal.RENEWED:
            logger.info("stream '%s': access token refused (HTTP 401); renewing it", self.name)
        elif outcome is Renewal.REPLACED:
            logger.debug(
                "stream '%s': HTTP 401 for a token already renewed; sending again", self.name
            )


class StreamFetching:
    """A stream as the engine sees it: :mod:`~tap_example.engine.concurrency`'s
    ``FetchingStream`` and :mod:`~tap_example.engine.children`'s ``ChildStream``."""

    def __init__(self, stream: DefinitionStream) -> None:
        self.stream = stream
        self.run = stream.run
        self.resource = stream.resource

    @property
    def incremental_spec(self) -> Incremental | None:
        return self.stream.incremental.spec

    @property
    def wanted(self) -> bool:
        return self.stream.selected or self.stream.has_selected_descendents

    @property
    def partitioned_state(self) -> bool:
        return bool(self.stream.state_partitioning_keys)

    def sync(self, context: dict[str, Any] | None = None) -> None:
        self.stream.sync(context=context)

    @property
    def concurrency(self) -> TapConcurrency:
        return self.stream.concurrency

    @property
    def timeout(self) -> int:
        return self.stream.timeout

    @property
    def stops_early(self) -> bool:
        return self.stream.incremental.stop_below(self.stream.context) is not None

    def request_for(self, context: Any, token: Any) -> requests.PreparedRequest:
        return self.stream.prepare_sdk_request(context, token)

    def first_request(self, context: Any) -> requests.PreparedRequest:
        stream = self.stream
        stream.incremental.resolve(stream.replication_key, stream.replication_method)
        return stream.prepare_first_sdk_request(context, stream.fresh_paginator())

    def live_request(self) -> RequestFunc:
        """The full request function without prefetching (what workers call)."""
        if self.run.live_request is None:
            self.run.live_request = self.stream.with_policies(self.stream.send_once)
        return self.run.live_request

    def has_selected_children(self) -> bool:
        return bool(self.stream.fanout.wanted_children())

    def child_partitions(
        self, record: dict[str, Any], context: Any
    ) -> Sequence[tuple[StreamFetching, Mapping[str, Any]]]:
        stream = self.stream
        child_context = stream.get_child_context(record, context)
        shard = stream.runtime.shard if stream.parent_stream_type is None else None
        if shard is not None and not shard.takes(child_context):
            return []  # another worker syncs this parent's children
        if not stream.run.partition.emit:
            children = stream.fanout.wanted_children()
        else:
            children = stream.fanout.synced_for(older=stream.incremental.is_older(record, context))
        return [(child, child.stream.preprocess_context(dict(child_context))) for child in children]


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def make_stream_class(
    definition: Definition,
    resource: Resource,
    schema: Mapping[str, Any],
    parent_class: type[DefinitionStream] | None,
) -> type[DefinitionStream]:
    """Build the ``DefinitionStream`` subclass for one resource."""
    # `replace` resources are re-read whole every run (full table, ACTIVATE_VERSION); an opt-in
    # cursor (creation times) is used only when the catalog asks for it.
    declared = resource.incremental if resource.write_disposition != "replace" else None
    incremental = declared if declared is not None and not declared.opt_in else None
    per_parent_state = bool(declared and declared.per_parent and resource.bindings)
    attributes: dict[str, Any] = {
        "__doc__": f"Stream '{resource.name}': {resource.method} {resource.path}",
        "__module__": __name__,
        "name": resource.name,
        "path": resource.path,
        "definition": definition,
        "resource": resource,
        "schema": dict(schema),
        "payload_as_json": resource.data is None,  # dlt's ``data``: a form or raw body
        "primary_keys": list(resource.primary_key)
        if resource.write_disposition != "append"
        else [],
        "replication_key": incremental.cursor_path if incremental else None,
        "is_sorted": bool(declared and declared.row_order == "asc"),
        "check_sorted": not (declared and declared.last_value_func == "min"),
        "selected_by_default": resource.selected,
        "parent_stream_type": parent_class,
        "state_partitioning_keys": (
            [b.placeholder for b in resource.bindings] if per_parent_state else []
        )
        if parent_class
        else None,
    }
    class_name = "".join(part.capitalize() for part in resource.name.split("_")) + "Stream"
    return type(class_name, (DefinitionStream,), attributes)


__all__ = ["DefinitionStream", "make_stream_class"]
