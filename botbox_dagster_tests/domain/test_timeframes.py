"""Timeframe arithmetic: floors, the last closed bar, freshness limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from botbox_dagster.domain import timeframes as tf

T = datetime(2024, 3, 5, 12, 7, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [
        ("1m", datetime(2024, 3, 5, 12, 7, tzinfo=UTC)),
        ("5m", datetime(2024, 3, 5, 12, 5, tzinfo=UTC)),
        ("15m", datetime(2024, 3, 5, 12, 0, tzinfo=UTC)),
        ("1h", datetime(2024, 3, 5, 12, 0, tzinfo=UTC)),
        ("1d", datetime(2024, 3, 5, tzinfo=UTC)),
    ],
)
def test_floor(timeframe: str, expected: datetime) -> None:
    assert tf.floor(T, timeframe) == expected
    assert tf.floor(expected, timeframe) == expected  # a boundary is its own floor


def test_last_closed_excludes_the_forming_bar() -> None:
    assert tf.last_closed_open_time(T, "1m") == datetime(2024, 3, 5, 12, 6, tzinfo=UTC)
    assert tf.last_closed_open_time(T, "5m") == datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    boundary = datetime(2024, 3, 5, 12, 10, tzinfo=UTC)  # 12:09 closed exactly now
    assert tf.last_closed_open_time(boundary, "1m") == datetime(2024, 3, 5, 12, 9, tzinfo=UTC)
    assert tf.is_closed(datetime(2024, 3, 5, 12, 9, tzinfo=UTC), "1m", boundary)
    assert not tf.is_closed(boundary, "1m", boundary)


def test_freshness_limit_and_age() -> None:
    assert tf.freshness_limit("1m") == timedelta(minutes=2)
    assert tf.freshness_limit("5m") == timedelta(minutes=7)
    assert tf.freshness_limit("1h") == timedelta(minutes=62)
    newest = datetime(2024, 3, 5, 12, 6, tzinfo=UTC)
    assert tf.candle_age(newest, "1m", T) == timedelta(seconds=31)
    assert tf.candle_age(newest, "1m", T) <= tf.freshness_limit("1m")
    assert tf.candle_age(newest - timedelta(minutes=3), "1m", T) > tf.freshness_limit("1m")


def test_unknown_timeframe_is_named() -> None:
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        tf.seconds("7m")
