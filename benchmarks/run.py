"""tap-example against its peers, side by side, on one local benchmark API.

    python benchmarks/run.py                 # 100,000 records, 3 repeats, all peers (~10 minutes)
    python benchmarks/run.py --quick         # tiny sizes, tap-example only (a smoke run)
    python benchmarks/run.py --records 20000 --repeats 5 --peers sdk,floor

It starts ``benchmarks/server.py`` (a HAL stream of ``--records`` records of 15 fields in pages
of 200, newest first, plus 1,000 parents whose child endpoint answers after 20 ms), installs
each peer in its own virtualenv under ``--cache-dir`` (a peer that fails to install is reported
and skipped), runs every extractor ``--repeats`` times in turn with stdout to /dev/null, and
prints medians (wall time, records/s, peak RSS) and the four goals of issue 6:

1. throughput: tap-example <= 0.4x the minimal SDK tap, <= 1.0x dlt, <= 2.5x the floor;
2. children: tap-example with ``max_concurrency: 16`` <= 0.1x the SDK's sequential child stream;
3. memory: tap-example's peak RSS at 10x the records <= 1.2x its peak at 1x;
4. incremental: a newest-first sync from a bookmark requests only the pages newer than it.

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


# --------------------------------------------------------------------------- plumbing


class BenchServer:
    """``benchmarks/server.py`` in its own process."""

    def __init__(self, records: int, parents: int, child_latency: float) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "server.py"),
                f"--records={records}",
                f"--parents={parents}",
                f"--child-latency={child_latency}",
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


def write_json(directory: Path, name: str, payload: object) -> Path:
    path = directory / name
    path.write_text(json.dumps(payload))
    return path


# --------------------------------------------------------------------------- the benchmark


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parents", type=int, default=1000)
    parser.add_argument("--child-latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=16, help="tap-example's max_concurrency")
    parser.add_argument("--scale", type=int, default=10, help="records multiplier of the RSS run")
    parser.add_argument(
        "--peers", default="sdk,msdk,dlt,floor", help="comma-separated peers, or 'none'"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "tap-example-benchmarks",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repeat, no peers: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.repeats, args.parents, args.peers = 2000, 1, 40, "none"
        args.child_latency, args.scale = 0.005, 3
    peers = [] if args.peers in ("", "none") else [p.strip() for p in args.peers.split(",")]
    unknown = set(peers) - set(PEER_PACKAGES)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")

    pythons: dict[str, Path] = {}
    for peer in peers:
        python = install_peer(peer, args.cache_dir)
        if python is not None:
            pythons[peer] = python

    work = Path(tempfile.mkdtemp(prefix="tap-example-bench-"))
    server = BenchServer(args.records, args.parents, args.child_latency)
    big_server: BenchServer | None = None
    try:
        base = server.base_url
        items_config = write_json(
            work, "items.json", {"api_file": str(API / "items.yaml"), "base_url": base}
        )
        children_config = write_json(
            work,
            "children.json",
            {
                "api_file": str(API / "children.yaml"),
                "base_url": base,
                "max_concurrency": args.concurrency,
            },
        )

        # A checked run first: every record arrives (not timed).
        check_out = work / "check.jsonl"
        with check_out.open("wb") as out:
            check = measure(tap_example_argv(items_config), stdout=out.fileno())
        got = count_records(check_out, "items") if check.ok else 0
        if not check.ok or got != args.records:
            print(
                f"tap-example check run failed: {check.error or f'{got} of {args.records} records'}"
            )
            return 1
        check_out.unlink()

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
            runners["floor"] = lambda: measure(
                [str(pythons["floor"]), str(PEERS / "floor.py"), base]
            )

        print(
            f"\nbig stream: {args.records:,} records of 15 fields in pages of {PAGE_SIZE}; "
            f"{args.repeats} runs each, alternating",
            flush=True,
        )
        results = {name: Result(name, args.records) for name in runners}
        for repeat in range(args.repeats):
            for name, runner in runners.items():
                run = runner()
                results[name].runs.append(run)
                status = (
                    f"{run.wall:6.2f} s {run.rss_mb:6.1f} MB" if run.ok else f"FAILED: {run.error}"
                )
                print(f"  run {repeat + 1} {name:12} {status}", flush=True)

        # Children: tap-example with max_concurrency vs the SDK's sequential child stream.
        print(
            f"\nchild partitions: {args.parents:,} parents, {args.child_latency * 1000:.0f} ms "
            "per child request",
            flush=True,
        )
        child_runners: dict[str, Callable[[], Run]] = {
            "tap-example": lambda: measure(tap_example_argv(children_config))
        }
        if "sdk" in pythons:
            sdk_children = write_json(
                work, "sdk-children.json", {"base_url": base, "mode": "children"}
            )
            child_runners["sdk"] = lambda: measure(
                [str(pythons["sdk"]), str(PEERS / "sdk_tap.py"), "--config", str(sdk_children)]
            )
        child_results = {name: Result(name, args.parents) for name in child_runners}
        for repeat in range(args.repeats):
            for name, runner in child_runners.items():
                run = runner()
                child_results[name].runs.append(run)
                status = f"{run.wall:6.2f} s" if run.ok else f"FAILED: {run.error}"
                print(f"  run {repeat + 1} {name:12} {status}", flush=True)

        # Memory: the same stream at --scale times the records.
        big_records = args.records * args.scale
        print(f"\nmemory: tap-example at {big_records:,} records", flush=True)
        big_server = BenchServer(big_records, 1, 0.0)
        big_config = write_json(
            work, "big.json", {"api_file": str(API / "items.yaml"), "base_url": big_server.base_url}
        )
        big_run = measure(tap_example_argv(big_config))
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
    finally:
        server.stop()
        if big_server is not None:
            big_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print_report(args, results, child_results, big_run, incremental, requested, needed)
    return 0


# --------------------------------------------------------------------------- the report


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def print_report(
    args: argparse.Namespace,
    results: dict[str, Result],
    child_results: dict[str, Result],
    big_run: Run,
    incremental: Run,
    requested: int,
    needed: int,
) -> None:
    print(
        f"\n### Big stream: {args.records:,} records, medians of {args.repeats} "
        f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n"
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

    ours = results["tap-example"].wall

    def ratio(mine: float | None, theirs: float | None) -> float | None:
        return mine / theirs if mine and theirs else None

    goals: list[tuple[str, float | None, float, str]] = [
        ("1. big stream vs minimal SDK tap", ratio(ours, _wall(results, "sdk")), 0.4, "x"),
        ("1. big stream vs dlt", ratio(ours, _wall(results, "dlt")), 1.0, "x"),
        ("1. big stream vs the floor", ratio(ours, _wall(results, "floor")), 2.5, "x"),
        (
            f"2. children (max_concurrency {args.concurrency}) vs SDK sequential",
            ratio(_wall(child_results, "tap-example"), _wall(child_results, "sdk")),
            0.1,
            "x",
        ),
        (
            f"3. peak RSS at {args.records * args.scale:,} vs {args.records:,} records",
            ratio(big_run.rss_mb, results["tap-example"].rss) if big_run.ok else None,
            1.2,
            "x",
        ),
    ]
    print("\n### Goals\n")
    print("| goal | measured | target | met |")
    print("|---|---|---|---|")
    for label, value, target, unit in goals:
        met = "n/a (peer missing)" if value is None else ("yes" if value <= target else "NO")
        print(f"| {label} | {_fmt(value, '{:.2f}' + unit)} | <= {target}{unit} | {met} |")
    if incremental.ok:
        met = "yes" if requested <= needed else "NO"
        print(
            f"| 4. incremental newest-first: requests for pages newer than the bookmark "
            f"| {requested} | <= {needed} | {met} |"
        )
    else:
        print(f"| 4. incremental newest-first | FAILED: {incremental.error} | | NO |")


def _wall(results: dict[str, Result], name: str) -> float | None:
    result = results.get(name)
    return result.wall if result else None


if __name__ == "__main__":
    sys.exit(main())
