"""What a run says: a start line, progress on long work, one summary per stream and one for the
run; the SDK's per-partition lines, its unsorted-stream warning and its METRIC lines only when
asked for; unknown settings named with the closest known one."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tap_example.engine.logs import DETAIL_LINES, TAP_DETAIL_LINES, UNSORTED_LINE
from tap_example.engine.progress import StreamProgress
from tap_example.sandbox import SandboxServer
from tap_example.settings_hints import unknown_settings
from tap_example.tap import TapExample
from tests.conftest import API_NAMES, FAST, last_state, record_counts, run_cli, run_tap

#: A log line as the SDK's console handler writes it: "<time> | <LEVEL> | <logger> | <message>".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ \| (\w+)\s*\| (\S+)\s*\| (.*)$")


def log_lines(stderr: str) -> list[tuple[str, str, str]]:
    """(level, logger, message) of every log line; anything else on stderr fails the test."""
    lines = []
    for raw in stderr.splitlines():
        match = LOG_LINE.match(raw)
        assert match, f"not a log line: {raw!r}"
        level, logger, message = match.groups()
        lines.append((level, logger, message))
    return lines


def sync_cli(
    tmp_path: Path, config: dict[str, Any], *args: str, **env: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """Run ``tap-example`` in a subprocess; its Singer messages and its log lines."""
    environment = {k: v for k, v in os.environ.items() if not k.endswith("LOGLEVEL")}
    result = run_cli({**FAST, **config}, tmp_path, *args, env={**environment, **env})
    assert result.returncode == 0, result.stderr[-3000:]
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return messages, log_lines(result.stderr)


def test_progress_lines_and_summary(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tap-example.test")
    caplog.set_level(logging.INFO, logger="tap-example.test")
    progress = StreamProgress("things", logger, interval=0.0)
    progress.on_page(200)
    progress.emitted += 150
    progress.on_page(150)
    progress.on_retry()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1].startswith("stream 'things': 350 records read, 150 emitted, 2 pages so far (")
    assert progress.summary().startswith(
        "stream 'things' summary: 150 records emitted of 350 read, 2 requests, 1 retry, "
    )


def test_quiet_between_intervals(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tap-example.test")
    caplog.set_level(logging.INFO, logger="tap-example.test")
    progress = StreamProgress("things", logger, interval=3600.0)
    for _ in range(50):
        progress.on_page(10)
    assert not caplog.records  # the first page only starts the clock


def summaries(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    return {
        r.getMessage().split("'")[1]: r.getMessage()
        for r in caplog.records
        if " summary: " in r.getMessage() and r.getMessage().startswith("stream '")
    }


@pytest.mark.parametrize("sandbox", [{"api": "payments"}], indirect=True)
def test_a_run_ends_with_one_summary_per_stream_and_one_for_the_run(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox.inject(503)
    messages = run_tap(sandbox.tap_config())
    found = summaries(caplog)
    assert set(found) == set(sandbox.streams)
    customers = len(sandbox.records("customers"))
    assert (
        f"summary: {customers} records emitted of {customers} read, 2 requests"
        in (found["customers"])
    )
    retries = [int(m.split(" retr")[0].rsplit(" ", 1)[1]) for m in found.values()]
    assert sum(retries) == 1
    runs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run summary: ")]
    total = sum(record_counts(messages).values())
    assert runs == [runs[0]] and runs[0].startswith(
        f"run summary: {total:,} records emitted of {total:,} read from 5 streams, "
    )
    assert ", 1 retry, " in runs[0]


@pytest.mark.parametrize("sandbox", [{"api": "payments"}], indirect=True)
def test_an_incremental_rerun_counts_records_read_and_emitted(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    first = run_tap(sandbox.tap_config())
    caplog.set_level(logging.INFO)
    second = run_tap(sandbox.tap_config(), state=last_state(first))
    emitted = record_counts(second)["events"]
    assert 0 < emitted < len(sandbox.records("events"))  # newest-first: one page, mostly old
    assert re.search(
        rf"summary: {emitted} records? emitted of [1-9]\d* read", summaries(caplog)["events"]
    )
    start = [r.getMessage() for r in caplog.records if r.getMessage().startswith("extracting ")]
    assert len(start) == 1 and "state given: bookmarks for " in start[0] and "events" in start[0]


@pytest.mark.parametrize("api", API_NAMES)
def test_a_clean_run_is_quiet(api: str, tmp_path: Path) -> None:
    """At most one log line per four records, no warning, no METRIC, no line per parent."""
    messages, lines = sync_cli(tmp_path, {"api": api, "sandbox": True})
    records = record_counts(messages)
    assert len(lines) * 4 <= sum(records.values()), "\n".join(m for _, _, m in lines)
    assert [line for line in lines if line[0] != "INFO"] == []
    text = [message for _, _, message in lines]
    assert not [m for m in text if "METRIC" in m or "Beginning sync" in m or "Pagination" in m]
    starts = [m for m in text if m.startswith("extracting ")]
    assert len(starts) == 1 and starts[0].startswith(f"extracting API '{api}' (sandbox) from ")
    assert "no state given" in starts[0]
    opened = {m.split("'")[1] for m in text if re.match(r"stream '\w+': starting, ", m)}
    summarised = {m.split("'")[1] for m in text if re.match(r"stream '\w+' summary: ", m)}
    assert opened == summarised == set(records)
    assert text[-1].startswith(f"run summary: {sum(records.values()):,} records emitted of ")


def test_metrics_come_back_with_the_setting(tmp_path: Path) -> None:
    _, quiet = sync_cli(tmp_path, {"api": "billing", "sandbox": True})
    _, loud = sync_cli(tmp_path, {"api": "billing", "sandbox": True, "metrics_log_level": "info"})
    assert not [m for _, _, m in quiet if m.startswith("METRIC")]
    metric_lines = [(logger, m) for _, logger, m in loud if m.startswith("METRIC")]
    assert metric_lines and {logger for logger, _ in metric_lines} == {"singer_sdk.metrics"}


def test_a_bad_metrics_level_is_a_one_line_error(tmp_path: Path) -> None:
    config = {"api": "billing", "sandbox": True, "metrics_log_level": "loud"}
    result = run_cli(config, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "tap-example: error: setting 'metrics_log_level': must be one of DEBUG, INFO, WARNING, "
        "ERROR, not 'loud'"
    )


def test_per_parent_lines_are_there_at_debug_level(tmp_path: Path) -> None:
    messages, lines = sync_cli(
        tmp_path, {"api": "payments", "sandbox": True}, TAP_EXAMPLE_LOGLEVEL="debug"
    )
    per_parent = [
        (level, message)
        for level, _, message in lines
        if message.startswith("Beginning sync of 'funding_sources'")
    ]
    parents = record_counts(messages)["customers"]
    assert len(per_parent) == parents and {level for level, _ in per_parent} == {"DEBUG"}
    unsorted = [level for level, _, message in lines if message == UNSORTED_LINE]
    assert unsorted and set(unsorted) == {"DEBUG"}


def test_the_sdk_lines_made_detail_are_still_logged_by_the_sdk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Guard for singer-sdk upgrades: every line the tap demotes is one the SDK still logs (if
    the SDK rewords one, it comes back at INFO and this test names it)."""
    caplog.set_level(logging.DEBUG)
    with SandboxServer(api="payments") as server:
        config = {**FAST, **server.tap_config()}
        catalog = TapExample(config=config).catalog_dict
        for entry in catalog["streams"]:  # one stream deselected: "Skipping deselected stream"
            if entry["tap_stream_id"] == "exchange_partners":
                for metadata in entry["metadata"]:
                    if not metadata["breadcrumb"]:
                        metadata["metadata"]["selected"] = False
        run_tap(config, catalog=catalog)
    seen = {str(r.msg): r.levelname for r in caplog.records}
    for message in DETAIL_LINES | TAP_DETAIL_LINES | {UNSORTED_LINE}:
        assert seen.get(message) == "DEBUG", f"the SDK no longer logs {message!r}"


def test_an_unknown_setting_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    config = {"api": "payments", "sandbox": True, "start_dat": "2024-01-01T00:00:00Z"}
    _, lines = sync_cli(tmp_path, config)
    warnings = [message for level, _, message in lines if level == "WARNING"]
    assert warnings == [
        "setting 'start_dat' is not a setting of tap-example and is ignored; "
        "did you mean 'start_date'?"
    ]


def test_settings_a_definition_reads_are_known() -> None:
    known = ["api_file", "api_key", "lab_url"]  # lab_url: a ${lab_url} placeholder
    config = {"api_file": "lab.yaml", "lab_url": "http://127.0.0.1:1", "zzz": 1, "api_kye": "k"}
    assert unknown_settings(config, known) == [
        "setting 'api_kye' is not a setting of tap-example and is ignored; did you mean 'api_key'?",
        "setting 'zzz' is not a setting of tap-example and is ignored",
    ]
