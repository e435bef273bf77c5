"""The benchmark command runs end to end at a tiny size (tap-example only, no peer installs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert "| extractor | wall | records/s | peak RSS |" in out
    assert "| tap-example |" in out
    assert "| tap-example, max_concurrency 16 |" in out
    assert "| goal | measured | target | met |" in out
    # Peers are not installed in a quick run: their goals say so instead of failing.
    assert "| 1. big stream vs the floor | n/a | <= 2.5x | n/a (peer missing) |" in out
    memory = next(line for line in out.splitlines() if line.startswith("| 3. peak RSS"))
    assert memory.endswith("| yes |"), memory
    incremental = next(line for line in out.splitlines() if line.startswith("| 4. incremental"))
    assert incremental.endswith("| yes |"), incremental
