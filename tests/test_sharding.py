"""Past one machine (issue 16, item 4): ``shard: "i/n"`` splits a run across n workers; their
union is one full run, record for record, with no record twice."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tap_example.engine.sharding import Shard
from tap_example.errors import ConfigError
from tap_example.sandbox import SandboxServer
from tests.conftest import run_tap


def emitted(messages: list[dict[str, object]]) -> Counter[str]:
    return Counter(
        json.dumps([m["stream"], m["record"]], sort_keys=True)
        for m in messages
        if m["type"] == "RECORD"
    )


@pytest.mark.parametrize(
    ("api", "parallel"),
    [("payments", 1), ("billing", 1), ("clinical", 1), ("payments", 4)],
)
def test_three_shards_together_are_one_full_run(api: str, parallel: int) -> None:
    """Also with each worker's streams syncing concurrently (``max_parallel_streams``)."""
    with SandboxServer(api=api) as server:
        full = emitted(run_tap(server.tap_config()))
        config = {**server.tap_config(), "max_parallel_streams": parallel}
        shards = [emitted(run_tap({**config, "shard": f"{i}/3"})) for i in (1, 2, 3)]
    union: Counter[str] = Counter()
    for shard in shards:
        union += shard
    assert union == full  # every record once: no gap, no overlap
    assert all(shard for shard in shards)  # each worker had a share


def test_a_worker_that_does_not_own_a_parent_stream_still_shares_its_children() -> None:
    with SandboxServer(api="payments") as server:
        tops = ("business_classifications", "customers", "events", "exchange_partners")
        owning = next(i for i in (1, 2, 3) if Shard(i, 3).owns("customers", tops))
        other = next(i for i in (1, 2, 3) if i != owning)
        messages = run_tap({**server.tap_config(), "shard": f"{other}/3"})
    streams = Counter(m["stream"] for m in messages if m["type"] == "RECORD")
    assert streams["customers"] == 0 and streams["funding_sources"] > 0


@pytest.mark.parametrize("value", ["0/3", "4/3", "1/0", "half", "1-3"])
def test_a_bad_shard_is_a_one_line_error(value: str) -> None:
    with pytest.raises(ConfigError, match="setting 'shard'"):
        Shard.parse(value)
