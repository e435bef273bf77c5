"""dlt's ``rest_api`` source, extraction only: iterate the resources, count the rows, load nothing.

``python dlt_extract.py BASE_URL [MODE]`` prints the row count on stderr. ``MODE``:

- ``items`` (default): the big stream, following ``_links.next.href`` (``json_link``);
- ``offset``: the big stream with dlt's ``offset`` paginator, stopping at ``total``;
- ``lists``: the eight lists ``/lists/1`` ... ``/lists/8`` as eight resources, each
  ``parallelized: True`` (dlt's option to extract resources in parallel), iterated as one source;
  ``EXTRACT__WORKERS`` sets dlt's thread pool (5 by default).

dlt 1.31's ``rest_api`` passes ``parallelized: True`` of a top-level resource on to
``dlt.resource``, whose parallel wrapper is then gone once ``rest_api`` binds the endpoint's
arguments: the eight resources ran one after another (the benchmark server saw one request in
flight). A resource left without the wrapper gets it here from dlt's own
``DltResource.parallelize()``, which is what the flag asks for; a note on stderr says so.
"""

from __future__ import annotations

import sys
from typing import Any

from dlt.sources.rest_api import rest_api_source

NEXT_LINK = {"type": "json_link", "next_url_path": "_links.next.href"}
OFFSET = {"type": "offset", "limit": 200, "offset_param": "offset", "total_path": "total"}


def resource(name: str, path: str, *, limit: bool = True, **extra: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"path": path, "data_selector": "_embedded.items"}
    if limit:
        endpoint["params"] = {"limit": 200}
    return {"name": name, "endpoint": endpoint, **extra}


def _is_parallel(resource_: Any) -> bool:
    """Whether the resource's generator is dlt's parallel wrapper (evaluating a clone of its
    pipe creates the generator without running it: no request is sent)."""
    try:
        pipe = resource_._pipe._clone()
        pipe.evaluate_gen()
        return bool(pipe.gen.gi_code.co_name == "_gen_wrapper")
    except Exception:
        return False


def main() -> None:
    base_url = sys.argv[1].rstrip("/") + "/"
    mode = sys.argv[2] if len(sys.argv) > 2 else "items"
    if mode == "lists":
        paginator: dict[str, Any] = NEXT_LINK
        resources = [resource(f"list_{n}", f"lists/{n}", parallelized=True) for n in range(1, 9)]
    elif mode == "offset":
        paginator = OFFSET
        resources = [resource("items", "items", limit=False)]  # the paginator sends the limit
    else:
        paginator = NEXT_LINK
        resources = [resource("items", "items")]
    config: Any = {"client": {"base_url": base_url, "paginator": paginator}, "resources": resources}
    source = rest_api_source(config)
    if mode == "lists":
        unwrapped = [r for r in source.resources.values() if not _is_parallel(r)]
        for resource_ in unwrapped:
            resource_.parallelize()
        if unwrapped:
            print(
                f"dlt: parallelized: True had no effect on {len(unwrapped)} resources; "
                "applied DltResource.parallelize()",
                file=sys.stderr,
            )
    rows = 0
    # One resource is iterated as itself (as before the latency cases); the lists as a source,
    # whose pipe iterator runs the parallelized resources on its thread pool.
    for _row in source if mode == "lists" else source.resources["items"]:
        rows += 1
    print(f"dlt rows: {rows}", file=sys.stderr)


if __name__ == "__main__":
    main()
