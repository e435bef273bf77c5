#!/usr/bin/env python3
"""Print the tables of a DuckDB file and their row counts, as an aligned table.

Usage:
    python scripts/duckdb_summary.py [DATABASE] [--schema NAME]

DATABASE defaults to output/warehouse.duckdb under the project root (the file
the Meltano demo loads into). ``--schema`` limits the listing to one schema,
e.g. ``--schema crm`` for what ``TAP_EXAMPLE_API=crm scripts/demo.sh`` loaded.
Exits with status 1 when the file does not exist or has no (matching) tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = PROJECT_ROOT / "output" / "warehouse.duckdb"
_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")


def table_counts(database: Path, schema: str | None = None) -> list[tuple[str, str, int]]:
    """Return ``(schema, table, row_count)`` for every base table, sorted by name."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        query = (
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_catalog = current_database() "
            "AND table_schema NOT IN (?, ?)"
        )
        params: list[str] = list(_SYSTEM_SCHEMAS)
        if schema is not None:
            query += " AND table_schema = ?"
            params.append(schema)
        query += " ORDER BY table_schema, table_name"
        tables = con.execute(query, params).fetchall()
        counts = []
        for table_schema, table_name in tables:
            quoted = '"{}"."{}"'.format(
                table_schema.replace('"', '""'), table_name.replace('"', '""')
            )
            row = con.execute(f"SELECT count(*) FROM {quoted}").fetchone()  # noqa: S608
            counts.append((table_schema, table_name, int(row[0]) if row else 0))
        return counts
    finally:
        con.close()


def format_table(counts: list[tuple[str, str, int]]) -> str:
    """Format the counts as a two-column, aligned text table with a total line."""
    names = [f"{schema}.{table}" for schema, table, _ in counts]
    rows = [f"{n:,}" for _, _, n in counts]
    total = f"{sum(n for _, _, n in counts):,}"
    total_label = f"total ({len(counts)} table{'' if len(counts) == 1 else 's'})"
    name_width = max([len("table"), len(total_label), *map(len, names)])
    rows_width = max([len("rows"), len(total), *map(len, rows)])
    rule = f"{'-' * name_width}  {'-' * rows_width}"
    lines = [f"{'table':<{name_width}}  {'rows':>{rows_width}}", rule]
    lines += [f"{n:<{name_width}}  {r:>{rows_width}}" for n, r in zip(names, rows, strict=True)]
    lines += [rule, f"{total_label:<{name_width}}  {total:>{rows_width}}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "database",
        nargs="?",
        type=Path,
        default=DEFAULT_DATABASE,
        help=f"DuckDB file (default: {DEFAULT_DATABASE.relative_to(PROJECT_ROOT)})",
    )
    parser.add_argument("--schema", help="only list the tables of this schema")
    args = parser.parse_args(argv)

    if not args.database.is_file():
        print(f"error: no DuckDB file at {args.database}", file=sys.stderr)
        return 1
    counts = table_counts(args.database, args.schema)
    where = f" in schema {args.schema!r}" if args.schema else ""
    if not counts:
        print(f"error: no tables{where} in {args.database}", file=sys.stderr)
        return 1
    print(f"{args.database}{where}:")
    print(format_table(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
