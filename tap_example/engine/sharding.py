"""Past one machine: the ``shard`` setting (``"i/n"``) splits one run's work across n workers.

- Top-level streams are dealt out round-robin (in the order of their names, over every top-level
  stream of the definition, selected or not, so the share does not move with the selection): the
  worker that owns a stream emits its records.
- Child partitions are split by their parent record: a worker syncs the children of the parent
  records whose child context hashes to its share, whoever owns the parent stream (a worker that
  does not own it still reads the parent list, to find its parents, but emits none of it).
- Grandchildren follow their child.

So n workers with their own state (n Meltano jobs, each with its own state ID) together emit
every record of one full run exactly once. The hash is CRC-32 of the context as sorted JSON:
stable across runs, machines and Python versions.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tap_example.errors import ConfigError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Worker ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, value: Any) -> Shard | None:
        """The ``shard`` setting: ``None`` when unset, else ``"i/n"`` with 1 <= i <= n."""
        if value in (None, ""):
            return None
        match = _SHARD.match(str(value))
        if match:
            index, count = int(match.group(1)), int(match.group(2))
            if 1 <= index <= count:
                return cls(index, count)
        msg = f"setting 'shard': {value!r} is not 'i/n' with 1 <= i <= n (say '2/3')"
        raise ConfigError(msg)

    def owns(self, stream: str, top_level: Sequence[str]) -> bool:
        """This worker emits the records of top-level stream ``stream``."""
        ordered = sorted(top_level)
        position = ordered.index(stream) if stream in ordered else _bucket(stream, self.count)
        return position % self.count == self.index - 1

    def takes(self, child_context: Mapping[str, Any] | None) -> bool:
        """This worker syncs the child partitions of the parent record behind ``child_context``."""
        text = json.dumps(dict(child_context or {}), sort_keys=True, default=str)
        return _bucket(text, self.count) == self.index - 1

    def taken(self, contexts: Iterable[Mapping[str, Any] | None]) -> list[Mapping[str, Any] | None]:
        return [context for context in contexts if self.takes(context)]


def _bucket(text: str, count: int) -> int:
    return zlib.crc32(text.encode()) % count
