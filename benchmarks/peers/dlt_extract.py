"""dlt's ``rest_api`` source, extraction only: iterate the resource, count the rows, load nothing.

``python dlt_extract.py BASE_URL`` prints the row count on stderr.
"""

from __future__ import annotations

import sys

from dlt.sources.rest_api import rest_api_source


def main() -> None:
    source = rest_api_source(
        {
            "client": {
                "base_url": sys.argv[1].rstrip("/") + "/",
                "paginator": {"type": "json_link", "next_url_path": "_links.next.href"},
            },
            "resources": [
                {
                    "name": "items",
                    "endpoint": {
                        "path": "items",
                        "params": {"limit": 200},
                        "data_selector": "_embedded.items",
                    },
                }
            ],
        }
    )
    rows = 0
    for _row in source.resources["items"]:
        rows += 1
    print(f"dlt rows: {rows}", file=sys.stderr)


if __name__ == "__main__":
    main()
