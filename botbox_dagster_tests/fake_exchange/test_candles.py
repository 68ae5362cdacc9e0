"""Candle feed: time shifts, looping, aggregation and injected bad data (no HTTP)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from botbox_dagster.fake_exchange.candles import INTERVAL_MS, CandleFeed, TimeShift, load_bars

FIVE_MIN = INTERVAL_MS["5m"]
NOW = 1_800_000_123_456  # an arbitrary instant, mid-bar


@pytest.fixture
def eth_csv(shared_data: Path) -> Path:
    return shared_data / "candles" / "ETH_BTC-5m.csv"


def test_live_shift_puts_last_recorded_bar_on_the_forming_bar(eth_csv: Path) -> None:
    feed = CandleFeed.from_csv(eth_csv, TimeShift.make_live(loop=False), NOW)
    bars = feed.klines(FIVE_MIN, NOW, limit=3)
    recorded = load_bars(eth_csv)
    assert feed.timeframe_ms == FIVE_MIN
    assert bars[-1].open_time == NOW - NOW % FIVE_MIN
    assert bars[-1].open_time + FIVE_MIN > NOW  # forming
    assert [b.close for b in bars] == [b.close for b in recorded[-3:]]
    assert feed.last_closed(NOW).close == recorded[-2].close  # type: ignore[union-attr]


def test_fixed_offset_zero_serves_original_dates(eth_csv: Path) -> None:
    recorded = load_bars(eth_csv)
    feed = CandleFeed.from_csv(eth_csv, TimeShift.fixed(0), NOW)
    bars = feed.klines(FIVE_MIN, NOW, start_ms=recorded[10].open_time, limit=5)
    assert bars == recorded[10:15]
    assert feed.klines(FIVE_MIN, NOW, start_ms=recorded[-1].open_time + 1) == []


def test_loop_repeats_the_recording(eth_csv: Path) -> None:
    recorded = load_bars(eth_csv)
    feed = CandleFeed.from_csv(eth_csv, TimeShift.make_live(loop=True), NOW)
    later = NOW + 10 * FIVE_MIN
    bars = feed.klines(FIVE_MIN, later, limit=11)
    assert [b.close for b in bars[1:]] == [b.close for b in recorded[:10]]
    assert all(b.open_time - a.open_time == FIVE_MIN for a, b in itertools.pairwise(bars))


def test_hour_bars_aggregate_the_five_minute_bars(eth_csv: Path) -> None:
    feed = CandleFeed.from_csv(eth_csv, TimeShift.make_live(), NOW)
    hour = INTERVAL_MS["1h"]
    hours = feed.klines(hour, NOW, limit=3)
    first = hours[0]
    fives = list(feed.bars_between(first.open_time, first.open_time + hour - 1))
    assert len(fives) == 12
    assert first.open == fives[0].open and first.close == fives[-1].close
    assert first.high == max(b.high for b in fives) and first.low == min(b.low for b in fives)
    assert first.volume == pytest.approx(sum(b.volume for b in fives))
    assert hours[-1].open_time == NOW - NOW % hour


def test_injected_bad_bars_and_gaps(eth_csv: Path) -> None:
    feed = CandleFeed.from_csv(eth_csv, TimeShift.make_live(), NOW)
    t0 = NOW - NOW % FIVE_MIN - 10 * FIVE_MIN
    feed.inject_bad_bar(t0, "nan")
    feed.inject_bad_bar(t0 + FIVE_MIN, "negative_volume")
    feed.inject_bad_bar(t0 + 2 * FIVE_MIN, "high_below_low")
    feed.inject_gap(t0 + 3 * FIVE_MIN, t0 + 4 * FIVE_MIN)
    bars = {b.open_time: b for b in feed.klines(FIVE_MIN, NOW, start_ms=t0, limit=6)}
    assert math.isnan(bars[t0].close)
    assert bars[t0 + FIVE_MIN].volume < 0
    assert bars[t0 + 2 * FIVE_MIN].high < bars[t0 + 2 * FIVE_MIN].low
    assert t0 + 3 * FIVE_MIN not in bars and t0 + 4 * FIVE_MIN not in bars
    assert len(bars) == 6
    with pytest.raises(ValueError):
        feed.inject_bad_bar(t0 + 1, "nan")
