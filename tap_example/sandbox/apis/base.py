"""What every fake API shares: its data tables, routes, record listing and mutation."""

from __future__ import annotations

import copy
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..auth import AuthScheme, TokenAuthority
from ..fakedata import YEAR_2024, Fake, Window, mutation_window, parse_timestamp
from ..wire import Request, Response

Record = dict[str, Any]
Handler = Callable[[Request, Mapping[str, str]], Response]
Factory = Callable[[Fake, Window, int], Record]


@dataclass(frozen=True)
class Route:
    """One endpoint. `child` marks per-parent endpoints (they get `child_latency`)."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    child: bool = False


def route(method: str, template: str, handler: Handler, *, child: bool = False) -> Route:
    """A route from a path template such as "/customers/{customer_id}/funding-sources"."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), handler, child)


@dataclass(frozen=True)
class ChildOf:
    """A child stream's parent stream and the parent field that names a partition."""

    parent: str
    parent_key: str


class FakeApi:
    """One fake REST API: deterministic data built once, the routes serving it, and mutate().

    Subclasses declare their streams and record factories; the tables are plain lists kept in
    the order the API serves them, so a page is just a slice.
    """

    name: ClassVar[str]
    streams: ClassVar[tuple[str, ...]]
    default_sizes: ClassVar[dict[str, int]]
    default_page_size: ClassVar[int]
    auth: ClassVar[AuthScheme]
    children_of: ClassVar[dict[str, ChildOf]] = {}
    keys: ClassVar[dict[str, str]] = {}  # stream -> key field, when not "id"
    update_fields: ClassVar[dict[str, str]] = {}  # stream -> timestamp that mutate() bumps
    #: stream -> (field, values): mutate() changes the field of records without an update time
    #: (their creation time stays, as on the real APIs).
    edited_fields: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {}
    growing_streams: ClassVar[tuple[str, ...] | None] = None  # None: every factory stream
    single_object_streams: ClassVar[tuple[str, ...]] = ()  # served as one object, never sorted
    #: Serve some pages from a second listener (another origin); see serve_foreign().
    foreign_host: ClassVar[bool] = False
    #: scheme://host:port of that second listener, set by the server once it listens.
    foreign_origin: str | None = None

    def __init__(
        self, *, seed: int = 0, sizes: Mapping[str, int] | None = None, page_size: int | None = None
    ) -> None:
        unknown = sorted(set(sizes or {}) - set(self.streams))
        if unknown:
            raise ValueError(f"unknown {self.name} streams in sizes: {', '.join(unknown)}")
        negative = [stream for stream, size in (sizes or {}).items() if size < 0]
        if negative:
            raise ValueError(f"sizes must be >= 0: {', '.join(negative)}")
        self.sizes = {**self.default_sizes, **(sizes or {})}
        self.page_size = page_size or self.default_page_size
        self.lock = threading.RLock()
        self.tables: dict[str, list[Record]] = {}
        self.children: dict[str, dict[str, list[Record]]] = {}
        self._sequence: dict[str, int] = {}
        self._mutations = 0
        self._mutation_fake = Fake(random.Random(f"{self.name}:{seed}:mutate"))  # noqa: S311
        fake = Fake(random.Random(f"{self.name}:{seed}"))  # noqa: S311
        for stream, factory in self.factories().items():
            self.tables[stream] = [
                factory(fake, YEAR_2024, self._next_seq(stream)) for _ in range(self.sizes[stream])
            ]
        self.build_extras(fake)
        for child, link in self.children_of.items():
            self.children[child] = {
                parent[link.parent_key]: self.make_children(child, fake, YEAR_2024, parent, index)
                for index, parent in enumerate(self.tables[link.parent])
            }
        self.sort_tables()

    # -- what subclasses provide -------------------------------------------------------------

    def factories(self) -> dict[str, Factory]:
        """Record factories of the top-level list streams, in build order."""
        raise NotImplementedError

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def build_extras(self, fake: Fake) -> None:
        """Build tables that are not made by factories (single objects)."""

    def make_children(
        self, child: str, fake: Fake, window: Window, parent: Record, index: int
    ) -> list[Record]:
        """One parent's records of a child stream (0..size of them)."""
        raise NotImplementedError

    def authorize(self, request: Request, authority: TokenAuthority) -> Response | None:
        """None when the request may proceed, else the 401/403 answer (default: the API's scheme)."""
        return authority.authorize(request)

    def tap_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The tap settings for this API, given the server's usual ones."""
        return config

    def serve_foreign(self, request: Request) -> Response:
        """Answer a request to the second listener (only with ``foreign_host``)."""
        return Response.error(404, f"no such path on this host: {request.path}")

    def touched(self, stream: str, record: Record) -> None:
        """React to mutate() bumping a record's update timestamp (e.g. raise its version)."""

    def after_mutate(self, changed: dict[str, list[Any]], count: int, window: Window) -> None:
        """API-specific changes on top of the generic bump-and-append."""

    def sort_key(self, stream: str) -> Callable[[Record], Any]:
        """Served order of a table: ascending key unless the API says otherwise."""
        key = self.key(stream)
        return lambda record: record[key]

    # -- shared behaviour ------------------------------------------------------------------

    def key(self, stream: str) -> str:
        return self.keys.get(stream, "id")

    def records(self, stream: str) -> list[Record]:
        """Deep copies of what the API serves for `stream` (child streams concatenated)."""
        if stream not in self.streams:
            raise KeyError(f"unknown {self.name} stream {stream!r}")
        with self.lock:
            return copy.deepcopy(self.records_ref(stream))

    def children_for(self, child: str, parent_id: str) -> list[Record] | None:
        return self.children[child].get(parent_id)

    def mutate(self, count: int) -> dict[str, list[Any]]:
        """Update `count` records per stream and append `count` new ones, as the real APIs do:
        an update bumps the record's update time where it has one (`update_fields`), and
        otherwise changes a field and keeps every creation time (`edited_fields`).

        All new times fall in a 2025+ window after anything served before, so incremental
        syncs must pick exactly these changes up.
        """
        fake = self._mutation_fake
        with self.lock:
            window = mutation_window(self._mutations)
            self._mutations += 1
            changed: dict[str, list[Any]] = {}
            for stream, field in self.update_fields.items():
                rows = self.records_ref(stream)
                for row in fake.rng.sample(rows, min(count, len(rows))):
                    row[field] = fake.timestamp(window)
                    row["_sandbox_rev"] = row.get("_sandbox_rev", 1) + 1
                    self.touched(stream, row)
                    changed.setdefault(stream, []).append(row[self.key(stream)])
            for stream, (field, values) in self.edited_fields.items():
                rows = self.records_ref(stream)
                for row in fake.rng.sample(rows, min(count, len(rows))):
                    others = [v for v in values if v != row.get(field)]
                    row[field] = fake.pick(tuple(others)) if others else row.get(field)
                    row["_sandbox_rev"] = row.get("_sandbox_rev", 1) + 1
                    changed.setdefault(stream, []).append(row[self.key(stream)])
            factories = self.factories()
            growing = self.growing_streams if self.growing_streams is not None else factories
            for stream in growing:
                for _ in range(count):
                    row = factories[stream](fake, window, self._next_seq(stream))
                    self.tables[stream].append(row)
                    changed.setdefault(stream, []).append(row[self.key(stream)])
                    for child, link in self.children_of.items():
                        if link.parent == stream:
                            self.children[child].setdefault(row[link.parent_key], [])
            self.after_mutate(changed, count, window)
            self.sort_tables()
            return changed

    def evolve_fields(self, after: int) -> list[str]:
        """Schema drift partway through every list: from its ``after``-th record on (in served
        order) each record gains a new field ``loyalty_tier`` and its ``_sandbox_rev`` becomes a
        string (``"r1"``), as when an API adds a field and changes a type in a release. The
        streams changed."""
        changed = []
        with self.lock:
            for stream in self.factories():
                rows = self.tables[stream]
                if len(rows) <= after:
                    continue
                for row in rows[after:]:
                    row["loyalty_tier"] = ("bronze", "silver", "gold")[len(str(row)) % 3]
                    row["_sandbox_rev"] = f"r{row.get('_sandbox_rev', 1)}"
                changed.append(stream)
        return changed

    def records_ref(self, stream: str) -> list[Record]:
        """The live records of a stream in served order (child streams: parent by parent)."""
        link = self.children_of.get(stream)
        if link is None:
            return self.tables[stream]
        groups = self.children[stream]
        return [
            row for parent in self.tables[link.parent] for row in groups[parent[link.parent_key]]
        ]

    def sort_tables(self) -> None:
        for stream, rows in self.tables.items():
            if stream not in self.single_object_streams:
                rows.sort(key=self.sort_key(stream))
        for child, groups in self.children.items():
            for rows in groups.values():
                rows.sort(key=self.sort_key(child))

    def _next_seq(self, stream: str) -> int:
        self._sequence[stream] = self._sequence.get(stream, 0) + 1
        return self._sequence[stream]


def newest_first(field: str, key: str = "id") -> Callable[[Record], Any]:
    """Sort key for descending timestamps (ties broken by key, for a stable order)."""
    return lambda record: (-parse_timestamp(record[field]), record[key])
