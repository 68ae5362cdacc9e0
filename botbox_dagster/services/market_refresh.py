"""Refreshing one market: fetch what is new, store it, derive longer timeframes, report gaps.

Used by the ``candles`` asset for the minute refresh (today's partition, only bars newer than the
newest stored one) and for backfills (a whole range of days, fetched with paging).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.base import MarketDataSource
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.candles import Gap, Rejection, find_gaps


@dataclass(frozen=True)
class MarketRefresh:
    """What one market's refresh did, for logs and materialization metadata."""

    exchange: str
    symbol: str
    timeframe: str
    fetched_from: datetime | None
    rows_written: int
    derived_rows: dict[str, int]
    newest: datetime | None
    gaps: list[Gap] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    calls: int = 0
    error: str | None = None

    def age(self, now: datetime) -> timedelta | None:
        if self.newest is None:
            return None
        return timeframes.candle_age(self.newest, self.timeframe, now)


def refresh_market(
    store: LedgerStore,
    source: MarketDataSource,
    exchange: str,
    symbol: str,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    newest: dict[tuple[str, str, str], datetime],
    incremental: bool,
    seed_history: timedelta = timedelta(0),
    log: Callable[[str], None] = lambda _msg: None,
) -> MarketRefresh:
    """Fetch and store closed bars of ``symbol`` in [start, end).

    ``incremental`` (the minute refresh) starts after the newest stored bar when it lies in the
    window, and seeds a market seen for the first time with ``seed_history`` before the window so
    its bots can warm up their indicators; a backfill fetches the whole window again (upserts make
    that harmless).
    """
    tf = source.base_timeframe(symbol)
    newest_stored = newest.get((exchange, symbol, tf))
    since = start
    if incremental and (newest_stored is None or newest_stored < start - seed_history):
        # Never seen, or stale beyond the seed window (bots paused for days): seed it again.
        since = start - seed_history
    elif incremental and newest_stored is not None:
        since = max(start - seed_history, newest_stored + timeframes.delta(tf))
    until = min(end, timeframes.floor(now, tf))
    if since >= until:
        return MarketRefresh(exchange, symbol, tf, None, 0, {}, newest_stored)
    result = source.fetch(symbol, since, until, now)
    for rejection in result.rejections:
        log(f"{exchange} {symbol}: rejected bar {rejection.open_time}: {rejection.reason}")
    written = store.upsert_candles(exchange, symbol, tf, result.frame, source=source.name, now=now)
    index = result.frame.index
    if incremental and newest_stored is not None and len(index):
        index = pd.DatetimeIndex([pd.Timestamp(newest_stored), *index])
    gaps = find_gaps(index, tf)
    derived: dict[str, int] = {}
    if written:
        longer = [
            t
            for t in timeframes.DERIVED_TIMEFRAMES
            if timeframes.seconds(t) > timeframes.seconds(tf)
        ]
        first = result.frame.index[0].to_pydatetime()
        derived = store.resample_candles(
            exchange,
            symbol,
            longer,
            base_timeframe=tf,
            start=timeframes.floor(first, "1h"),
            end=until,
            now=now,
        )
    newest_now = result.frame.index[-1].to_pydatetime() if written else newest_stored
    return MarketRefresh(
        exchange=exchange,
        symbol=symbol,
        timeframe=tf,
        fetched_from=since,
        rows_written=written,
        derived_rows=derived,
        newest=newest_now,
        gaps=gaps,
        rejections=result.rejections,
        calls=result.calls,
    )
