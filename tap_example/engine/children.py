"""Child fan-out: the context a parent record gives its children, and which children a sync
visits for it (all selected ones for an emitted parent; for a parent the incremental filter
drops, those that need every parent)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from tap_example.definition.model import Incremental, Resource
from tap_example.jsonpaths import MISSING, compile_path


class ChildStream(Protocol):
    """What fan-out needs of a child stream."""

    @property
    def resource(self) -> Resource: ...

    @property
    def incremental_spec(self) -> Incremental | None: ...

    @property
    def wanted(self) -> bool:
        """Selected, or the parent of a selected stream."""

    @property
    def partitioned_state(self) -> bool:
        """One bookmark per parent record."""

    def sync(self, context: dict[str, Any] | None = None) -> None: ...


ChildT = TypeVar("ChildT", bound=ChildStream)


class ChildFanOut(Generic[ChildT]):
    """One parent stream's children and what each parent record means for them."""

    def __init__(self, parent_name: str, children: Callable[[], Sequence[ChildT]]) -> None:
        self.parent_name = parent_name
        self._children = children

    def wanted_children(self) -> list[ChildT]:
        return [child for child in self._children() if child.wanted]

    def child_context(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Every bound value and ``include_from_parent`` field of ``record``, for all children."""
        child_context: dict[str, Any] = {}
        for child in self._children():
            resource = child.resource
            for binding in resource.bindings:
                child_context[binding.placeholder] = field_value(record, binding.field)
            for field in resource.include_from_parent:
                child_context[f"_{self.parent_name}_{field}"] = record.get(field)
        return child_context

    def every_parent_children(self) -> list[ChildT]:
        """Selected children that must be visited for every parent record, not only for the
        parents this run emits: those with per-parent bookmarks, and those whose endpoint filters
        on the bookmark server-side (``start_param``) - a child can change while its parent does
        not, and asking each parent "anything newer than the bookmark?" is cheap and loses nothing.
        Children without a server filter are fetched only for emitted parents (re-reading every
        child list would be a full sync); see the README's incremental section."""
        return [
            child
            for child in self.wanted_children()
            if child.partitioned_state
            or (child.incremental_spec is not None and child.incremental_spec.start_param)
        ]

    def lists_every_parent(self) -> bool:
        return bool(self.every_parent_children())

    def synced_for(self, *, older: bool) -> list[ChildT]:
        """The children a sync visits for a record: all wanted ones when it is emitted, only
        those that need every parent when the incremental filter drops it (``older``)."""
        return self.every_parent_children() if older else self.wanted_children()

    def sync_every_parent(self, child_contexts: Iterable[Mapping[str, Any] | None]) -> None:
        """A parent record older than the bookmark is not emitted again, but some children may
        have news under it (their own bookmarks and server filters decide what is new)."""
        children = self.every_parent_children()
        if not children:
            return
        for child_context in child_contexts:
            for child in children:
                child.sync(context=dict(child_context or {}))

    def children_of_dropped(
        self,
        rows: Iterable[dict[str, Any]],
        dropped: list[dict[str, Any]],
        child_contexts: Callable[[dict[str, Any]], Iterable[Mapping[str, Any] | None]],
        *,
        all_children: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """``rows``, and between them the syncs of the children of each row put in ``dropped``
        - when the SDK asks for the next row, just as it syncs the children of an emitted row
        before asking: the every-parent children of a row the incremental filter dropped, or
        all wanted children (``all_children``) of a row another worker emits (``shard``)."""
        for row in rows:
            yield row
            while dropped:
                contexts = child_contexts(dropped.pop(0))
                if not all_children:
                    self.sync_every_parent(contexts)
                    continue
                for child_context in contexts:
                    for child in self.wanted_children():
                        child.sync(context=dict(child_context or {}))


def field_value(record: Mapping[str, Any], field: str) -> Any:
    """``field`` of a parent record; a dot path (``author.id``) reads nested objects."""
    if "." not in field:
        return record.get(field)
    value = compile_path(field)(record)
    return None if value is MISSING else value
