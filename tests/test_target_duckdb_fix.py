"""The lossless fix for target-duckdb 0.8.0 (plugins/target-duckdb-lossless).

target-duckdb 0.8.0 loads each batch from a header-less CSV with a COPY that
lets DuckDB guess, batch by batch, whether there is a header; where current
DuckDB guesses "yes" the first record of that batch is dropped. These tests push
Singer messages through the loader into temporary DuckDB files and count what
arrived.

In-process tests need ``target_duckdb`` importable (``pip install
-e ./plugins/target-duckdb-lossless``, or ``target-duckdb==0.8.0``); the
console-script test needs the ``target-duckdb-lossless`` executable, e.g. from
``meltano install`` (``.meltano/loaders/target-duckdb/venv``). Each skips with
the reason when its requirement is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "plugins" / "target-duckdb-lossless"

# Values that a CSV round trip can get wrong: delimiters, quotes, line breaks,
# a header-like first row (all strings), nulls, nested objects.
CHARGES: list[dict[str, Any]] = [
    {"id": "ch_1", "amount": 100, "note": "first record", "meta": {"a": 1}, "paid": True},
    {"id": "ch_2", "amount": None, "note": 'comma, "quote"\nnewline', "meta": None, "paid": False},
    {"id": "ch_3", "amount": -5, "note": "it's", "meta": {"x": [1, 2]}, "paid": None},
    {"id": "ch_4", "amount": 7, "note": "id,amount,note", "meta": {}, "paid": True},
    {"id": "ch_5", "amount": 0, "note": None, "meta": None, "paid": False},
    {"id": "ch_6", "amount": 42, "note": "last", "meta": {"b": "c"}, "paid": True},
    {"id": "ch_7", "amount": 1, "note": "\u00e9t\u00e9 \u2713", "meta": None, "paid": None},
]
# A stream without key properties whose columns are all VARCHAR: the shape for
# which every DuckDB version takes the first CSV line as a header.
EVENTS = [{"kind": f"kind_{i}", "ref": f"ref_{i}"} for i in range(5)]


def singer_messages() -> list[str]:
    charges_schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "amount": {"type": ["integer", "null"]},
            "note": {"type": ["string", "null"]},
            "meta": {"type": ["object", "null"]},
            "paid": {"type": ["boolean", "null"]},
        },
    }
    events_schema = {
        "type": "object",
        "properties": {"kind": {"type": ["string", "null"]}, "ref": {"type": ["string", "null"]}},
    }
    msgs: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "charges", "key_properties": ["id"], "schema": charges_schema}
    ]
    msgs += [{"type": "RECORD", "stream": "charges", "record": r} for r in CHARGES]
    msgs.append(
        {"type": "SCHEMA", "stream": "events", "key_properties": [], "schema": events_schema}
    )
    msgs += [{"type": "RECORD", "stream": "events", "record": r} for r in EVENTS]
    msgs.append({"type": "STATE", "value": {"bookmarks": {"charges": {"done": True}}}})
    return [json.dumps(m) + "\n" for m in msgs]


def target_config(db: Path, batch_size_rows: int = 3) -> dict[str, Any]:
    return {
        "filepath": str(db),
        "default_target_schema": "demo",
        "primary_key_required": False,
        # Small batches: each batch of all-VARCHAR events used to lose its first row.
        "batch_size_rows": batch_size_rows,
    }


def read_back(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "charges": con.execute(
                "SELECT id, amount, note, meta, paid FROM demo.charges ORDER BY id"
            ).fetchall(),
            "events": con.execute("SELECT kind, ref FROM demo.events ORDER BY kind").fetchall(),
        }
    finally:
        con.close()


def expected_rows() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "charges": [
            (
                r["id"],
                r["amount"],
                r["note"],
                None if r["meta"] is None else json.dumps(r["meta"]),
                r["paid"],
            )
            for r in CHARGES
        ],
        "events": [(r["kind"], r["ref"]) for r in EVENTS],
    }


# --------------------------------------------------------------------------- in-process


#: (target_duckdb, its DbSync class, target_duckdb_lossless); target_duckdb ships no type hints.
TargetModules = tuple[ModuleType, Any, ModuleType]


@pytest.fixture
def target_modules(monkeypatch: pytest.MonkeyPatch) -> TargetModules:
    """(target_duckdb, DbSync, target_duckdb_lossless), with DbSync restored afterwards."""
    try:
        import target_duckdb
        from target_duckdb.db_sync import DbSync
    except ImportError as exc:
        pytest.skip(
            f"target_duckdb is not importable ({exc}); "
            "pip install -e ./plugins/target-duckdb-lossless to run these tests"
        )
    try:
        import target_duckdb_lossless
    except ImportError:
        monkeypatch.syspath_prepend(str(PLUGIN_DIR))
        import target_duckdb_lossless
    # Record the current method so whatever a test does is undone at teardown.
    monkeypatch.setattr(DbSync, "load_rows", DbSync.load_rows)
    return target_duckdb, DbSync, target_duckdb_lossless


def run_in_process(target_duckdb: ModuleType, db: Path, batch_size_rows: int = 3) -> None:
    config = target_config(db, batch_size_rows)
    con = target_duckdb.duckdb_connect(config)
    try:
        target_duckdb.persist_lines(con, config, singer_messages())
    finally:
        con.close()


def test_patched_loader_keeps_every_record(target_modules: TargetModules, tmp_path: Path) -> None:
    target_duckdb, _, lossless = target_modules
    lossless.apply_patch()
    assert lossless.is_patched()

    db = tmp_path / "fixed.duckdb"
    run_in_process(target_duckdb, db)

    assert read_back(db) == expected_rows()


@pytest.mark.parametrize("batch_size_rows", [1, 2, 100_000])
def test_patched_loader_counts_for_any_batch_size(
    target_modules: TargetModules, tmp_path: Path, batch_size_rows: int
) -> None:
    target_duckdb, _, lossless = target_modules
    lossless.apply_patch()

    db = tmp_path / "fixed.duckdb"
    run_in_process(target_duckdb, db, batch_size_rows)

    rows = read_back(db)
    assert len(rows["charges"]) == len(CHARGES)
    assert len(rows["events"]) == len(EVENTS)


def test_apply_patch_is_idempotent(target_modules: TargetModules) -> None:
    _, db_sync_cls, lossless = target_modules
    lossless.apply_patch()
    patched = db_sync_cls.load_rows
    lossless.apply_patch()
    assert db_sync_cls.load_rows is patched
    assert lossless.is_patched()


def test_unpatched_loader_shows_the_defect(target_modules: TargetModules, tmp_path: Path) -> None:
    """Documents why the patch exists: target-duckdb 0.8.0 as released loses rows."""
    target_duckdb, _, lossless = target_modules
    assert not lossless.is_patched()

    db = tmp_path / "stock.duckdb"
    run_in_process(target_duckdb, db)

    rows = read_back(db)
    lost_events = len(EVENTS) - len(rows["events"])
    if lost_events == 0:
        pytest.skip(f"DuckDB {duckdb.__version__} does not drop the first CSV row here")
    # One row lost per batch of 3: batches of sizes 3 and 2.
    assert lost_events == 2


def test_copy_statement_is_explicit() -> None:
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        from target_duckdb_lossless import copy_statement
    finally:
        sys.path.remove(str(PLUGIN_DIR))
    sql = copy_statement("tmp_x", "/tmp/it's.csv", ";", "'")
    assert "HEADER false" in sql
    assert "AUTO_DETECT false" in sql
    assert "FROM '/tmp/it''s.csv'" in sql
    assert "DELIMITER ';'" in sql
    assert "QUOTE ''''" in sql


# --------------------------------------------------------------------------- console script


def find_console_script() -> str | None:
    candidates = [
        Path(sys.executable).parent / "target-duckdb-lossless",
        ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "target-duckdb-lossless",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("target-duckdb-lossless")


def test_console_script_keeps_every_record(tmp_path: Path) -> None:
    exe = find_console_script()
    if exe is None:
        pytest.skip(
            "target-duckdb-lossless is not installed (run `meltano install` or "
            "pip install -e ./plugins/target-duckdb-lossless)"
        )
    db = tmp_path / "not" / "yet" / "there" / "cli.duckdb"  # the script creates the folder
    config = tmp_path / "config.json"
    config.write_text(json.dumps(target_config(db)))

    proc = subprocess.run(
        [exe, "--config", str(config)],
        input="".join(singer_messages()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    # The target echoes the last STATE once everything is loaded.
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "bookmarks": {"charges": {"done": True}}
    }
    assert read_back(db) == expected_rows()


@pytest.mark.parametrize("path", [":memory:", "md:warehouse", "s3://bucket/warehouse.duckdb"])
def test_no_folder_is_made_for_databases_that_are_not_local_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    from target_duckdb_lossless import ensure_database_folder

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"filepath": path}))
    assert ensure_database_folder(["--config", str(config)]) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    local = tmp_path / "a" / "b.duckdb"
    config.write_text(json.dumps({"path": str(local)}))
    assert ensure_database_folder(["-c", str(config)]) == str(local.parent)
    assert local.parent.is_dir() and not local.exists()
