"""BATCH output by stream and size, not by partition.

The SDK writes a child stream's batches once per partition - one file per parent record (payments:
180 files for 367 funding sources; a million parents, a million files). :class:`BatchPool` keeps a
child stream's records across its partitions and writes a file whenever ``batch_size`` of them are
there, and the rest when the parent stream ends. Streams with one bookmark per partition keep the
SDK's per-partition batches: their state finalises each partition, and must never claim records
whose file is not written yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from singer_sdk.batch import Batcher

Batch = tuple[Any, list[str]]


class BatchPool:
    """One stream's records waiting for a batch file (at most ``batch_size`` of them)."""

    def __init__(self, tap_name: str, stream_name: str) -> None:
        self.tap_name = tap_name
        self.stream_name = stream_name
        self.pending: list[dict[str, Any]] = []
        self.config: Any = None

    def add(self, batch_config: Any, records: Iterable[dict[str, Any]]) -> Iterator[Batch]:
        """Take a partition's records; a batch for every ``batch_size`` of them gathered."""
        self.config = batch_config
        size = int(batch_config.batch_size)
        for record in records:
            self.pending.append(record)
            if len(self.pending) >= size:
                yield from self._write()

    def drain(self) -> Iterator[Batch]:
        """The last, partial batch (the parent stream ended)."""
        if self.pending and self.config is not None:
            yield from self._write()

    def _write(self) -> Iterator[Batch]:
        records, self.pending = self.pending, []
        batcher = Batcher(
            tap_name=self.tap_name, stream_name=self.stream_name, batch_config=self.config
        )
        for manifest in batcher.get_batches(records=iter(records)):
            yield self.config.encoding, manifest


class BatchingStream(Protocol):
    """A stream whose batch files :func:`drain_batches` writes."""

    @property
    def batch_pool(self) -> BatchPool: ...

    def write_batch(self, encoding: Any, manifest: list[str]) -> None: ...


def drain_batches(streams: Iterable[BatchingStream]) -> None:
    """Write the last, partial batch of every stream (their parent stream ended)."""
    for stream in streams:
        for encoding, manifest in stream.batch_pool.drain():
            stream.write_batch(encoding, manifest)
