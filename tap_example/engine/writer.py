"""Singer output: messages as JSON lines through the SDK's msgspec encoder, in 64 KB chunks."""

from __future__ import annotations

import atexit
import io
import sys
import time
import weakref
from typing import Any

from singer_sdk.singerlib.encoding.base import GenericSingerWriter, SingerMessageType
from singer_sdk.singerlib.encoding.simple import Message
from typing_extensions import override

_live_writers: weakref.WeakSet[FastSingerWriter] = weakref.WeakSet()


@atexit.register
def _write_what_is_left() -> None:
    for writer in list(_live_writers):
        writer.write_pending()


class FastSingerWriter(GenericSingerWriter[bytes, Message]):
    """Singer messages as JSON lines through the SDK's msgspec encoder, flushed at most each second.

    The SDK's default writer encodes with simplejson and flushes stdout after every message
    (a system call per record, and a GIL hand-off per message while child requests run on
    other threads). Here lines collect in stdout's buffer; a non-RECORD message (SCHEMA, STATE,
    ACTIVATE_VERSION) flushes when the last flush is older than :attr:`flush_interval`.
    Order is the stream's order either way: a STATE never reaches the target before the records
    it covers, and a crash loses them together.
    """

    flush_interval = 1.0
    #: Bytes of RECORD lines gathered before one write (stdout may be unbuffered:
    #: ``PYTHONUNBUFFERED``, which Meltano and many containers set).
    chunk_size = 64 * 1024

    def __init__(self) -> None:
        # Imported by a run that writes messages (not by ``--about`` or ``--help``).
        from singer_sdk.contrib.msgspec import encoder

        self._encode = encoder.encode
        self._encode_into = encoder.encode_into
        self._flushed_at = time.monotonic()
        #: Lines not yet written to stdout (RECORD lines are encoded straight into it).
        self._pending = bytearray()
        # Records gathered when a run ends early (an error) still go out at exit; a normal
        # run ends with the streams' ``log_sync_costs``, which calls :meth:`flush`.
        _live_writers.add(self)

    @override
    def serialize_message(self, message: Message) -> bytes:
        return self._encode(message.to_dict())

    def write_record(
        self, stream: str, record: dict[str, Any], version: int | None, time_extracted: Any
    ) -> None:
        """A RECORD line from plain values: the bytes ``RecordMessage.to_dict`` would encode to."""
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        if time_extracted is not None:
            message["time_extracted"] = time_extracted
        pending = self._pending
        end = len(pending)
        try:
            self._encode_into(message, pending, -1)  # the bytes of encode(message), appended
        except BaseException:
            del pending[end:]  # a value that cannot be encoded leaves no partial line
            raise
        pending.append(0x0A)  # newline
        if len(pending) >= self.chunk_size:
            self.write_pending()

    @override
    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message) + b"\n"
        is_record = message.type == SingerMessageType.RECORD
        if is_record and len(self._pending) < self.chunk_size:
            return
        self.write_pending()
        if not is_record:
            now = time.monotonic()
            if now - self._flushed_at >= self.flush_interval:
                self._flushed_at = now
                self._stdout().flush()

    def flush(self) -> None:
        """Everything written so far reaches stdout now (the end of a sync)."""
        self.write_pending()
        self._stdout().flush()
        self._flushed_at = time.monotonic()

    def write_pending(self) -> None:
        if not self._pending:
            return
        data = bytes(self._pending)
        self._pending.clear()
        out = self._stdout()
        if isinstance(out, io.TextIOBase):  # a text stream (captured output): same bytes, decoded
            out.write(data.decode())
        else:
            out.write(data)

    @staticmethod
    def _stdout() -> Any:
        return getattr(sys.stdout, "buffer", None) or sys.stdout
