"""tap-example against its peers, side by side, on one local benchmark API.

    python benchmarks/run.py                 # every case, 3 repeats, all peers (~10 minutes)
    python benchmarks/run.py --quick         # tiny sizes, tap-example only (a smoke run)
    python benchmarks/run.py --records 20000 --repeats 5 --peers sdk,floor
    python benchmarks/run.py --cases latency --repeats 3 --peers sdk,dlt

It starts ``benchmarks/server.py`` (threaded: a HAL stream of ``--records`` records of 15 fields
in pages of 200, newest first, plus 1,000 parents whose child endpoint answers after 20 ms),
installs each peer in its own virtualenv under ``--cache-dir`` (created if missing; a peer that
fails to install is reported and skipped), runs every extractor ``--repeats`` times in turn
with stdout to /dev/null, and prints medians (wall time, records/s, peak RSS) and the goals.

The cases (``--cases``, comma-separated; default ``all``):

- ``big``: the big stream against every peer, then tap-example at ``--scale`` times the records
  (memory) and from a bookmark (incremental);
- ``children``: the child partitions, tap-example against the SDK's sequential child stream;
- ``offset`` (latency-bound): one offset-paginated list whose body gives the total,
  ``--offset-records`` records (20,000: 100 pages of 200), every page answered after
  ``--latency`` seconds (30 ms). tap-example fans the pages out (up to ``max_concurrency`` in
  flight), the SDK tap pages with its ``OffsetPaginator`` one page after another, dlt with its
  ``offset`` paginator and ``total_path``;
- ``lists`` (latency-bound): eight independent top-level next-link lists of ``--list-records``
  records each (2,500: 13 pages of 200, the last partial), ``--latency`` a page. tap-example
  runs with ``max_parallel_streams: --parallel-streams`` (8; if this tap-example refuses or
  ignores the setting it runs without it, and the report says so), the SDK tap syncs the eight
  streams one after another, dlt its eight resources ``parallelized: True`` with 8 workers;
- ``latency`` is ``offset,lists``; ``issue6`` is ``big,children``.

The latency cases run against the SDK tap and dlt only (the other peers are skipped there);
for each they print the median wall time, tap-example's time as a share of each peer's, and
the most requests in flight the server saw (``/stats``, reset before every run).

The goals (issue 6, then issue 16):

1. throughput: tap-example <= 0.35x the minimal SDK tap (issue 16; issue 6 asked 0.4x),
   <= 1.0x dlt, <= 2.5x the floor;
2. children: tap-example with ``max_concurrency: 16`` <= 0.1x the SDK's sequential child stream;
3. memory: tap-example's peak RSS at 10x the records <= 1.2x its peak at 1x;
4. incremental: a newest-first sync from a bookmark requests only the pages newer than it;
5. latency-bound offset list: tap-example <= 0.3x the minimal SDK tap;
6. eight latency-bound streams: tap-example <= 0.3x the minimal SDK tap.

Only 127.0.0.1 is contacted (plus the package index when installing peers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
API = HERE / "api"
PAGE_SIZE = 200
#: The peers: how to install each, and what to call it in the table.
PEER_PACKAGES = {
    "sdk": ["singer-sdk==0.54.9"],
    "msdk": ["tap-rest-api-msdk==1.4.2"],
    "dlt": ["dlt"],  # extraction only: no destination extras
    "floor": ["requests", "orjson"],
}
PEER_TITLES = {
    "tap-example": "tap-example",
    "sdk": "minimal singer-sdk 0.54.9 RESTStream tap",
    "msdk": "tap-rest-api-msdk 1.4.2",
    "dlt": "dlt rest_api (extraction only)",
    "floor": "plain requests + orjson (the floor)",
}
#: The cases, in the order they run, and the names that stand for several.
CASES = ("big", "children", "offset", "lists")
CASE_GROUPS = {"all": CASES, "issue6": ("big", "children"), "latency": ("offset", "lists")}
#: The peers of the latency-bound cases (the others are not run there).
LATENCY_PEERS = ("sdk", "dlt")
#: The eight lists of the ``lists`` case (``benchmarks/api/eight_lists.yaml``).
LISTS = 8
#: The goal of both latency-bound cases: tap-example's wall time as a share of the SDK tap's.
LATENCY_TARGET = 0.3


# --------------------------------------------------------------------------- plumbing


class BenchServer:
    """``benchmarks/server.py`` in its own process."""

    def __init__(
        self,
        records: int,
        parents: int,
        child_latency: float,
        *,
        lists: int = 0,
        list_records: int = 0,
        page_latency: float = 0.0,
    ) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "server.py"),
                f"--records={records}",
                f"--parents={parents}",
                f"--child-latency={child_latency}",
                f"--lists={lists}",
                f"--list-records={list_records}",
                f"--page-latency={page_latency}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stats(self, *, reset: bool = False) -> dict:
        request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
            f"{self.base_url}/stats", method="POST" if reset else "GET", data=b"" if reset else None
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.loads(answer.read())

    def counted(self, runner: Callable[[], Run]) -> Callable[[], Run]:
        """``runner`` with the server's counters reset before it and read after it: the run
        gets the requests it sent and the most the server had in flight at once."""

        def run() -> Run:
            self.stats(reset=True)
            result = runner()
            stats = self.stats()
            result.requests = sum(stats["requests"].values())
            result.peak = stats["max_in_flight"]
            return result

        return run

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Run:
    wall: float
    rss_mb: float
    ok: bool
    error: str = ""
    #: Requests the server answered during the run, and the most it had in flight at once.
    requests: int | None = None
    peak: int | None = None


@dataclass
class Result:
    name: str
    records: int
    runs: list[Run] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def wall(self) -> float | None:
        runs = self.ok_runs
        return statistics.median(r.wall for r in runs) if runs else None

    @property
    def rss(self) -> float | None:
        runs = self.ok_runs
        return statistics.median(r.rss_mb for r in runs) if runs else None

    @property
    def peak(self) -> int | None:
        """The most requests in flight the server saw in any run."""
        peaks = [r.peak for r in self.ok_runs if r.peak is not None]
        return max(peaks) if peaks else None

    @property
    def requests(self) -> int | None:
        counts = [r.requests for r in self.ok_runs if r.requests is not None]
        return round(statistics.median(counts)) if counts else None


def measure(argv: list[str], *, stdout: int | None = None, env: dict | None = None) -> Run:
    """Run ``argv`` to completion: wall time, peak RSS of the process (MB), success."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        ok = process.returncode == 0
        message = ""
        if not ok:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            message = lines[-1] if lines else f"exit code {process.returncode}"
        return Run(wall, usage.ru_maxrss / 1024, ok, message)


