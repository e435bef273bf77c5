"""Rate limits: one API-wide limit, many workers, with and without the shared rate-limit policy.

    python benchmarks/rate_limit.py                       # 20 requests/s, 16 workers, payments
    python benchmarks/rate_limit.py --limit 50 --customers 600 --concurrency 8

Starts the payments sandbox with ``rate_limit`` (at most N API requests per second, 429 with
``Retry-After`` beyond that) and syncs it with ``max_concurrency`` workers three ways:

1. **per worker**: the shared policy switched off, as before issue 14 (a 429 makes only the
   worker that got it wait; the others keep sending);
2. **shared policy**: a 429 pauses every worker until ``Retry-After``, concurrency backs off and
   recovers (AIMD), the rate is learned from the 429s;
3. **shared policy + max_requests_per_second**: the limit stated in the settings as well.

For each it prints the API requests the server saw, the 429s among them, their share, the wall
time, and whether every record arrived exactly once. The goals of issue 14: at most 15 % 429s
without the stated limit, at most 2 % with it. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_example.engine.ratelimit import RateLimitPolicy
from tap_example.sandbox import SandboxServer
from tap_example.tap import TapExample


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    rate_limited: int
    seconds: float
    exact: bool

    @property
    def share(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0


class PerWorker:
    """The shared policy switched off: 429s pause nobody else, nothing is paced."""

    def __enter__(self) -> None:
        self.saved = (RateLimitPolicy.limited, RateLimitPolicy.pause)
        RateLimitPolicy.limited = lambda self, sent_at, pause: None  # type: ignore[method-assign]
        RateLimitPolicy.pause = lambda self, seconds: None  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        RateLimitPolicy.limited, RateLimitPolicy.pause = self.saved  # type: ignore[method-assign]


def sync(server: SandboxServer, settings: dict[str, Any]) -> tuple[Counter[str], float]:
    config = {**server.tap_config(), "max_retries": 20, "backoff_factor": 0.5, **settings}
    tap = TapExample(config=config, validate_config=True)
    buffer = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(buffer):
        tap.sync_all()
    seconds = time.perf_counter() - started
    counts: Counter[str] = Counter()
    for line in buffer.getvalue().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            counts[message["stream"]] += 1
    return counts, seconds


def measure(name: str, args: argparse.Namespace, settings: dict[str, Any]) -> Result:
    with SandboxServer(
        api="payments",
        sizes={"customers": args.customers},
        rate_limit=args.limit,
        latency=args.latency,
    ) as server:
        if name == "per worker":
            with PerWorker():
                counts, seconds = sync(server, settings)
        else:
            counts, seconds = sync(server, settings)
        stats = server.stats
        expected = Counter({s: len(server.records(s)) for s in server.streams})
    return Result(
        name=name,
        requests=stats["requests"],
        rate_limited=stats["by_status"].get(429, 0),
        seconds=seconds,
        exact=+counts == +expected,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=20, help="the API's requests per second")
    parser.add_argument("--concurrency", type=int, default=16, help="max_concurrency")
    parser.add_argument("--customers", type=int, default=300, help="parents (one child each)")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per answer")
    parser.add_argument(
        "--only", choices=["per-worker", "shared", "stated"], action="append", default=[]
    )
    args = parser.parse_args(argv)
    runs = {
        "per worker": ("per-worker", {}),
        "shared policy": ("shared", {}),
        "shared policy + max_requests_per_second": (
            "stated",
            {"max_requests_per_second": args.limit},
        ),
    }
    print(
        f"payments sandbox limited to {args.limit} requests/s, max_concurrency "
        f"{args.concurrency}, {args.customers} customers, {args.latency * 1000:.0f} ms per answer\n"
    )
    print("| policy | API requests | 429s | 429 share | wall | every record once |")
    print("|:-------|-------------:|-----:|----------:|-----:|:-----------------:|")
    for name, (key, settings) in runs.items():
        if args.only and key not in args.only:
            continue
        result = measure(name, args, {"max_concurrency": args.concurrency, **settings})
        print(
            f"| {result.name} | {result.requests} | {result.rate_limited} | "
            f"{result.share:.1%} | {result.seconds:.1f} s | {'yes' if result.exact else 'NO'} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
