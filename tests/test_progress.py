"""Progress for people watching: a line every few seconds per stream, a summary per stream at the end."""

from __future__ import annotations

import logging

import pytest

from tap_example.engine.progress import StreamProgress
from tap_example.sandbox import SandboxServer
from tests.conftest import run_tap


def test_progress_lines_and_summary(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tap-example.test")
    caplog.set_level(logging.INFO, logger="tap-example.test")
    progress = StreamProgress("things", logger, interval=0.0)
    progress.on_page(200)
    progress.on_page(150)
    progress.on_retry()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1].startswith("stream 'things': 350 records, 2 pages so far (")
    assert progress.summary().startswith(
        "stream 'things' summary: 350 records, 2 requests, 1 retries, "
    )


def test_quiet_between_intervals(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tap-example.test")
    caplog.set_level(logging.INFO, logger="tap-example.test")
    progress = StreamProgress("things", logger, interval=3600.0)
    for _ in range(50):
        progress.on_page(10)
    assert not caplog.records  # the first page only starts the clock


@pytest.mark.parametrize("sandbox", [{"api": "payments"}], indirect=True)
def test_a_run_ends_with_one_summary_per_stream(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox.inject(503)
    run_tap(sandbox.tap_config())
    summaries = {
        r.getMessage().split("'")[1]: r.getMessage()
        for r in caplog.records
        if " summary: " in r.getMessage()
    }
    assert set(summaries) == set(sandbox.streams)
    customers = len(sandbox.records("customers"))
    assert f"summary: {customers} records, 2 requests" in summaries["customers"]
    assert sum(int(m.split(" retries")[0].rsplit(" ", 1)[1]) for m in summaries.values()) == 1
