"""What a clean run says: the SDK's per-partition lines and its metrics are detail, not news.

The SDK logs, at INFO, a few lines per *partition* (for a child stream, per parent record:
"Beginning sync of ...", "Starting incremental sync of ...", "Pagination stopped after 0 pages
..."; the tap says mode and bookmark once per stream instead), a warning for every unsorted
stream or partition ("Stream is assumed to be unsorted ...", although newest-first lists are
unsorted by design and the tap advances their bookmarks only when the stream completes), and
METRIC lines for every request. On a clean run that is most of the log.

The tap keeps them, one level down, with the logging module's own tools: a filter on the logger
that writes them turns those records into DEBUG records (shown with ``TAP_EXAMPLE_LOGLEVEL=debug``,
dropped otherwise), and the SDK's metrics logger gets the level of the ``metrics_log_level``
setting (the SDK's documented switch for metrics; default WARNING: off).

The messages are matched by their format strings (``LogRecord.msg``), listed here;
``tests/test_progress.py`` checks that the SDK still logs each of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from singer_sdk import typing as th

from tap_example.errors import ConfigError

#: The SDK's logger for state bookkeeping (``singer_sdk.helpers._state``).
SDK_STATE_LOGGER = "singer_sdk"
#: Per-stream lines of the SDK: once per partition (for a child stream, per parent record), or
#: said by the tap's own opening line of each stream (mode and starting bookmark).
DETAIL_LINES = frozenset(
    {
        "Pagination stopped after %d pages because no records were found in the last response",
        "Beginning sync of '%s' in %s mode",
        "Beginning sync of '%s' in %s mode with context keys: %s",
        "Starting incremental sync of '%s' with bookmark value: %s",
    }
)
#: Lines of the tap's own logger that speak to the tap's developer, or that the run's start line
#: says already (the streams selected).
TAP_DETAIL_LINES = frozenset(
    {
        "Skipping parse of env var settings...",
        "Added '%s' as child stream to '%s'",
        "Skipping deselected stream '%s'.",
    }
)
#: The SDK's warning for streams not declared sorted: the tap's unsorted streams keep their
#: bookmark until the stream completes (README, "When the bookmark moves"); nothing to act on.
UNSORTED_LINE = "Stream is assumed to be unsorted, progress is not resumable if interrupted"

METRICS_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_METRICS_LEVEL = "WARNING"
#: The tap setting for the SDK's metrics (the SDK documents ``metrics_log_level`` for this).
METRICS_LOG_LEVEL_SETTING = th.Property(
    "metrics_log_level",
    th.StringType,
    default=DEFAULT_METRICS_LEVEL,
    title="Metrics log level",
    description="Level of the SDK's METRIC log lines (request durations, record counts as JSON): "
    "INFO or DEBUG shows them, WARNING (the default) or ERROR hides them.",
)


class DetailToDebug(logging.Filter):
    """Turns the records whose format string is one of ``messages`` into DEBUG records; drops
    them when the logger does not log DEBUG."""

    def __init__(self, logger: logging.Logger, messages: Iterable[str]) -> None:
        super().__init__()
        self.logger = logger
        self.messages = frozenset(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or record.msg not in self.messages:
            return True
        if not self.logger.isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def demote(logger: logging.Logger, messages: Iterable[str]) -> None:
    """Install (once per logger) the filter that demotes ``messages`` to DEBUG."""
    wanted = frozenset(messages)
    for existing in logger.filters:
        if isinstance(existing, DetailToDebug):
            existing.messages |= wanted
            return
    logger.addFilter(DetailToDebug(logger, wanted))


def quiet_tap_logs(tap_logger: logging.Logger) -> None:
    """The tap-wide part: the tap's developer lines and the SDK's unsorted-stream warning."""
    demote(tap_logger, TAP_DETAIL_LINES)
    demote(logging.getLogger(SDK_STATE_LOGGER), {UNSORTED_LINE})


def quiet_stream_logs(stream_logger: logging.Logger) -> None:
    """One stream's part: the SDK's per-stream and per-partition lines."""
    demote(stream_logger, DETAIL_LINES)


def metrics_level(value: object) -> int:
    """The ``metrics_log_level`` setting as a logging level (names in any case)."""
    name = DEFAULT_METRICS_LEVEL if value is None else str(value).strip().upper()
    if name not in METRICS_LEVELS:
        raise ConfigError(
            f"setting 'metrics_log_level': must be one of {', '.join(METRICS_LEVELS)}, not {value!r}"
        )
    level: int = logging.getLevelName(name)
    return level


__all__ = [
    "DEFAULT_METRICS_LEVEL",
    "METRICS_LEVELS",
    "METRICS_LOG_LEVEL_SETTING",
    "DetailToDebug",
    "demote",
    "metrics_level",
    "quiet_stream_logs",
    "quiet_tap_logs",
]
