"""BATCH output (issue 16, item 6): lossless, and by stream and size - a child stream writes one
file per ``batch_size`` records, not one per parent record."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tap_example.sandbox import SandboxServer
from tests.conftest import run_tap

BATCH_SIZE = 100


def batch_records(messages: list[dict[str, Any]], stream: str) -> tuple[int, list[dict[str, Any]]]:
    """(files, records) of a stream's BATCH messages."""
    files, records = 0, []
    for message in messages:
        if message["type"] != "BATCH" or message["stream"] != stream:
            continue
        for uri in message["manifest"]:
            files += 1
            path = Path(urlsplit(uri).path)
            opener: Any = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt") as handle:
                records += [json.loads(line) for line in handle if line.strip()]
    return files, records


@pytest.mark.parametrize(
    ("api", "parallel"),
    [("payments", 1), ("billing", 1), ("clinical", 1), ("payments", 4), ("clinical", 4)],
)
def test_batches_are_lossless_and_sized_not_per_parent(
    api: str, parallel: int, tmp_path: Path
) -> None:
    """Also with streams syncing concurrently (``max_parallel_streams``)."""
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri(), "prefix": "batch-"},
        "batch_size": BATCH_SIZE,
    }
    with SandboxServer(api=api) as server:
        settings = {"batch_config": batch_config, "max_parallel_streams": parallel}
        messages = run_tap({**server.tap_config(), **settings})
        for stream in server.streams:
            key = server.fake_api.keys.get(stream, "id")
            files, records = batch_records(messages, stream)
            served = server.records(stream)
            assert sorted(str(r.get(key)) for r in records) == sorted(
                str(r.get(key)) for r in served
            ), stream
            assert not [m for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
            if server.fake_api.children_of.get(stream) and api != "clinical":
                # one file per batch_size records (clinical's audit trail keeps one bookmark per
                # study, so its files follow its partitions: state must never run ahead)
                assert files <= math.ceil(len(served) / BATCH_SIZE) + 1, (stream, files)
