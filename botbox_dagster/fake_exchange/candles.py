"""Candle feed: a recorded CSV replayed on the fake exchange's clock.

A recording (``timestamp,open,high,low,close,volume``, open time in Unix ms) is served
shifted in time: ``served open time = recorded open time + offset``. A *live* shift picks the
offset so that one recorded bar (the last by default) is the bar forming right now; with
``loop=True`` the recording repeats forever in both directions, so the feed never runs dry.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}

BAD_BAR_KINDS = ("nan", "negative_volume", "high_below_low")


@dataclass(frozen=True)
class Bar:
    """One OHLCV candle; ``open_time`` in Unix ms."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class TimeShift:
    """How recorded time maps to served time.

    ``fixed(offset_ms)`` adds a constant; ``live(anchor_index, loop)`` puts the recorded bar
    at ``anchor_index`` (default: the last) on the current bar of the fake clock.
    """

    live: bool = True
    offset_ms: int = 0
    anchor_index: int = -1
    loop: bool = True

    @classmethod
    def fixed(cls, offset_ms: int = 0, loop: bool = False) -> TimeShift:
        """A constant shift (``0`` serves the recording at its original dates)."""
        return cls(live=False, offset_ms=offset_ms, loop=loop)

    @classmethod
    def make_live(cls, anchor_index: int = -1, loop: bool = True) -> TimeShift:
        """Recorded bar ``anchor_index`` becomes the bar forming now."""
        return cls(live=True, anchor_index=anchor_index, loop=loop)


def load_bars(path: Path) -> list[Bar]:
    """Read a candles CSV, sorted by open time."""
    with path.open(newline="") as fh:
        rows = [
            Bar(
                int(float(r["timestamp"])),
                *(float(r[k]) for k in ("open", "high", "low", "close", "volume")),
            )
            for r in csv.DictReader(fh)
        ]
    rows.sort(key=lambda b: b.open_time)
    return rows


def infer_timeframe_ms(path: Path, bars: list[Bar]) -> int:
    """Timeframe from the file name (``ETH_BTC-5m.csv``) or else the smallest bar spacing."""
    match = re.search(r"-(\d+[mhd])(?:[-.]|$)", path.name)
    if match and match.group(1) in INTERVAL_MS:
        return INTERVAL_MS[match.group(1)]
    diffs = [b.open_time - a.open_time for a, b in itertools.pairwise(bars)]
    return min(d for d in diffs if d > 0) if diffs else 60_000


def floor_to(ms: int, step: int) -> int:
    """Round ``ms`` down to a multiple of ``step``."""
    return ms - ms % step


