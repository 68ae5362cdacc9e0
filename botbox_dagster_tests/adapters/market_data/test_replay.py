"""Replay: a recording played onto live minutes, closed bars only, gaps kept, ping-pong loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from botbox_dagster.adapters.market_data.base import UnknownMarketError
from botbox_dagster.adapters.market_data.replay import ReplaySource

NOW = datetime(2025, 6, 2, 10, 17, 42, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_bars_land_on_current_minutes_and_only_closed_ones(replay_dir: Path) -> None:
    source = ReplaySource(replay_dir)
    result = source.fetch("UNITTEST/BTC", NOW - timedelta(hours=2), NOW + timedelta(hours=1), NOW)
    index = result.frame.index
    assert len(index) > 60
    assert (index.second == 0).all() and (index.microsecond == 0).all()
    assert index[-1] == pd.Timestamp("2025-06-02 10:16", tz="UTC")  # 10:17 is still forming
    assert index[0] >= pd.Timestamp(NOW - timedelta(hours=2))
    assert result.rejections == [] and result.calls == 0
    assert source.base_timeframe("UNITTEST/BTC") == "1m"


def test_recording_gaps_stay_gaps(replay_dir: Path, shared_data: Path) -> None:
    source = ReplaySource(replay_dir)
    rec = source.recording("UNITTEST/BTC")
    assert rec.span - len(rec.offsets) == 717
    # One full forward pass, aligned on the loop's start: exactly the recording's bars.
    step = 60
    anchor = datetime(2020, 1, 1, tzinfo=UTC)
    k = int((NOW - anchor).total_seconds()) // step // (2 * rec.span) + 1
    start = anchor + timedelta(seconds=k * 2 * rec.span * step)
    frame = source.fetch(
        "UNITTEST/BTC", start, start + rec.span * MIN, start + 30 * 86_400 * MIN
    ).frame
    data = pd.read_csv(
        shared_data / "candles" / "UNITTEST_BTC-1m.csv", float_precision="round_trip"
    )
    assert len(frame) == len(data) == rec.span - 717
    expected = (data["timestamp"] - data["timestamp"].iloc[0]) // 60_000
    got = ((frame.index - pd.Timestamp(start)) / pd.Timedelta(minutes=1)).astype(int)
    assert list(got) == list(expected)
    np.testing.assert_array_equal(frame["close"].to_numpy(), data["close"].to_numpy())


def test_ping_pong_is_continuous_and_deterministic(replay_dir: Path) -> None:
    a, b = ReplaySource(replay_dir), ReplaySource(replay_dir)
    rec = a.recording("ETH/BTC")
    anchor = datetime(2020, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=5)
    k = int((NOW - anchor) / step) // (2 * rec.span) + 1
    turn = anchor + (k * 2 * rec.span + rec.span) * step  # first backward bar
    window = (turn - 20 * step, turn + 20 * step)
    late = turn + 100 * step
    fa = a.fetch("ETH/BTC", *window, late).frame
    fb = b.fetch("ETH/BTC", *window, late).frame
    pd.testing.assert_frame_equal(fa, fb)
    assert len(fa) == 40  # the recording has no gap at its end
    # The last forward bar is played again backward: its close becomes the next open.
    last_fwd, first_back = fa.loc[pd.Timestamp(turn - step)], fa.loc[pd.Timestamp(turn)]
    assert first_back["open"] == last_fwd["close"] and first_back["close"] == last_fwd["open"]
    # Backward play mirrors the forward bars around the turn.
    for i in range(1, 20):
        fwd, back = (
            fa.loc[pd.Timestamp(turn - i * step)],
            fa.loc[pd.Timestamp(turn + (i - 1) * step)],
        )
        assert (back["open"], back["close"]) == (fwd["close"], fwd["open"])
        assert (back["high"], back["low"], back["volume"]) == (
            fwd["high"],
            fwd["low"],
            fwd["volume"],
        )
    # Across the turn the price path stays close to continuous (no jump to the start).
    jumps = (fa["open"].iloc[1:].to_numpy() - fa["close"].iloc[:-1].to_numpy()) / fa["close"].iloc[
        :-1
    ]
    assert np.abs(jumps).max() < 0.02


def test_base_timeframe_is_the_finest_recording(replay_dir: Path) -> None:
    source = ReplaySource(replay_dir)
    assert source.base_timeframe("ETH/BTC") == "5m"
    assert source.base_timeframe("XRP/USDT:USDT") == "5m"
    frame = source.fetch("ETH/BTC", NOW - timedelta(hours=1), NOW, NOW).frame
    assert (frame.index.minute % 5 == 0).all()
    assert frame.index[-1] == pd.Timestamp("2025-06-02 10:10", tz="UTC")  # 10:15 forming


def test_unknown_market(replay_dir: Path) -> None:
    with pytest.raises(UnknownMarketError, match=r"DOGE_USDT-1m\.csv"):
        ReplaySource(replay_dir).fetch("DOGE/USDT", NOW - MIN * 10, NOW, NOW)
