"""Replay: recorded candles played as if live, so the demo trades with no network.

A recording is a CSV in the format of ``shared/data/candles`` (``timestamp`` in ms, OHLCV), named
``BASE_QUOTE-<timeframe>.csv`` (``XRP_USDT_USDT-5m-futures.csv`` for ``XRP/USDT:USDT``). Bar ``i``
of the recording is mapped onto live time by a fixed anchor, so every process agrees on what the
market "is" at any minute without sharing state; the recording loops when it runs out, and
the recording's own gaps stay gaps. It loops as a ping-pong: played forward, then backward in time
(each bar's open and close swapped), so the price path stays continuous and inside the recording's
range however long the demo runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from botbox_dagster.adapters.market_data.base import FetchResult, UnknownMarketError
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.candles import COLUMNS, validate

ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)
_NAME = re.compile(r"^(?P<market>[A-Z0-9_]+)-(?P<tf>\d+[mhd])(?:-(?P<kind>[a-z_]+))?\.csv$")


def symbol_to_stem(symbol: str) -> str:
    return symbol.replace("/", "_").replace(":", "_")


@dataclass(frozen=True)
class Recording:
    timeframe: str
    offsets: np.ndarray  # bar offsets from the first bar, in steps, sorted
    values: np.ndarray  # OHLCV rows aligned with offsets
    span: int  # bars in one pass (last offset + 1)

    @classmethod
    def from_csv(cls, path: Path, timeframe: str) -> Recording:
        data = pd.read_csv(path, float_precision="round_trip")
        missing = {"timestamp", *COLUMNS} - set(data.columns)
        if missing:
            raise ValueError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
        data = data.sort_values("timestamp").drop_duplicates("timestamp")
        step_ms = timeframes.seconds(timeframe) * 1000
        ts = data["timestamp"].to_numpy(dtype=np.int64)
        offsets = (ts - ts[0]) // step_ms
        values = data[COLUMNS].to_numpy(dtype=float)
        return cls(
            timeframe=timeframe,
            offsets=offsets,
            values=values,
            span=int(offsets[-1]) + 1,
        )

    def bars(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Live bars with open time in [start, end)."""
        step = timeframes.seconds(self.timeframe)
        first = -(-int((start - ANCHOR).total_seconds()) // step)  # ceil
        last = -(-int((end - ANCHOR).total_seconds()) // step)  # exclusive
        if last <= first:
            return pd.DataFrame(columns=COLUMNS, index=pd.DatetimeIndex([], tz="UTC"))
        live = np.arange(first, last, dtype=np.int64)
        phase = np.mod(live, 2 * self.span)
        backward = phase >= self.span
        position = np.where(backward, 2 * self.span - 1 - phase, phase)
        found = np.minimum(np.searchsorted(self.offsets, position), len(self.offsets) - 1)
        present = self.offsets[found] == position
        live, found, backward = live[present], found[present], backward[present]
        values = self.values[found].copy()
        values[backward, 0], values[backward, 3] = values[backward, 3], values[backward, 0].copy()
        index = pd.DatetimeIndex(
            pd.to_datetime(ANCHOR.timestamp() + live * step, unit="s", utc=True), name="open_time"
        )
        return pd.DataFrame(values, index=index, columns=COLUMNS)


class ReplaySource:
    """Market data from a folder of recordings; no network, no exchange calls."""

    name = "replay"

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._recordings: dict[str, Recording] = {}

    def _files(self, symbol: str) -> list[tuple[int, str, Path]]:
        stem = symbol_to_stem(symbol)
        found = []
        for path in self.folder.glob(f"{stem}-*.csv"):
            match = _NAME.match(path.name)
            if not match or match["market"] != stem or match["tf"] not in timeframes.SECONDS:
                continue
            if match["kind"] not in (None, "futures", "spot"):
                continue
            found.append((timeframes.seconds(match["tf"]), match["tf"], path))
        return sorted(found)

    def recording(self, symbol: str) -> Recording:
        if symbol not in self._recordings:
            files = self._files(symbol)
            if not files:
                raise UnknownMarketError(
                    f"replay folder {self.folder} has no recording for {symbol} "
                    f"(expected {symbol_to_stem(symbol)}-1m.csv or another timeframe)"
                )
            _, tf, path = files[0]
            self._recordings[symbol] = Recording.from_csv(path, tf)
        return self._recordings[symbol]

    def base_timeframe(self, symbol: str) -> str:
        return self.recording(symbol).timeframe

    def fetch(self, symbol: str, since: datetime, until: datetime, now: datetime) -> FetchResult:
        rec = self.recording(symbol)
        closed_end = timeframes.floor(now, rec.timeframe)  # bars opening before this are closed
        frame = rec.bars(since, min(until, closed_end))
        clean, rejections = validate(frame, rec.timeframe)
        return FetchResult(frame=clean, rejections=rejections)
