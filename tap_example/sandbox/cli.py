"""`tap-example-sandbox`: run one fake API until interrupted, printing the tap config it needs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from .apis import API_NAMES, EXTRA_API_NAMES
from .server import SandboxServer


class _OneLineErrors(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit 2 (argparse would also print the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _size(text: str) -> tuple[str, int]:
    stream, sep, count = text.partition("=")
    if not sep or not stream or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected STREAM=N, got {text!r}")
    return stream, int(count)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="tap-example-sandbox",
        description="Serve a deterministic fake of one tap-example API on localhost.",
    )
    parser.add_argument("--api", required=True, choices=API_NAMES + EXTRA_API_NAMES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--size",
        type=_size,
        action="append",
        default=[],
        metavar="STREAM=N",
        help="records of a stream (child streams: most per parent); repeatable",
    )
    parser.add_argument("--token-ttl", type=int, default=None, metavar="SECONDS")
    parser.add_argument("--token-max-uses", type=int, default=None, metavar="K")
    parser.add_argument(
        "--no-rotate-refresh-token",
        dest="rotate_refresh_token",
        action="store_false",
        help="crm: keep answering with the same refresh token (so several runs can share it)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        metavar="SECONDS",
        help="tokens stop working after SECONDS, whatever expires_in says (revoked early)",
    )
    parser.add_argument(
        "--one-token-per-client",
        action="store_true",
        help="a new access token revokes every earlier one of the same client",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 (with Retry-After) beyond N API requests per second",
    )
    parser.add_argument(
        "--schema-drift-after",
        type=int,
        default=None,
        metavar="N",
        help="from the N-th record of each list on, records gain a field and change a type",
    )
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--fault-rate", type=float, default=0.0, metavar="P")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        server = SandboxServer(
            args.api,
            host=args.host,
            port=args.port,
            seed=args.seed,
            sizes=dict(args.size),
            token_ttl=args.token_ttl,
            token_max_uses=args.token_max_uses,
            rotate_refresh_token=args.rotate_refresh_token,
            token_lifetime=args.token_lifetime,
            one_token_per_client=args.one_token_per_client,
            rate_limit=args.rate_limit,
            latency=args.latency,
            fault_rate=args.fault_rate,
        )
    except ValueError as error:
        parser.error(str(error))
    if args.schema_drift_after is not None:
        server.fake_api.evolve_fields(args.schema_drift_after)
    try:
        server.start()
    except OSError as error:
        print(
            f"tap-example-sandbox: error: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 1

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(json.dumps(server.tap_config()), flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
