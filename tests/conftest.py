"""Shared fixtures: sandbox APIs on 127.0.0.1, and helpers to run the tap in-process."""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tap_example.definition import load_definition
from tap_example.sandbox import API_NAMES, SandboxServer
from tap_example.tap import TapExample

#: Settings every test run uses: fast retries, no real waiting.
FAST = {"backoff_factor": 0.01}

_shared: dict[str, SandboxServer] = {}


def shared_sandbox(api: str) -> SandboxServer:
    """One long-lived, read-only sandbox per API for the SDK's standard tests.

    The standard test classes need their config when the module is imported, before fixtures
    run, so these servers start on first use and stop when the test session ends.
    """
    if api not in _shared:
        # Several tap instances share one config here, so the refresh token must stay valid.
        _shared[api] = SandboxServer(api=api, seed=0, rotate_refresh_token=False).start()
        atexit.register(_shared[api].stop)
    return _shared[api]


@pytest.fixture(autouse=True)
def private_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test (and every tap process it starts) keeps rotated refresh tokens in a fresh
    temporary state directory, never in the real home (``token_store_dir``'s default)."""
    state_home = tmp_path_factory.mktemp("state-home")
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    return state_home


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """A fresh sandbox for one test: ``@pytest.mark.parametrize('sandbox', [...], indirect=True)``
    with an API name or a dict of ``SandboxServer`` options."""
    options: Any = getattr(request, "param", "payments")
    kwargs = {"api": options} if isinstance(options, str) else dict(options)
    with SandboxServer(**kwargs) as server:
        yield server


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run a full sync in-process and return the Singer messages it wrote."""
    tap = TapExample(config={**FAST, **config}, state=state, catalog=catalog, validate_config=True)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def run_cli(
    config: dict[str, Any], tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tap-example --config <config> [args]`` as a user would, in a subprocess."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    command = [
        sys.executable,
        "-c",
        "from tap_example.tap import TapExample; TapExample.cli()",
        "--config",
        str(path),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)


def record_counts(messages: list[dict[str, Any]]) -> Counter[str]:
    return Counter(m["stream"] for m in messages if m["type"] == "RECORD")


def server_counts(server: SandboxServer) -> Counter[str]:
    return Counter({stream: len(server.records(stream)) for stream in server.streams})


def records_by_stream(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each stream's records, in the order they were written."""
    found: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            found.setdefault(message["stream"], []).append(message["record"])
    return found


def last_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1] if states else {}


__all__ = [
    "API_NAMES",
    "FAST",
    "last_state",
    "record_counts",
    "records_by_stream",
    "run_tap",
    "server_counts",
    "shared_sandbox",
]


def load_into(target: str | Path, config: Path, messages: list[dict[str, Any]]) -> None:
    """Pipe Singer ``messages`` into the target executable ``target`` with ``config``; a
    failed load fails the test with the target's last words."""
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    done = subprocess.run(
        [str(target), "--config", str(config)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="session")
def target_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """target-jsonl in a virtualenv of its own (targets never share the tap's environment)."""
    import venv

    home = tmp_path_factory.mktemp("target-jsonl")
    venv.create(home, with_pip=True)
    pip = subprocess.run(
        [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", "target-jsonl"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    return home / "bin" / "target-jsonl"


def find_duckdb_loader() -> str | None:
    """target-duckdb-lossless beside this Python or on PATH (scripts/test.sh installs it)."""
    beside = Path(sys.executable).parent / "target-duckdb-lossless"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("target-duckdb-lossless")


_STATUS_FAULTS = ("401", "403", "429", "500", "502", "503", "504")


def chaos_fault_kinds(api: str) -> tuple[str, ...]:
    """The faults an API's definition says are transient: its retry status codes (429 also
    with an HTTP-date ``Retry-After``), plus connection resets and truncated or non-JSON bodies."""
    definition = load_definition(api=api, strict=False)
    codes = set.intersection(
        *(set(r.error_handler.retry_on_status_codes) for r in definition.resources)
    )
    kinds = [kind for kind in _STATUS_FAULTS if int(kind) in codes]
    if "429" in kinds:
        kinds.append("429-date")
    return (*kinds, "reset", "truncated", "nonjson")
