"""The benchmark command runs end to end at a tiny size (tap-example only, no peer installs).

This checks that ``benchmarks/run.py --quick`` works and prints its report, not that the
timing or memory goals are met: those depend on the machine and belong to a full benchmark
run. The one goal asserted here is the incremental one, a request count (functional and
deterministic: a fixed server, a fixed bookmark, no page fetched ahead for newest-first lists).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_the_benchmark_prints_its_tables_and_goals() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert "| extractor | wall | records/s | peak RSS |" in out
    assert re.search(r"^\| tap-example \| [\d.]+ s \| [\d,]+ \| \d+ MB \|$", out, re.MULTILINE), out
    assert re.search(r"^\| tap-example, max_concurrency 16 \| [\d.]+ s \|$", out, re.MULTILINE), out
    assert "| goal | measured | target | met |" in out
    # Peers are not installed in a quick run: their goals say so instead of failing.
    assert "| 1. big stream vs the floor | n/a | <= 2.5x | n/a (peer missing) |" in out
    # The memory goal is reported (measured and judged), whatever the verdict on this machine.
    memory = next(line for line in lines if line.startswith("| 3. peak RSS"))
    assert re.fullmatch(
        r"\| 3\. peak RSS at [\d,]+ vs [\d,]+ records \| [\d.]+x \| <= 1\.2x \| (yes|NO) \|", memory
    ), memory
    # Incremental newest-first: a request count, so it is checked, not just printed.
    incremental = next(line for line in lines if line.startswith("| 4. incremental"))
    assert incremental.endswith("| yes |"), incremental


def test_peers_install_into_a_cache_folder_that_does_not_exist_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python benchmarks/run.py` on a fresh machine: the cache folder is created, not assumed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_run", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    # A "peer" whose install needs no package index: pip itself, already in every new venv.
    monkeypatch.setitem(module.PEER_PACKAGES, "floor", ["pip"])
    cache = tmp_path / "no" / "cache" / "yet"
    python = module.install_peer("floor", cache)
    assert python is not None and python.exists()
    assert (cache / "install-floor.log").is_file()
