"""target-duckdb 0.8.0, made lossless.

target-duckdb 0.8.0 (the newest release) writes each batch of records to a
header-less CSV file and loads it with::

    COPY <temp_table> FROM '<file>.csv' WITH (new_line '\\r\\n')

It does not say whether the file has a header, so DuckDB's CSV sniffer guesses.
Current DuckDB releases guess "yes" whenever the first line does not look
different from the rest (for example when every column is VARCHAR), and then
the first record of every batch is silently dropped.

This module replaces ``target_duckdb.db_sync.DbSync.load_rows`` with a copy
whose COPY statement spells out the CSV dialect the file was written with:
``HEADER false`` plus the delimiter, quote, escape and newline. Nothing else in
target-duckdb changes. ``main`` applies the patch and then runs target-duckdb's
own ``main``, so ``target-duckdb-lossless`` is a drop-in replacement for the
``target-duckdb`` command (same ``--config`` and the same settings).

One convenience rides along: ``main`` creates the folder of the database file
(``filepath``) when it is missing, where target-duckdb 0.8.0 would stop with
DuckDB's ``IOException: Cannot open file ...: No such file or directory``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "PATCHED_VERSION",
    "apply_patch",
    "copy_statement",
    "ensure_database_folder",
    "is_patched",
    "main",
]

#: The target-duckdb release this patch was written against (see pyproject.toml).
PATCHED_VERSION = "0.8.0"


def _sql_literal(value: str) -> str:
    """Quote ``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def copy_statement(table: str, csv_path: str, delimiter: str = ",", quotechar: str = '"') -> str:
    """Return the COPY statement that loads a header-less CSV written by ``load_rows``.

    Every dialect option is explicit, so DuckDB does not sniff the file:
    ``HEADER false`` keeps the first line as data, and the delimiter, quote,
    escape (Python's csv module doubles the quote character) and ``\\r\\n``
    line terminator are exactly what :func:`csv.writer` produced.
    """
    return (
        f"COPY {table} FROM {_sql_literal(csv_path)} ("
        "FORMAT csv, HEADER false, AUTO_DETECT false, "
        f"DELIMITER {_sql_literal(delimiter)}, QUOTE {_sql_literal(quotechar)}, "
        f"ESCAPE {_sql_literal(quotechar)}, NEW_LINE '\\r\\n')"
    )


def _load_rows(self: Any, records: Iterable[dict[str, Any]], count: int, temp_dir: str) -> None:
    """Replacement for ``DbSync.load_rows`` (target-duckdb 0.8.0).

    Identical to the original except for the COPY statement (see :func:`copy_statement`).
    """
    stream_schema_message = self.stream_schema_message
    stream = stream_schema_message["stream"]
    self.logger.info("Loading %d rows into '%s'", count, self.table_name(stream, False))

    cur = self.conn
    temp_table = self.table_name(stream, is_temporary=True)
    temp_file_csv = os.path.join(temp_dir, f"{temp_table}.csv")
    cur.execute(self.create_table_query(table_name=temp_table, is_temporary=True))

    # newline="" so the csv module's own "\r\n" terminator is written unchanged
    # on every platform (the original relied on the default text mode).
    with open(temp_file_csv, "w", newline="", encoding="utf-8") as f:
        csvwriter = csv.writer(
            f,
            delimiter=self.delimiter,
            quotechar=self.quotechar,
            quoting=csv.QUOTE_MINIMAL,
            lineterminator="\r\n",
        )
        for record in records:
            csvwriter.writerow(self.record_to_flattened(record))
    try:
        cur.execute(copy_statement(temp_table, temp_file_csv, self.delimiter, self.quotechar))
        if len(stream_schema_message["key_properties"]) > 0:
            update = self.update_from_temp_table(temp_table)
            if update:  # None when every column is part of the primary key
                cur.execute(update)
        cur.execute(self.insert_from_temp_table(temp_table))
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {temp_table}")
        os.unlink(temp_file_csv)


def is_patched() -> bool:
    """Whether ``DbSync.load_rows`` is the lossless replacement."""
    from target_duckdb.db_sync import DbSync

    return DbSync.load_rows is _load_rows


def apply_patch() -> None:
    """Install the lossless ``load_rows`` on target-duckdb's ``DbSync`` (idempotent)."""
    from importlib.metadata import PackageNotFoundError, version

    from target_duckdb.db_sync import DbSync

    try:
        installed = version("target-duckdb")
    except PackageNotFoundError:  # pragma: no cover - vendored / unusual installs
        installed = None
    if installed is not None and installed != PATCHED_VERSION:
        import warnings

        warnings.warn(
            f"target_duckdb_lossless patches target-duckdb {PATCHED_VERSION}, "
            f"but {installed} is installed; the patch may no longer match.",
            RuntimeWarning,
            stacklevel=2,
        )
    DbSync.load_rows = _load_rows


def ensure_database_folder(argv: Sequence[str]) -> str | None:
    """Create the folder of the local database file named by ``--config`` (``path`` or
    ``filepath``, as target-duckdb reads it); return the folder, or ``None`` when there is
    nothing to create (no config, an in-memory or remote database, an unreadable file: those
    are left for target-duckdb to report)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-c", "--config")
    args, _ = parser.parse_known_args(list(argv))
    if not args.config:
        return None
    try:
        with open(args.config, encoding="utf-8") as config_file:
            config = json.load(config_file)
    except (OSError, ValueError):
        return None
    path = config.get("path", config.get("filepath")) if isinstance(config, dict) else None
    if not isinstance(path, str) or not path or re.match(r"(:|[A-Za-z][\w+.-]+:)", path):
        return None  # ":memory:", "md:...", "s3://...": not a local file (a drive "C:" is)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return folder


def main() -> None:
    """Console script ``target-duckdb-lossless``: patch, create the database file's folder, then
    run target-duckdb."""
    apply_patch()
    ensure_database_folder(sys.argv[1:])
    import target_duckdb

    target_duckdb.main()


if __name__ == "__main__":
    main()