def run_rounds(
    runners: dict[str, Callable[[], Run]], records: int, repeats: int, *, show: str = "rss"
) -> dict[str, Result]:
    """Every runner ``repeats`` times, taking turns; a progress line per run."""
    results = {name: Result(name, records) for name in runners}
    for repeat in range(repeats):
        for name, runner in runners.items():
            run = runner()
            results[name].runs.append(run)
            if not run.ok:
                status = f"FAILED: {run.error}"
            elif show == "rss":
                status = f"{run.wall:6.2f} s {run.rss_mb:6.1f} MB"
            elif show == "peak":
                status = f"{run.wall:6.2f} s {run.requests} requests, peak {run.peak} in flight"
            else:
                status = f"{run.wall:6.2f} s"
            print(f"  run {repeat + 1} {name:12} {status}", flush=True)
    return results


def install_peer(name: str, cache: Path) -> Path | None:
    """The peer's virtualenv python, installing it once; ``None`` (and why) if that fails."""
    venv = cache / "venvs" / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = " ".join(PEER_PACKAGES[name])
    if marker.is_file() and marker.read_text() == wanted and python.exists():
        return python
    print(f"installing {PEER_TITLES[name]} into {venv} ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)  # a fresh machine has no cache folder yet
    log = cache / f"install-{name}.log"
    with log.open("w") as out:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES[name]],
        ]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
                lines = [
                    line
                    for line in log.read_text().splitlines()
                    if line.strip() and "is ignored" not in line
                ]
                reason = lines[-1] if lines else "no output"
                print(f"  skipped {name}: install failed: {reason} (log: {log})", flush=True)
                return None
    marker.write_text(wanted)
    return python


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tap-example-benchmarks`` (``~/.cache`` when unset or empty)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
        "tap-example-benchmarks"
    )


