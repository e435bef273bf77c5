"""Retry policy pieces: Retry-After parsing, exponential waits, URL masking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from tap_example.engine.retry import MAX_RETRY_AFTER, retry_after_seconds
from tap_example.errors import mask_url
from tap_example.sandbox import SandboxServer
from tap_example.timestamps import parse_timestamp, to_utc_string


def answer(retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after_seconds(answer("7")) == 7
    assert retry_after_seconds(answer("99999")) == MAX_RETRY_AFTER
    assert retry_after_seconds(answer(None)) is None
    assert retry_after_seconds(answer("soon")) is None
    past = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=5), usegmt=True)
    assert retry_after_seconds(answer(past)) == 0
    future = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_seconds(answer(future)) or 0) <= 30


def test_wait_generator_is_exponential_unless_retry_after(sandbox: SandboxServer) -> None:
    from tap_example.streams import DefinitionStream
    from tap_example.tap import TapExample
    from tests.conftest import FAST

    tap = TapExample(config={**sandbox.tap_config(), **FAST, "backoff_factor": 2})
    stream = tap.streams["customers"]
    assert isinstance(stream, DefinitionStream)
    waits = stream.backoff_wait_generator()
    waits.send(None)
    error = type("E", (Exception,), {})()
    assert [waits.send(error) for _ in range(3)] == [2, 4, 8]
    limited = type("E", (Exception,), {"response": answer("1")})()
    assert waits.send(limited) == 1
    assert stream.backoff_max_tries() == 4  # payments: 3 retries


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://api.test/a?api_key=s3cret&page=2", "https://api.test/a?api_key=***&page=2"),
        ("https://user:pw@api.test/a?token=x", "https://***@api.test/a?token=***"),
        (
            "https://api.test/a?access_token=x&client_secret=y",
            "https://api.test/a?access_token=***&client_secret=***",
        ),
        ("https://api.test/a?limit=5", "https://api.test/a?limit=5"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:34:56Z", "2024-05-01T12:34:56Z"),
        ("2024-05-01T14:34:56+02:00", "2024-05-01T12:34:56Z"),
        ("2024-05-01T12:34:56.5-01:00", "2024-05-01T13:34:56.500000Z"),
        ("not a date", "not a date"),
    ],
)
def test_timestamps_are_normalised_to_utc(value: str, expected: str) -> None:
    assert to_utc_string(value) == expected


def test_timestamps_compare_across_fraction_formats() -> None:
    later = parse_timestamp("2024-05-01T12:34:56.5Z")
    earlier = parse_timestamp("2024-05-01T12:34:56Z")
    assert later is not None and earlier is not None and later > earlier
    assert parse_timestamp("2024-05-01T12:34:56.123456789Z") is not None
