"""End to end: `meltano run tap-example target-duckdb` loses no record.

For each API (payments first), runs the project's own meltano.yml with
`--environment=<api>` (the tap with `sandbox: true`: an in-process sandbox with
the default seed 0) into a temporary DuckDB file, then checks that every stream
became a table in schema `<api>` whose row count equals the number of records
the sandbox holds for that stream, as reported by
``SandboxServer(api=<api>, seed=0).records(stream)``.

Nothing of the project's own output is touched: the DuckDB file and Meltano's
system database (run state) are redirected into pytest's tmp_path by
environment variables. Plugins are installed into the project's .meltano/ by
one `meltano install` (a minute or two the first time; seconds afterwards).
Each `meltano run` takes about ten seconds.

Skipped when the `meltano` executable is not found next to the running Python
or on PATH (scripts/demo.sh installs it into .venv).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# payments first: the API the demo defaults to
APIS = ["payments", "billing", "crm", "commerce", "clinical"]
SEED = 0
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 600
#: A line of the extractor in Meltano's console log: "<time> [<level>] tap-example <message>".
TAP_LINE = re.compile(r"^\S+ \[\w+\s*\] tap-example ")


def find_meltano() -> str | None:
    beside_python = Path(sys.executable).parent / "meltano"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("meltano")


def table_name(stream: str) -> str:
    """The table target-duckdb 0.8.0 creates for a stream (db_sync.DbSync.table_name)."""
    # "<schema>-<table>" stream names are split on "-" by target-duckdb.
    name = stream.split("-")[-1] if stream.count("-") == 1 else stream
    return name.replace(".", "_").replace("-", "_").lower()


def run(cmd: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raw = exc.stderr or b""
        # TimeoutExpired carries bytes even with text=True
        stderr = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout}s:\n{stderr[-6000:]}")
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc


def meltano_env(tmp: Path, api: str, warehouse: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        # Pin the API even if the caller exported another one.
        "TAP_EXAMPLE_API": api,
        # Keep run state out of the project's .meltano/meltano.db.
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
    }
    if warehouse is not None:
        env["TARGET_DUCKDB_FILEPATH"] = str(warehouse)  # load into a throwaway file
    env.pop("MELTANO_ENVIRONMENT", None)
    return env


@pytest.fixture(scope="module")
def meltano(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The meltano executable, after `meltano install` of the project's plugins."""
    exe = find_meltano()
    if exe is None:
        pytest.skip(
            "meltano is not installed (not beside this Python nor on PATH); "
            "scripts/demo.sh installs it into .venv, or: pip install 'meltano>=4.0,<5'"
        )
    tmp = tmp_path_factory.mktemp("meltano-install")
    run([exe, "install"], meltano_env(tmp, APIS[0]), INSTALL_TIMEOUT_S)
    return exe


@pytest.mark.parametrize("api", APIS)
def test_meltano_run_loads_every_sandbox_record(meltano: str, tmp_path: Path, api: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    try:
        from tap_example.sandbox import SandboxServer
    except ImportError as exc:
        pytest.skip(f"tap_example.sandbox.SandboxServer is not importable: {exc}")

    warehouse = tmp_path / "no-folder-yet" / "warehouse.duckdb"  # the loader creates the folder
    proc = run(
        [meltano, f"--environment={api}", "run", "--full-refresh", "tap-example", "target-duckdb"],
        meltano_env(tmp_path, api, warehouse),
        RUN_TIMEOUT_S,
    )

    server = SandboxServer(api=api, seed=SEED)
    expected = {table_name(stream): len(server.records(stream)) for stream in server.streams}
    assert expected, "the sandbox reports no streams"

    assert warehouse.is_file(), "target-duckdb wrote no database file"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
                [api],
            ).fetchall()
        ]
        loaded = {
            name: con.execute(f'SELECT count(*) FROM "{api}"."{name}"').fetchone()[0]
            for name in tables
        }
    finally:
        con.close()

    assert loaded == expected

    # A clean run is quiet: no warning from the tap, at most one tap line per four records.
    tap_lines = [line for line in proc.stderr.splitlines() if TAP_LINE.search(line)]
    assert not [line for line in tap_lines if "[warning" in line or "[error" in line], tap_lines
    assert len(tap_lines) * 4 <= sum(expected.values()), "\n".join(tap_lines)
    assert sum("run summary: " in line for line in tap_lines) == 1


# --------------------------------------------------------------------------- across runs


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class StandaloneSandbox:
    """``tap-example-sandbox`` in its own process (Meltano's tap runs in another one)."""

    def __init__(self, *args: str) -> None:
        import json

        self.process = subprocess.Popen(
            [sys.executable, "-m", "tap_example.sandbox", "--port", str(free_port()), *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("{"):
            self.stop()
            pytest.fail(f"the sandbox did not start: {line!r}")
        self.config: dict[str, str] = json.loads(line)

    def env(self) -> dict[str, str]:
        """The tap's settings as Meltano environment variables (no in-process sandbox)."""
        variables = {f"TAP_EXAMPLE_{k.upper()}": str(v) for k, v in self.config.items()}
        return {**variables, "TAP_EXAMPLE_SANDBOX": "false"}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def test_a_field_that_appears_on_page_two_lands_as_a_new_column(
    meltano: str, tmp_path: Path
) -> None:
    """Schema contract evolve (the default), end to end: the sandbox's lists gain a field and
    change a type from their 26th record on; `meltano run` loads every record, the new field as
    a new column, and the type change does not fail the load."""
    duckdb = pytest.importorskip("duckdb")
    sandbox = StandaloneSandbox("--api", "payments", "--schema-drift-after", "25")
    try:
        warehouse = tmp_path / "warehouse.duckdb"
        env = {**meltano_env(tmp_path, "payments", warehouse), **sandbox.env()}
        run([meltano, "run", "--full-refresh", "tap-example", "target-duckdb"], env, RUN_TIMEOUT_S)
    finally:
        sandbox.stop()
    from tap_example.sandbox import SandboxServer

    server = SandboxServer(api="payments", seed=SEED)
    server.fake_api.evolve_fields(after=25)
    tiers = {r["id"]: r.get("loyalty_tier") for r in server.records("customers")}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = dict(con.execute("SELECT id, loyalty_tier FROM payments.customers").fetchall())
    finally:
        con.close()
    assert rows == tiers
    assert sum(tier is not None for tier in rows.values()) == len(tiers) - 25


def test_billing_state_then_commerce_in_one_environment(meltano: str, tmp_path: Path) -> None:
    """Two APIs run one after the other under one Meltano state ID: commerce is still complete
    (the bookmarks billing left under the same stream names are not applied to commerce)."""
    duckdb = pytest.importorskip("duckdb")
    from tap_example.sandbox import SandboxServer

    warehouse = tmp_path / "warehouse.duckdb"
    shared_state = ["--state-id-suffix", "shared"]
    for api in ("billing", "commerce"):
        env = meltano_env(tmp_path, api, warehouse)
        run([meltano, "run", *shared_state, "tap-example", "target-duckdb"], env, RUN_TIMEOUT_S)
    expected = len(SandboxServer(api="commerce", seed=SEED).records("customers"))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        (loaded,) = con.execute("SELECT count(*) FROM commerce.customers").fetchone()
    finally:
        con.close()
    assert loaded == expected