def write_json(directory: Path, name: str, payload: object) -> Path:
    path = directory / name
    path.write_text(json.dumps(payload))
    return path


class CheckError(Exception):
    """tap-example's checked run of a case did not deliver every record."""


# --------------------------------------------------------------------------- the benchmark


def compile_tap_example() -> None:
    """Byte-compile tap-example as pip compiles an installed package (and the peers): an editable
    checkout run with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile ~10,000 lines on every
    run, which the peers never pay."""
    import compileall

    import tap_example

    compileall.compile_dir(str(Path(tap_example.__file__).parent), quiet=1)


def tap_example_argv(config: Path, state: Path | None = None) -> list[str]:
    argv = [sys.executable, "-c", "from tap_example.tap import TapExample; TapExample.cli()"]
    argv += ["--config", str(config)]
    return argv + (["--state", str(state)] if state else [])


def msdk_config(base_url: str) -> dict:
    return {
        "api_url": base_url,
        "pagination_request_style": "jsonpath_paginator",
        "pagination_response_style": "hateoas_body",
        "next_page_token_path": "$._links.next.href",
        "streams": [
            {
                "name": "items",
                "path": "/items",
                "params": {"limit": PAGE_SIZE},
                "primary_keys": ["id"],
                "records_path": "$._embedded.items[*]",
                "schema": str(API / "schemas" / "items.json"),
            }
        ],
    }


def count_records(path: Path, stream: str) -> int:
    needle = f'"type":"RECORD","stream":"{stream}"'.encode()
    with path.open("rb") as lines:
        return sum(1 for line in lines if needle in line)