class CandleFeed:
    """Serves one market's recorded bars on the fake clock, with injectable bad data."""

    def __init__(self, bars: list[Bar], timeframe_ms: int, shift: TimeShift, now_ms: int) -> None:
        if not bars:
            raise ValueError("a candle feed needs at least one bar")
        self.timeframe_ms = timeframe_ms
        self._bars = bars
        self._times = [b.open_time for b in bars]
        self.loop = shift.loop
        self.period_ms = self._times[-1] - self._times[0] + timeframe_ms
        if shift.live:
            anchor = self._times[shift.anchor_index]
            self.offset_ms = floor_to(now_ms, timeframe_ms) - anchor
        else:
            self.offset_ms = shift.offset_ms
        self._overrides: dict[int, Bar] = {}
        self._gaps: set[int] = set()

    @classmethod
    def from_csv(
        cls, path: Path, shift: TimeShift, now_ms: int, timeframe_ms: int | None = None
    ) -> CandleFeed:
        """Load a recording; the timeframe comes from the file name unless given."""
        bars = load_bars(path)
        return cls(bars, timeframe_ms or infer_timeframe_ms(path, bars), shift, now_ms)

    # -- injected bad data -------------------------------------------------------------
    def inject_bad_bar(self, open_time: int, kind: str) -> None:
        """Corrupt the served bar opening at ``open_time`` (one of ``BAD_BAR_KINDS``)."""
        bar = self._raw_bar_at(open_time)
        if bar is None:
            raise ValueError(f"no bar opens at {open_time}")
        if kind == "nan":
            bad = replace(bar, close=math.nan)
        elif kind == "negative_volume":
            bad = replace(bar, volume=-abs(bar.volume) - 1.0)
        elif kind == "high_below_low":
            bad = replace(bar, high=bar.low, low=bar.high + abs(bar.high - bar.low) + 1e-8)
        else:
            raise ValueError(f"unknown bad bar kind {kind!r}; expected one of {BAD_BAR_KINDS}")
        self._overrides[open_time] = bad

    def inject_gap(self, start_ms: int, end_ms: int) -> None:
        """Drop every served bar opening in ``[start_ms, end_ms]``."""
        for bar in self.raw_bars_between(start_ms, end_ms):
            self._gaps.add(bar.open_time)

    def clear_injections(self) -> None:
        """Forget injected bad bars and gaps."""
        self._overrides.clear()
        self._gaps.clear()

    # -- reading -------------------------------------------------------------------
    def raw_bars_between(self, start_ms: int, end_ms: int) -> Iterator[Bar]:
        """Recorded bars (no injections) served opening in ``[start_ms, end_ms]``."""
        if start_ms > end_ms:
            return
        times = self._times
        if not self.loop:
            lo = bisect_left(times, start_ms - self.offset_ms)
            hi = bisect_right(times, end_ms - self.offset_ms)
            for i in range(lo, hi):
                yield replace(self._bars[i], open_time=times[i] + self.offset_ms)
            return
        k = (start_ms - self.offset_ms - times[0]) // self.period_ms
        while True:
            base = self.offset_ms + k * self.period_ms
            if times[0] + base > end_ms:
                return
            lo = bisect_left(times, start_ms - base)
            hi = bisect_right(times, end_ms - base)
            for i in range(lo, hi):
                yield replace(self._bars[i], open_time=times[i] + base)
            k += 1

    def _raw_bar_at(self, open_time: int) -> Bar | None:
        return next(self.raw_bars_between(open_time, open_time), None)

    def bars_between(self, start_ms: int, end_ms: int) -> Iterator[Bar]:
        """Served bars (with injections) opening in ``[start_ms, end_ms]``, oldest first."""
        for bar in self.raw_bars_between(start_ms, end_ms):
            if bar.open_time in self._gaps:
                continue
            yield self._overrides.get(bar.open_time, bar)

    def last_closed(self, now_ms: int) -> Bar | None:
        """The latest bar whose close time has passed (ignores injected bad data)."""
        t = now_ms - self.timeframe_ms
        times = self._times
        if self.loop:
            k = (t - self.offset_ms - times[0]) // self.period_ms
            base = self.offset_ms + k * self.period_ms
        else:
            base = self.offset_ms
        i = bisect_right(times, t - base) - 1
        if i < 0:
            return None
        return replace(self._bars[i], open_time=times[i] + base)

    def klines(
        self,
        interval_ms: int,
        now_ms: int,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Bar]:
        """Binance ``klines`` semantics, including the forming bar as the last row.

        With ``start_ms`` the first ``limit`` bars opening at or after it; otherwise the
        bars of the last ``limit`` intervals up to ``end_ms`` (default now). Longer
        intervals are aggregated from the recording's timeframe.
        """
        if interval_ms < self.timeframe_ms or interval_ms % self.timeframe_ms:
            raise ValueError("interval finer than the recording")
        upper = now_ms if end_ms is None else min(end_ms, now_ms)
        if start_ms is None:
            start_ms = floor_to(upper, interval_ms) - (limit - 1) * interval_ms
        else:
            start_ms = -(-start_ms // interval_ms) * interval_ms
        if interval_ms == self.timeframe_ms:
            out: list[Bar] = []
            for bar in self.bars_between(start_ms, upper):
                out.append(bar)
                if len(out) >= limit:
                    break
            return out
        return _aggregate(self.bars_between(start_ms, upper), interval_ms, limit)


def _aggregate(bars: Iterator[Bar], interval_ms: int, limit: int) -> list[Bar]:
    out: list[Bar] = []
    for bar in bars:
        bucket = floor_to(bar.open_time, interval_ms)
        if out and out[-1].open_time == bucket:
            prev = out[-1]
            out[-1] = Bar(
                bucket,
                prev.open,
                max(prev.high, bar.high),
                min(prev.low, bar.low),
                bar.close,
                prev.volume + bar.volume,
            )
            continue
        if len(out) >= limit:
            break
        out.append(replace(bar, open_time=bucket))
    return out
