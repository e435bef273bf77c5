"""The floor: a plain requests + orjson loop writing one RECORD line per record, nothing else.

``python floor.py BASE_URL`` follows ``_links.next.href`` through ``/items`` and writes to stdout.
"""

from __future__ import annotations

import sys

import orjson
import requests


def main() -> None:
    out = sys.stdout.buffer
    url: str | None = f"{sys.argv[1].rstrip('/')}/items?limit=200"
    with requests.Session() as session:
        while url:
            page = orjson.loads(session.get(url, timeout=60).content)
            for record in page["_embedded"]["items"]:
                out.write(orjson.dumps({"type": "RECORD", "stream": "items", "record": record}))
                out.write(b"\n")
            url = ((page.get("_links") or {}).get("next") or {}).get("href")
    out.flush()


if __name__ == "__main__":
    main()