def checked_run(work: Path, config: Path, expected: dict[str, int]) -> tuple[str, str]:
    """tap-example once with its output kept (not timed): what is wrong with the records it
    wrote ("" if every stream has its ``expected`` count) and what it said on stderr."""
    out_path = work / "check.jsonl"
    with out_path.open("wb") as out, tempfile.TemporaryFile() as errors:
        done = subprocess.run(
            tap_example_argv(config),
            stdout=out,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    try:
        if done.returncode:
            lines = stderr.strip().splitlines()
            return (lines[-1] if lines else f"exit code {done.returncode}"), stderr
        wrong = [
            f"{stream}: {got} of {want} records"
            for stream, want in expected.items()
            if (got := count_records(out_path, stream)) != want
        ]
        return "; ".join(wrong), stderr
    finally:
        out_path.unlink(missing_ok=True)


def run_big(
    args: argparse.Namespace, pythons: dict[str, Path], work: Path, server: BenchServer
) -> tuple[dict[str, Result], Run, Run, int, int]:
    """The big stream against every peer, then memory at ``--scale`` and incremental."""
    base = server.base_url
    items_config = write_json(
        work, "items.json", {"api_file": str(API / "items.yaml"), "base_url": base}
    )
    # A checked run first: every record arrives (not timed).
    wrong, _ = checked_run(work, items_config, {"items": args.records})
    if wrong:
        raise CheckError(f"tap-example check run failed: {wrong}")

    runners: dict[str, Callable[[], Run]] = {
        "tap-example": lambda: measure(tap_example_argv(items_config))
    }
    if "sdk" in pythons:
        sdk_config = write_json(work, "sdk.json", {"base_url": base, "mode": "items"})
        runners["sdk"] = lambda: measure(
            [str(pythons["sdk"]), str(PEERS / "sdk_tap.py"), "--config", str(sdk_config)]
        )
    if "msdk" in pythons:
        config = write_json(work, "msdk.json", msdk_config(base))
        executable = str(pythons["msdk"].parent / "tap-rest-api-msdk")
        runners["msdk"] = lambda: measure([executable, "--config", str(config)])
    if "dlt" in pythons:
        runners["dlt"] = lambda: measure(
            [str(pythons["dlt"]), str(PEERS / "dlt_extract.py"), base],
            env={**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"},
        )
    if "floor" in pythons:
        runners["floor"] = lambda: measure([str(pythons["floor"]), str(PEERS / "floor.py"), base])

    print(
        f"\nbig stream: {args.records:,} records of 15 fields in pages of {PAGE_SIZE}; "
        f"{args.repeats} runs each, alternating",
        flush=True,
    )
    results = run_rounds(runners, args.records, args.repeats)

    # Memory: the same stream at --scale times the records.
    big_records = args.records * args.scale
    print(f"\nmemory: tap-example at {big_records:,} records", flush=True)
    big_server = BenchServer(big_records, 1, 0.0)
    try:
        big_config = write_json(
            work, "big.json", {"api_file": str(API / "items.yaml"), "base_url": big_server.base_url}
        )
        big_run = measure(tap_example_argv(big_config))
    finally:
        big_server.stop()
    print(
        f"  {big_run.wall:6.2f} s {big_run.rss_mb:6.1f} MB"
        if big_run.ok
        else f"  FAILED: {big_run.error}",
        flush=True,
    )

    # Incremental: a bookmark `newer` records from the top of a newest-first stream.
    newer = min(args.records - 1, 5 * PAGE_SIZE)
    sys.path.insert(0, str(HERE))
    from server import item_created

    state = write_json(
        work,
        "state.json",
        {
            "bookmarks": {
                "items": {
                    "replication_key": "created",
                    "replication_key_value": item_created(newer),
                }
            }
        },
    )
    server.stats(reset=True)
    incremental = measure(tap_example_argv(items_config, state))
    requested = server.stats()["requests"].get("items", 0)
    needed = newer // PAGE_SIZE + 1  # the pages holding records at or after the bookmark
    return results, big_run, incremental, requested, needed


def run_children(
    args: argparse.Namespace, pythons: dict[str, Path], work: Path, server: BenchServer
) -> dict[str, Result]:
    """tap-example with ``max_concurrency`` against the SDK's sequential child stream."""
    base = server.base_url
    children_config = write_json(
        work,
        "children.json",
        {
            "api_file": str(API / "children.yaml"),
            "base_url": base,
            "max_concurrency": args.concurrency,
        },
    )
    print(
        f"\nchild partitions: {args.parents:,} parents, {args.child_latency * 1000:.0f} ms "
        "per child request",
        flush=True,
    )
    runners: dict[str, Callable[[], Run]] = {
        "tap-example": lambda: measure(tap_example_argv(children_config))
    }
    if "sdk" in pythons:
        sdk_children = write_json(work, "sdk-children.json", {"base_url": base, "mode": "children"})
        runners["sdk"] = lambda: measure(
            [str(pythons["sdk"]), str(PEERS / "sdk_tap.py"), "--config", str(sdk_children)]
        )
    return run_rounds(runners, args.parents, args.repeats, show="wall")


@dataclass
class LatencyCase:
    """A latency-bound case: what ran, how each extractor was set up, and the medians."""

    key: str
    title: str
    goal: str
    labels: dict[str, str]
    results: dict[str, Result]
    notes: list[str] = field(default_factory=list)


def latency_runners(
    pythons: dict[str, Path],
    work: Path,
    server: BenchServer,
    config: Path,
    mode: str,
    dlt_env: dict[str, str] | None = None,
) -> dict[str, Callable[[], Run]]:
    """tap-example with ``config``, the SDK tap and dlt in ``mode``, each counted by the server."""
    base = server.base_url
    runners: dict[str, Callable[[], Run]] = {
        "tap-example": server.counted(lambda: measure(tap_example_argv(config)))
    }
    if "sdk" in pythons:
        sdk_config = write_json(work, f"sdk-{mode}.json", {"base_url": base, "mode": mode})
        runners["sdk"] = server.counted(
            lambda: measure(
                [str(pythons["sdk"]), str(PEERS / "sdk_tap.py"), "--config", str(sdk_config)]
            )
        )
    if "dlt" in pythons:
        env = {**os.environ, "RUNTIME__LOG_LEVEL": "WARNING", **(dlt_env or {})}
        runners["dlt"] = server.counted(
            lambda: measure(
                [str(pythons["dlt"]), str(PEERS / "dlt_extract.py"), base, mode], env=env
            )
        )
    return runners


def run_offset(
    args: argparse.Namespace, pythons: dict[str, Path], work: Path, server: BenchServer
) -> LatencyCase:
    """One offset list with a total: tap-example's page fan-out against one page at a time."""
    records = args.offset_records
    pages = -(-records // PAGE_SIZE)
    title = (
        f"Latency-bound offset list: {records:,} records, {pages} pages of {PAGE_SIZE} with a "
        f"total, {args.latency * 1000:.0f} ms a page"
    )
    config = write_json(
        work,
        "offset.json",
        {
            "api_file": str(API / "offset_list.yaml"),
            "base_url": server.base_url,
            "max_concurrency": args.concurrency,
        },
    )
    wrong, _ = checked_run(work, config, {"items": records})
    if wrong:
        raise CheckError(f"tap-example check run of the offset list failed: {wrong}")
    print(f"\n{title[0].lower()}{title[1:]}; {args.repeats} runs each, alternating", flush=True)
    runners = latency_runners(pythons, work, server, config, "offset")
    return LatencyCase(
        key="offset",
        title=title,
        goal="5. latency-bound offset list vs minimal SDK tap",
        labels={
            "tap-example": f"tap-example, offset + total_path, max_concurrency {args.concurrency}",
            "sdk": f"{PEER_TITLES['sdk']}, OffsetPaginator (one page at a time)",
            "dlt": f"{PEER_TITLES['dlt']}, offset paginator + total_path",
        },
        results=run_rounds(runners, records, args.repeats, show="peak"),
    )


def run_lists(
    args: argparse.Namespace, pythons: dict[str, Path], work: Path, server: BenchServer
) -> LatencyCase:
    """Eight independent next-link lists: tap-example's ``max_parallel_streams`` against the
    SDK's one stream after another and dlt's parallelized resources."""
    records = args.list_records
    pages = -(-records // PAGE_SIZE)
    title = (
        f"Eight latency-bound lists: {LISTS} top-level next-link lists of {records:,} records "
        f"({pages} pages of up to {PAGE_SIZE}), {args.latency * 1000:.0f} ms a page"
    )
    settings: dict[str, object] = {
        "api_file": str(API / "eight_lists.yaml"),
        "base_url": server.base_url,
        "max_concurrency": args.concurrency,
        "max_parallel_streams": args.parallel_streams,
    }
    expected = {f"list_{n}": records for n in range(1, LISTS + 1)}
    notes: list[str] = []
    config = write_json(work, "lists.json", settings)
    wrong, stderr = checked_run(work, config, expected)
    if wrong or "'max_parallel_streams' is not a setting" in stderr:
        # Refused, or not (yet) a setting of this tap-example: it runs without it.
        del settings["max_parallel_streams"]
        config = write_json(work, "lists.json", settings)
        if wrong:
            notes.append(
                f"tap-example refused max_parallel_streams {args.parallel_streams} ({wrong}); "
                "it ran without the setting"
            )
            wrong, _ = checked_run(work, config, expected)
        else:
            notes.append(
                "this tap-example does not know max_parallel_streams (it says it ignores it): "
                "it ran without the setting, one stream after another"
            )
    if wrong:
        raise CheckError(f"tap-example check run of the eight lists failed: {wrong}")
    for note in notes:
        print(f"note: {note}", flush=True)
    if "dlt" in pythons:
        notes.append(
            "dlt's rest_api drops parallelized: True of a top-level resource (dlt 1.31: its "
            "resources ran one at a time), so benchmarks/peers/dlt_extract.py applies dlt's "
            "DltResource.parallelize() to a resource left without it"
        )
    parallel = settings.get("max_parallel_streams")
    print(f"\n{title[0].lower()}{title[1:]}; {args.repeats} runs each, alternating", flush=True)
    runners = latency_runners(
        pythons, work, server, config, "lists", dlt_env={"EXTRACT__WORKERS": str(LISTS)}
    )
    streams = f"max_parallel_streams {parallel}" if parallel else "max_parallel_streams not set"
    return LatencyCase(
        key="lists",
        title=title,
        goal="6. eight latency-bound streams vs minimal SDK tap",
        labels={
            "tap-example": f"tap-example, {streams}, max_concurrency {args.concurrency}",
            "sdk": f"{PEER_TITLES['sdk']} (one stream after another)",
            "dlt": f"{PEER_TITLES['dlt']}, parallelized: True, {LISTS} workers",
        },
        results=run_rounds(runners, records * LISTS, args.repeats, show="peak"),
        notes=notes,
    )


def parse_cases(value: str) -> list[str]:
    """``--cases``: case names and groups, comma-separated, in the order the cases run."""
    wanted: set[str] = set()
    for name in (part.strip() for part in value.split(",")):
        if name in CASE_GROUPS:
            wanted.update(CASE_GROUPS[name])
        elif name in CASES:
            wanted.add(name)
        elif name:
            choices = ", ".join([*CASES, *CASE_GROUPS])
            raise argparse.ArgumentTypeError(f"unknown case {name!r} (choose from {choices})")
    if not wanted:
        raise argparse.ArgumentTypeError("no case given")
    return [case for case in CASES if case in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        type=parse_cases,
        default="all",
        help="comma-separated: big, children, offset, lists, or the groups latency "
        "(offset,lists), issue6 (big,children), all (default)",
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parents", type=int, default=1000)
    parser.add_argument("--child-latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=16, help="tap-example's max_concurrency")
    parser.add_argument("--scale", type=int, default=10, help="records multiplier of the RSS run")
    parser.add_argument(
        "--latency", type=float, default=0.03, help="seconds per page in the latency-bound cases"
    )
    parser.add_argument(
        "--offset-records",
        type=int,
        default=20_000,
        help="records of the latency-bound offset list",
    )
    parser.add_argument(
        "--list-records", type=int, default=2_500, help="records of each of the eight lists"
    )
    parser.add_argument(
        "--parallel-streams",
        type=int,
        default=LISTS,
        help="tap-example's max_parallel_streams in the lists case",
    )
    parser.add_argument(
        "--peers", default="sdk,msdk,dlt,floor", help="comma-separated peers, or 'none'"
    )
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repeat, no peers: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.repeats, args.parents, args.peers = 2000, 1, 40, "none"
        args.child_latency, args.scale = 0.005, 3
        args.latency, args.offset_records, args.list_records = 0.02, 1000, 450
    cases: list[str] = args.cases
    peers = [] if args.peers in ("", "none") else [p.strip() for p in args.peers.split(",")]
    unknown = set(peers) - set(PEER_PACKAGES)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if not {"big", "children"} & set(cases):
        idle = [peer for peer in peers if peer not in LATENCY_PEERS]
        if idle:
            print(f"not installed: {', '.join(idle)} (no case of {', '.join(cases)} runs them)")
        peers = [peer for peer in peers if peer in LATENCY_PEERS]

    compile_tap_example()
    pythons: dict[str, Path] = {}
    for peer in peers:
        python = install_peer(peer, args.cache_dir)
        if python is not None:
            pythons[peer] = python

    work = Path(tempfile.mkdtemp(prefix="tap-example-bench-"))
    servers: list[BenchServer] = []
    big: tuple[dict[str, Result], Run, Run, int, int] | None = None
    child_results: dict[str, Result] | None = None
    latency: list[LatencyCase] = []
    try:
        if "big" in cases or "children" in cases:
            server = BenchServer(args.records, args.parents, args.child_latency)
            servers.append(server)
            if "big" in cases:
                big = run_big(args, pythons, work, server)
            if "children" in cases:
                child_results = run_children(args, pythons, work, server)
        if "offset" in cases or "lists" in cases:
            slow = BenchServer(
                args.offset_records,
                1,
                0.0,
                lists=LISTS,
                list_records=args.list_records,
                page_latency=args.latency,
            )
            servers.append(slow)
            latency_pythons = {k: v for k, v in pythons.items() if k in LATENCY_PEERS}
            if "offset" in cases:
                latency.append(run_offset(args, latency_pythons, work, slow))
            if "lists" in cases:
                latency.append(run_lists(args, latency_pythons, work, slow))
    except CheckError as failed:
        print(failed)
        return 1
    finally:
        for running in servers:
            running.stop()
        shutil.rmtree(work, ignore_errors=True)

    print_report(args, big, child_results, latency)
    return 0


# --------------------------------------------------------------------------- the report


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return mine / theirs if mine and theirs else None


def print_report(
    args: argparse.Namespace,
    big: tuple[dict[str, Result], Run, Run, int, int] | None,
    child_results: dict[str, Result] | None,
    latency: list[LatencyCase],
) -> None:
    machine = f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    goals: list[tuple[str, float | None, float, str]] = []
    if big is not None:
        results, big_run, _, _, _ = big
        print(
            f"\n### Big stream: {args.records:,} records, medians of {args.repeats} ({machine})\n"
        )
        print("| extractor | wall | records/s | peak RSS |")
        print("|---|---|---|---|")
        for name, result in results.items():
            wall = result.wall
            rate = result.records / wall if wall else None
            print(
                f"| {PEER_TITLES[name]} | {_fmt(wall, '{:.2f} s')} | {_fmt(rate, '{:,.0f}')} "
                f"| {_fmt(result.rss, '{:.0f} MB')} |"
            )
        ours = results["tap-example"].wall
        goals += [
            ("1. big stream vs minimal SDK tap", _ratio(ours, _wall(results, "sdk")), 0.35, "x"),
            ("1. big stream vs dlt", _ratio(ours, _wall(results, "dlt")), 1.0, "x"),
            ("1. big stream vs the floor", _ratio(ours, _wall(results, "floor")), 2.5, "x"),
        ]
    if child_results is not None:
        print(
            f"\n### Child partitions: {args.parents:,} parents, "
            f"{args.child_latency * 1000:.0f} ms per child request\n"
        )
        print("| extractor | wall |")
        print("|---|---|")
        for name, result in child_results.items():
            label = (
                f"tap-example, max_concurrency {args.concurrency}"
                if name == "tap-example"
                else f"{PEER_TITLES[name]} (sequential)"
            )
            print(f"| {label} | {_fmt(result.wall, '{:.2f} s')} |")
        goals.append(
            (
                f"2. children (max_concurrency {args.concurrency}) vs SDK sequential",
                _ratio(_wall(child_results, "tap-example"), _wall(child_results, "sdk")),
                0.1,
                "x",
            )
        )
    if big is not None:
        results, big_run, _, _, _ = big
        goals.append(
            (
                f"3. peak RSS at {args.records * args.scale:,} vs {args.records:,} records",
                _ratio(big_run.rss_mb, results["tap-example"].rss) if big_run.ok else None,
                1.2,
                "x",
            )
        )
    for case in latency:
        print(f"\n### {case.title}, medians of {args.repeats} ({machine})\n")
        print("| extractor | wall | tap-example / this | peak in flight | requests |")
        print("|---|---|---|---|---|")
        ours = _wall(case.results, "tap-example")
        for name, result in case.results.items():
            share = "" if name == "tap-example" else _fmt(_ratio(ours, result.wall), "{:.2f}x")
            print(
                f"| {case.labels[name]} | {_fmt(result.wall, '{:.2f} s')} | {share} "
                f"| {_fmt(result.peak, '{}')} | {_fmt(result.requests, '{}')} |"
            )
        for note in case.notes:
            print(f"\nNote: {note}.")
        goals.append((case.goal, _ratio(ours, _wall(case.results, "sdk")), LATENCY_TARGET, "x"))

    rows = []
    for label, value, target, unit in goals:
        met = "n/a (peer missing)" if value is None else ("yes" if value <= target else "NO")
        rows.append(f"| {label} | {_fmt(value, '{:.2f}' + unit)} | <= {target}{unit} | {met} |")
    if big is not None:
        _, _, incremental, requested, needed = big
        if incremental.ok:
            met = "yes" if requested <= needed else "NO"
            row = (
                f"| 4. incremental newest-first: requests for pages newer than the bookmark "
                f"| {requested} | <= {needed} | {met} |"
            )
        else:
            row = f"| 4. incremental newest-first | FAILED: {incremental.error} | | NO |"
        rows.append(row)
    print("\n### Goals\n")
    print("| goal | measured | target | met |")
    print("|---|---|---|---|")
    for row in sorted(rows, key=lambda row: row.split(".")[0]):  # by number; stable within one
        print(row)


def _wall(results: dict[str, Result], name: str) -> float | None:
    result = results.get(name)
    return result.wall if result else None


if __name__ == "__main__":
    sys.exit(main())
