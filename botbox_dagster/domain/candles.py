"""Checking candles before they are stored, and finding the bars that are missing.

Exchanges occasionally send broken bars (NaN, negative volume, a high below the low). Each is
rejected with a reason and never stored; missing bars are reported as gaps and never invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from botbox_dagster.domain import timeframes

COLUMNS = ["open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class Rejection:
    open_time: datetime | None
    reason: str


@dataclass(frozen=True)
class Gap:
    """Bars missing between two stored bars: [first_missing, last_missing]."""

    first_missing: datetime
    last_missing: datetime
    bars: int


def frame_from_rows(rows: list[list[float]]) -> pd.DataFrame:
    """ccxt-style rows ``[ms, open, high, low, close, volume]`` to a frame indexed by UTC time."""
    if not rows:
        return pd.DataFrame(columns=COLUMNS, index=pd.DatetimeIndex([], tz="UTC", name="open_time"))
    raw = pd.DataFrame(rows, columns=["ts", *COLUMNS])
    for col in COLUMNS:
        raw[col] = pd.to_numeric(raw[col], errors="coerce")
    ts = pd.to_numeric(raw["ts"], errors="coerce")
    index = pd.to_datetime(ts, unit="ms", utc=True, errors="coerce")
    frame = raw[COLUMNS].astype(float)
    frame.index = pd.DatetimeIndex(index, name="open_time")
    return frame


def validate(frame: pd.DataFrame, timeframe: str) -> tuple[pd.DataFrame, list[Rejection]]:
    """Split bars into valid ones and rejections with a reason each (first failing rule)."""
    rejections: list[Rejection] = []
    if frame.empty:
        return frame, rejections
    step = timeframes.seconds(timeframe)
    values = frame[COLUMNS].to_numpy(dtype=float)
    o, h, low, c, v = values.T
    reasons = np.full(len(frame), "", dtype=object)

    def mark(mask: np.ndarray, reason: str) -> None:
        free = (reasons == "") & mask
        reasons[free] = reason

    index = frame.index
    mark(np.asarray(index.isna()), "missing or unreadable timestamp")
    mark(~np.isfinite(values).all(axis=1), "NaN or infinite value")
    mark((values[:, :4] <= 0).any(axis=1), "non-positive price")
    mark(v < 0, "negative volume")
    mark(h < low, "high below low")
    mark(h < np.maximum(o, c), "high below open or close")
    mark(low > np.minimum(o, c), "low above open or close")
    # Unreadable timestamps are already marked; they must not switch the check off for the rest.
    # Nanoseconds, not whole seconds: a bar 500 ms off its minute is misaligned too.
    nanos = np.where(np.asarray(index.isna()), 0, pd.DatetimeIndex(index).as_unit("ns").asi8)
    mark((nanos % (step * 1_000_000_000)) != 0, f"open time not aligned to {timeframe}")
    mark(np.asarray(index.duplicated(keep="first")), "duplicate open time")
    bad = reasons != ""
    for ts, reason in zip(index[bad], reasons[bad], strict=True):
        rejections.append(Rejection(None if pd.isna(ts) else ts.to_pydatetime(), str(reason)))
    clean = frame[~bad].sort_index()
    return clean, rejections


def find_gaps(index: pd.DatetimeIndex, timeframe: str) -> list[Gap]:
    """Runs of missing bars between consecutive present bars of a sorted index."""
    if len(index) < 2:
        return []
    step = pd.Timedelta(seconds=timeframes.seconds(timeframe))
    diffs = index[1:] - index[:-1]
    gaps: list[Gap] = []
    for position in np.flatnonzero(diffs > step):
        before = index[position]
        after = index[position + 1]
        bars = int((after - before) / step) - 1
        gaps.append(Gap((before + step).to_pydatetime(), (after - step).to_pydatetime(), bars))
    return gaps
