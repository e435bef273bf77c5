"""The benchmark API: one large HAL stream, a parent list, a slow child endpoint, short lists.

Stdlib only, run as its own process so its CPU and memory are not the extractor's:
``python benchmarks/server.py --records 100000 --parents 1000 --child-latency 0.02`` prints
``PORT <n>`` on stdout and serves on 127.0.0.1 until killed. It is threaded (one thread per
connection), so requests sent at once are answered at once: a client's concurrency shows.

Pages are generated on the fly from the record index (no data held in memory), so a million
records cost the server nothing more than a hundred thousand. Everything is newest first:
``created`` falls by one second per record, so a bookmark names a known number of pages.

Endpoints (all HAL: ``_embedded.<name>`` and ``_links.next.href``; ``limit`` <= 200):

- ``GET /items?limit=&offset=``: the big stream, 15 fields a record.
- ``GET /parents?limit=&offset=``: ``--parents`` records.
- ``GET /parents/{id}/children``: 1 to 3 children, after ``--child-latency`` seconds.
- ``GET /lists/{n}?limit=&offset=`` for ``n`` in 1..``--lists``: ``--list-records`` records
  each, shaped as ``/items`` (``_embedded.items``).
- ``GET /stats``: requests served per path kind (``items``, ``parents``, ``children``,
  ``lists/1``...), the requests in flight now (``in_flight``) and the most at once since the last
  reset (``max_in_flight``); ``POST /stats`` resets the counts and the peak.

``--page-latency`` seconds pass before every page of ``/items``, ``/parents`` and ``/lists/{n}``
is answered (a latency-bound API: the time is the server's, not the client's CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 200
#: ``created`` of the newest record (records get one second older each).
NEWEST = 1_767_225_600  # 2026-01-01T00:00:00Z
STATUSES = ("active", "pending", "closed", "suspended")
KINDS = ("personal", "business", "partner")
CURRENCIES = ("USD", "EUR", "GBP", "JPY")
COUNTRIES = ("US", "DE", "GB", "JP", "FR", "NL")
CITIES = ("Springfield", "Riverton", "Lakeside", "Fairview", "Greenville", "Madison")
ITEM = (
    '{"id":%d,"uuid":"%08x-0000-4000-8000-%012x","created":"%s","updated":"%s",'
    '"name":"Customer %d","email":"customer%d@example.com","status":"%s","type":"%s",'
    '"amount":%d.%02d,"currency":"%s","country":"%s","city":"%s","active":%s,'
    '"score":%d,"note":%s}'
)


def stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def item_created(index: int) -> str:
    """``created`` of the record at ``index`` (0 is the newest)."""
    return stamp(NEWEST - index)


def item_json(index: int) -> str:
    created = NEWEST - index
    return ITEM % (
        index + 1,
        index,
        index * 7919,
        stamp(created),
        stamp(created + 3600 * (index % 5)),
        index + 1,
        index + 1,
        STATUSES[index % 4],
        KINDS[index % 3],
        (index * 37) % 10_000,
        index % 100,
        CURRENCIES[index % 4],
        COUNTRIES[index % 6],
        CITIES[(index // 6) % 6],
        "true" if index % 3 else "false",
        index % 1000,
        f'"note {index}"' if index % 4 == 0 else "null",
    )


class BenchServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

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
        super().__init__(("127.0.0.1", 0), Handler)
        self.records = records
        self.parents = parents
        self.child_latency = child_latency
        self.lists = lists
        self.list_records = list_records
        self.page_latency = page_latency
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BenchServer

    def setup(self) -> None:
        """No Nagle: headers and body go out in separate writes (40 ms stalls otherwise)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with self.server.lock:
            self.server.counts.clear()
            self.server.max_in_flight = 0
        self._send(200, b"{}")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts == ["stats"]:
            with self.server.lock:
                body = {
                    "requests": dict(self.server.counts),
                    "in_flight": self.server.in_flight,
                    "max_in_flight": self.server.max_in_flight,
                }
            self._send(200, json.dumps(body).encode())
            return
        kind = "children" if len(parts) == 3 and parts[0] == "parents" else "/".join(parts)
        with self.server.lock:
            self.server.counts[kind] = self.server.counts.get(kind, 0) + 1
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            self._answer(parts, query)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _answer(self, parts: list[str], query: dict[str, str]) -> None:
        if parts == ["items"]:
            self._page("items", self.server.records, query, item_json)
        elif parts == ["parents"]:
            self._page("parents", self.server.parents, query, parent_json)
        elif (
            len(parts) == 2
            and parts[0] == "lists"
            and parts[1].isdigit()
            and 1 <= int(parts[1]) <= self.server.lists
        ):
            self._page(f"lists/{parts[1]}", self.server.list_records, query, item_json, "items")
        elif len(parts) == 3 and parts[0] == "parents" and parts[2] == "children":
            if self.server.child_latency:
                time.sleep(self.server.child_latency)
            parent = int(parts[1])
            rows = ",".join(child_json(parent, n) for n in range(1 + parent % 3))
            links = f'{{"self":{{"href":"{self._origin()}{self.path}"}}}}'
            self._send(200, f'{{"_links":{links},"_embedded":{{"children":[{rows}]}}}}'.encode())
        else:
            self._send(404, b'{"message":"no such endpoint"}')

    def _page(
        self, path: str, total: int, query: dict[str, str], render: Any, key: str = ""
    ) -> None:
        """A page of ``total`` records at ``path``, embedded as ``key`` (default: the path)."""
        if self.server.page_latency:
            time.sleep(self.server.page_latency)
        try:
            limit = min(int(query.get("limit", 25)), MAX_LIMIT)
            offset = int(query.get("offset", 0))
        except ValueError:
            self._send(400, b'{"message":"limit and offset must be integers"}')
            return
        end = min(offset + limit, total)
        rows = ",".join(render(i) for i in range(offset, end))
        base = f"{self._origin()}/{path}"
        links = f'"self":{{"href":"{base}?limit={limit}&offset={offset}"}}'
        if end < total:
            links += f',"next":{{"href":"{base}?limit={limit}&offset={end}"}}'
        body = f'{{"_links":{{{links}}},"_embedded":{{"{key or path}":[{rows}]}},"total":{total}}}'
        self._send(200, body.encode())

    def _origin(self) -> str:
        return f"http://{self.headers.get('Host') or '127.0.0.1'}"

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def parent_json(index: int) -> str:
    return f'{{"id":{index + 1},"name":"Parent {index + 1}","created":"{item_created(index)}"}}'


def child_json(parent: int, n: int) -> str:
    created = item_created(parent * 3 + n)
    return f'{{"id":"{parent}-{n}","parent_id":{parent},"kind":"{KINDS[n % 3]}","created":"{created}"}}'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--parents", type=int, default=1000)
    parser.add_argument("--child-latency", type=float, default=0.02)
    parser.add_argument("--lists", type=int, default=0, help="how many /lists/{n}")
    parser.add_argument("--list-records", type=int, default=0, help="records of each list")
    parser.add_argument("--page-latency", type=float, default=0.0, help="seconds per list page")
    args = parser.parse_args(argv)
    server = BenchServer(
        args.records,
        args.parents,
        args.child_latency,
        lists=args.lists,
        list_records=args.list_records,
        page_latency=args.page_latency,
    )
    print(f"PORT {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)
    sys.exit(0)


if __name__ == "__main__":
    main()
