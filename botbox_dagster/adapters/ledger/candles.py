"""``candles``: closed OHLCV bars keyed by (exchange, symbol, timeframe, open time).

Writes are idempotent upserts, so a refresh or a backfill can be re-run without duplicating rows.
Longer timeframes are derived from stored 1-minute bars in SQL; a bucket is only written once all
of its minutes are closed, and a bucket with missing minutes is still built from the minutes that
exist (gaps are reported, never filled with invented prices).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

TIMEFRAME_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}
COLUMNS = ["open", "high", "low", "close", "volume"]


class CandleTables:
    """Candle storage. Mixed into :class:`LedgerStore`."""

    run: Any

    def upsert_candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        frame: pd.DataFrame,
        *,
        source: str,
        now: datetime | None = None,
    ) -> int:
        """Insert or replace closed bars (``frame`` indexed by UTC open time); return the count."""
        if frame.empty:
            return 0
        now = now or datetime.now(UTC)
        incoming = pd.DataFrame(
            {
                "exchange": exchange,
                "symbol": symbol,
                "timeframe": timeframe,
                "open_time": frame.index,
                **{col: frame[col].to_numpy(dtype=float) for col in COLUMNS},
                "source": source,
                "ingested_at": pd.Timestamp(now),
            }
        )

        def work(conn: Any) -> int:
            # One set-based statement: executemany would pay a round trip per bar.
            conn.register("incoming_candles", incoming)
            try:
                conn.execute(
                    "INSERT INTO candles (exchange, symbol, timeframe, open_time, open, high, low, "
                    "close, volume, source, ingested_at) SELECT exchange, symbol, timeframe, "
                    "open_time, open, high, low, close, volume, source, ingested_at "
                    "FROM incoming_candles "
                    "ON CONFLICT (exchange, symbol, timeframe, open_time) DO UPDATE SET "
                    "open = excluded.open, high = excluded.high, low = excluded.low, "
                    "close = excluded.close, volume = excluded.volume, source = excluded.source, "
                    "ingested_at = excluded.ingested_at"
                )
            finally:
                conn.unregister("incoming_candles")
            return len(incoming)

        return self.run(work)

    def latest_candle_times_all(self) -> dict[tuple[str, str, str], datetime]:
        """Newest stored open time per (exchange, symbol, timeframe)."""
        rows = self.run(
            lambda c: c.execute(
                "SELECT exchange, symbol, timeframe, max(open_time) FROM candles "
                "GROUP BY exchange, symbol, timeframe"
            ).fetchall()
        )
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def latest_candle_times(self, timeframe: str = "1m") -> dict[tuple[str, str], datetime]:
        """Newest stored open time per (exchange, symbol) for one timeframe."""
        rows = self.run(
            lambda c: c.execute(
                "SELECT exchange, symbol, max(open_time) FROM candles WHERE timeframe = ? "
                "GROUP BY exchange, symbol",
                [timeframe],
            ).fetchall()
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def read_candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Bars in [start, end) ordered by open time; with ``limit``, the newest ``limit`` bars."""
        clauses = ["exchange = ?", "symbol = ?", "timeframe = ?"]
        params: list[Any] = [exchange, symbol, timeframe]
        if start is not None:
            clauses.append("open_time >= ?")
            params.append(start)
        if end is not None:
            clauses.append("open_time < ?")
            params.append(end)
        sql = (
            "SELECT open_time, open, high, low, close, volume FROM candles WHERE "
            + " AND ".join(clauses)
            + " ORDER BY open_time DESC"
            + (f" LIMIT {int(limit)}" if limit else "")
        )
        frame = self.run(lambda c: c.execute(sql, params).df())
        frame = frame.sort_values("open_time").set_index("open_time")
        frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
        return frame

    def resample_candles(
        self,
        exchange: str,
        symbol: str,
        timeframes: Sequence[str],
        *,
        base_timeframe: str = "1m",
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> dict[str, int]:
        """Derive longer bars from stored base bars whose bucket lies in [start, end); idempotent.

        Only buckets that end at or before ``end`` are built, so a bucket whose minutes are still
        forming is never written as closed.
        """
        now = now or datetime.now(UTC)
        written: dict[str, int] = {}

        def work(conn: Any) -> dict[str, int]:
            for tf in timeframes:
                minutes = TIMEFRAME_MINUTES[tf]
                bucket = f"time_bucket(INTERVAL '{minutes} minutes', open_time)"
                result = conn.execute(
                    "INSERT INTO candles (exchange, symbol, timeframe, open_time, open, high, low, "
                    "close, volume, source, ingested_at) "
                    f"SELECT exchange, symbol, ?, {bucket} AS b, arg_min(open, open_time), "
                    "max(high), min(low), arg_max(close, open_time), sum(volume), 'resampled', ? "
                    "FROM candles WHERE exchange = ? AND symbol = ? AND timeframe = ? "
                    "AND open_time >= ? AND open_time < ? "
                    f"GROUP BY exchange, symbol, b HAVING b + INTERVAL '{minutes} minutes' <= ? "
                    "ON CONFLICT (exchange, symbol, timeframe, open_time) DO UPDATE SET "
                    "open = excluded.open, high = excluded.high, low = excluded.low, "
                    "close = excluded.close, volume = excluded.volume, "
                    "ingested_at = excluded.ingested_at",
                    [tf, now, exchange, symbol, base_timeframe, start, end, end],
                ).fetchone()
                written[tf] = int(result[0]) if result else 0
            return written

        return self.run(work)
