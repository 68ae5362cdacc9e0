"""Candle validation (each broken bar rejected with its reason) and gap finding."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from botbox_dagster.domain.candles import find_gaps, frame_from_rows, validate

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000


def good(i: int, **kw: float) -> list[float]:
    row = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 3.0, **kw}
    return [T0 + i * MIN, row["open"], row["high"], row["low"], row["close"], row["volume"]]


def test_each_broken_bar_is_rejected_with_its_reason() -> None:
    rows = [
        good(0),
        good(1, close=math.nan),
        good(2, volume=-1.0),
        good(3, high=8.0, low=9.5, open=9.0, close=9.0),  # high below low
        [T0 + 4 * MIN + 30_000, 10.0, 11.0, 9.0, 10.5, 3.0],  # misaligned
        good(5),
        good(5, close=10.7),  # duplicate open time
        good(6, open=0.0),
        good(7, high=10.2),  # high below close
        good(8, low=10.2),  # low above open
        good(9, open=math.inf),
        ["garbage", 10.0, 11.0, 9.0, 10.5, 3.0],
        good(10),
    ]
    clean, rejections = validate(frame_from_rows(rows), "1m")  # type: ignore[arg-type]
    reasons = {(r.open_time, r.reason) for r in rejections}
    at = lambda i: datetime.fromtimestamp((T0 + i * MIN) / 1000, tz=UTC)  # noqa: E731
    assert reasons == {
        (at(1), "NaN or infinite value"),
        (at(2), "negative volume"),
        (at(3), "high below low"),
        (
            datetime.fromtimestamp((T0 + 4 * MIN + 30_000) / 1000, tz=UTC),
            "open time not aligned to 1m",
        ),
        (at(5), "duplicate open time"),
        (at(6), "non-positive price"),
        (at(7), "high below open or close"),
        (at(8), "low above open or close"),
        (at(9), "NaN or infinite value"),
        (None, "missing or unreadable timestamp"),
    }
    assert list(clean.index) == [pd.Timestamp(at(i)) for i in (0, 5, 10)]
    assert clean.loc[pd.Timestamp(at(5)), "close"] == 10.5  # the first of the duplicates kept
    assert clean.index.is_monotonic_increasing


def test_valid_frame_passes_untouched() -> None:
    frame = frame_from_rows([good(i) for i in range(5)])
    clean, rejections = validate(frame, "1m")
    assert rejections == []
    pd.testing.assert_frame_equal(clean, frame)
    assert validate(frame_from_rows([]), "1m")[0].empty


def test_alignment_follows_the_timeframe() -> None:
    frame = frame_from_rows([good(0), good(5), good(7)])
    _, rejections = validate(frame, "5m")
    assert [r.reason for r in rejections] == ["open time not aligned to 5m"]
    off_by_500ms = frame_from_rows([good(0), [T0 + MIN + 500, 10.0, 11.0, 9.0, 10.5, 3.0]])
    _, rejections = validate(off_by_500ms, "1m")
    assert [r.reason for r in rejections] == ["open time not aligned to 1m"]


def test_find_gaps_on_the_real_recording(shared_data: Path) -> None:
    data = pd.read_csv(shared_data / "candles" / "UNITTEST_BTC-1m.csv")
    index = pd.DatetimeIndex(pd.to_datetime(data["timestamp"], unit="ms", utc=True))
    gaps = find_gaps(index, "1m")
    span = int((index[-1] - index[0]) / pd.Timedelta(minutes=1)) + 1
    assert span - len(index) == 717
    assert sum(g.bars for g in gaps) == 717
    present = set(index)
    for gap in gaps:
        before = pd.Timestamp(gap.first_missing) - pd.Timedelta(minutes=1)
        after = pd.Timestamp(gap.last_missing) + pd.Timedelta(minutes=1)
        assert before in present and after in present
        assert pd.Timestamp(gap.first_missing) not in present
        assert gap.bars == int((after - before) / pd.Timedelta(minutes=1)) - 1


def test_find_gaps_small() -> None:
    index = pd.DatetimeIndex(
        [pd.Timestamp(T0 + i * MIN, unit="ms", tz="UTC") for i in (0, 1, 4, 5, 7)]
    )
    gaps = find_gaps(index, "1m")
    assert [(g.bars, g.first_missing.minute, g.last_missing.minute) for g in gaps] == [
        (2, 2, 3),
        (1, 6, 6),
    ]
    assert find_gaps(index[:1], "1m") == []
