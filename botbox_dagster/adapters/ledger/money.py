"""The fleet's P&L per quote currency and the prices that convert it, read from the ledger.

Read by the fleet metrics (``metrics.py``: the fleet-status asset, ``botbox status``, the
dashboard and the alerts); the rules
(what a quote currency is, which bar prices it, what is left unconverted) are in
``domain/money.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botbox_dagster.domain.money import (
    REPORTING_CURRENCY,
    ConversionRate,
    PriceBar,
    conversion_rates,
    price_markets,
    quote_currency,
)


@dataclass(frozen=True)
class LedgerPnl:
    """Positions' P&L summed per quote currency (a currency appears once a position in it
    counts towards that sum), and the rates that price those currencies in ``reporting``."""

    open_positions: int
    realized: dict[str, float] = field(default_factory=dict)  # CLOSED positions
    unrealized: dict[str, float] = field(default_factory=dict)  # OPEN positions, marked
    realized_day: dict[str, float] = field(default_factory=dict)  # closed in the window
    reporting: str = REPORTING_CURRENCY
    rates: dict[str, ConversionRate] = field(default_factory=dict)


def ledger_pnl(conn: Any, since: datetime, reporting: str = REPORTING_CURRENCY) -> LedgerPnl:
    """P&L per quote currency (``realized_day``: positions closed at or after ``since``) and a
    conversion rate for each of those currencies that a stored bar prices in ``reporting``."""
    rows = conn.execute(
        "SELECT symbol, "
        "count(*) FILTER (WHERE status = 'OPEN'), "
        "coalesce(sum(unrealized_pnl) FILTER (WHERE status = 'OPEN'), 0), "
        "count(*) FILTER (WHERE status = 'CLOSED'), "
        "coalesce(sum(realized_pnl) FILTER (WHERE status = 'CLOSED'), 0), "
        "count(*) FILTER (WHERE status = 'CLOSED' AND closed_at >= ?), "
        "coalesce(sum(realized_pnl) FILTER (WHERE status = 'CLOSED' AND closed_at >= ?), 0) "
        "FROM positions GROUP BY symbol ORDER BY symbol",
        [since, since],
    ).fetchall()
    realized: dict[str, float] = {}
    unrealized: dict[str, float] = {}
    realized_day: dict[str, float] = {}
    open_positions = 0
    for symbol, n_open, u, n_closed, r, n_day, r_day in rows:
        cur = quote_currency(symbol)
        open_positions += int(n_open)
        if n_open:
            unrealized[cur] = unrealized.get(cur, 0.0) + float(u)
        if n_closed:
            realized[cur] = realized.get(cur, 0.0) + float(r)
        if n_day:
            realized_day[cur] = realized_day.get(cur, 0.0) + float(r_day)
    currencies = set(realized) | set(unrealized) | set(realized_day)
    rates = conversion_rates(
        newest_bars(conn, price_markets(currencies, reporting)), currencies, reporting
    )
    return LedgerPnl(open_positions, realized, unrealized, realized_day, reporting, rates)


def newest_bars(conn: Any, symbols: Iterable[str]) -> list[PriceBar]:
    """The newest stored bar of each of ``symbols`` on every exchange and timeframe it has."""
    wanted = sorted(set(symbols))
    if not wanted:
        return []
    marks = ", ".join("?" for _ in wanted)
    rows = conn.execute(
        "SELECT c.exchange, c.symbol, c.timeframe, c.open_time, c.close FROM candles c JOIN "
        "(SELECT exchange, symbol, timeframe, max(open_time) AS newest FROM candles "
        f"WHERE symbol IN ({marks}) GROUP BY exchange, symbol, timeframe) n "
        "ON c.exchange = n.exchange AND c.symbol = n.symbol AND c.timeframe = n.timeframe "
        "AND c.open_time = n.newest",
        wanted,
    ).fetchall()
    return [PriceBar(ex, sym, tf, t, float(close)) for ex, sym, tf, t, close in rows]
