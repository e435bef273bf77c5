"""The benchmark command runs end to end at a tiny size (tap-example only, no peer installs).

This checks that ``benchmarks/run.py --quick`` works and prints its report, not that the
timing or memory goals are met: those depend on the machine and belong to a full benchmark
run. What is asserted are counts, functional and deterministic: the incremental goal (a fixed
server, a fixed bookmark, no page fetched ahead for newest-first lists) and the requests of the
latency-bound cases (every page requested exactly once, fanned out or not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def load_run(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``benchmarks/run.py`` as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmark_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_run", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run() -> str:
    """The stdout of ``benchmarks/run.py --quick`` (every case, tiny sizes), run once."""
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_benchmark_prints_its_tables_and_goals(quick_run: str) -> None:
    out = quick_run
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


def test_the_quick_run_covers_the_latency_bound_cases(quick_run: str) -> None:
    out = quick_run
    assert "| extractor | wall | tap-example / this | peak in flight | requests |" in out
    # The offset list: 1,000 records in 5 pages of 200, each requested exactly once.
    offset = re.search(
        r"^\| tap-example, offset \+ total_path, max_concurrency 16 \| [\d.]+ s \|  \| (\d+) \| 5 \|$",
        out,
        re.MULTILINE,
    )
    assert offset and int(offset[1]) >= 1, out
    # The eight lists: 3 pages each (200, 200, 50), 24 requests, with max_parallel_streams if
    # this tap-example has it (else a note says it ran without).
    lists = re.search(
        r"^\| tap-example, max_parallel_streams (8|not set), max_concurrency 16 "
        r"\| [\d.]+ s \|  \| (\d+) \| 24 \|$",
        out,
        re.MULTILINE,
    )
    assert lists and int(lists[2]) >= 1, out
    if lists[1] == "not set":
        assert "Note: " in out and "max_parallel_streams" in out, out
    assert (
        "| 5. latency-bound offset list vs minimal SDK tap | n/a | <= 0.3x | n/a (peer missing) |"
        in out
    )
    assert (
        "| 6. eight latency-bound streams vs minimal SDK tap | n/a | <= 0.3x | n/a (peer missing) |"
        in out
    )
    # The goals stay in their order: issue 6's four, then issue 16's two.
    numbers = [line.split(".")[0] for line in out.splitlines() if re.match(r"\| \d\. ", line)]
    assert numbers == sorted(numbers), numbers


def test_cases_name_cases_and_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    run = load_run(monkeypatch)
    assert run.parse_cases("all") == ["big", "children", "offset", "lists"]
    assert run.parse_cases("latency") == ["offset", "lists"]
    assert run.parse_cases("lists, big") == ["big", "lists"]
    assert run.parse_cases("issue6,offset") == ["big", "children", "offset"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown case 'latencies'"):
        run.parse_cases("latencies")


def test_peers_install_into_a_cache_folder_that_does_not_exist_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python benchmarks/run.py` on a fresh machine: the cache folder is created, not assumed."""
    module = load_run(monkeypatch)
    # A "peer" whose install needs no package index: pip itself, already in every new venv.
    monkeypatch.setitem(module.PEER_PACKAGES, "floor", ["pip"])
    cache = tmp_path / "no" / "cache" / "yet"
    python = module.install_peer("floor", cache)
    assert python is not None and python.exists()
    assert (cache / "install-floor.log").is_file()


def test_the_default_cache_folder_follows_xdg_even_when_it_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_run(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert module.default_cache_dir() == tmp_path / "tap-example-benchmarks"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty counts as unset: not the current folder
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert module.default_cache_dir() == tmp_path / "home" / ".cache" / "tap-example-benchmarks"


@pytest.mark.parametrize(
    ("first", "note"),
    [
        (("list_1: 0 of 450 records", ""), "refused max_parallel_streams 8 (list_1: 0 of 450"),
        (
            ("", "setting 'max_parallel_streams' is not a setting of tap-example and is ignored"),
            "does not know max_parallel_streams",
        ),
    ],
)
def test_the_lists_case_runs_without_max_parallel_streams_where_it_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: tuple[str, str], note: str
) -> None:
    run = load_run(monkeypatch)
    checked: list[dict[str, object]] = []

    def checked_run(work: Path, config: Path, expected: dict[str, int]) -> tuple[str, str]:
        checked.append(json.loads(config.read_text()))
        return first if len(checked) == 1 else ("", "")

    monkeypatch.setattr(run, "checked_run", checked_run)
    monkeypatch.setattr(run, "run_rounds", lambda *args, **kwargs: {})
    server = SimpleNamespace(base_url="http://127.0.0.1:9", counted=lambda runner: runner)
    args = argparse.Namespace(list_records=450, latency=0.02, concurrency=16, parallel_streams=8)
    args.repeats = 1
    case = run.run_lists(args, {}, tmp_path, server)
    assert checked[0]["max_parallel_streams"] == 8
    assert all("max_parallel_streams" not in config for config in checked[1:])
    assert len(case.notes) == 1 and note in case.notes[0], case.notes
    assert case.labels["tap-example"].startswith("tap-example, max_parallel_streams not set")
    written = json.loads((tmp_path / "lists.json").read_text())
    assert "max_parallel_streams" not in written  # the timed runs go without it too
