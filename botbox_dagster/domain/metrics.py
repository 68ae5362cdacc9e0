"""The fleet's and each bot's metrics as values: what the ledger queries return, and the rates,
percentiles and equity curve derived from them (pure; the queries are in
``adapters/ledger/metrics.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botbox_dagster.domain.alerts import HealthInputs
from botbox_dagster.domain.minute_loop import MinuteLoop
from botbox_dagster.domain.money import (
    REPORTING_CURRENCY,
    ConversionRate,
    ConvertedTotal,
    convert,
    fmt_money,
    fmt_total,
)


def reason_key(reason: str | None) -> str:
    """A rejection reason without its numbers ("data too old: 185s" → "data too old")."""
    return re.split(r"[:(]", reason or "unknown", maxsplit=1)[0].strip() or "unknown"


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class ExchangeHealth:
    account: str
    venue: str
    execution: str
    circuit: str
    consecutive_failures: int
    weight_last_minute: int
    calls_last_hour: int
    rate_limited_recent: int  # 429/418 answers inside RATE_LIMIT_WINDOW
    market_data: str = "ccxt"  # where its candles come from: ccxt or replay


@dataclass(frozen=True)
class MarketFreshness:
    exchange: str
    symbol: str
    timeframe: str
    bots: int
    newest_candle: datetime | None
    age_seconds: float | None
    stale: bool


@dataclass(frozen=True)
class FleetMetrics:
    """Everything the operator surfaces show about the fleet as a whole.

    P&L is per quote currency (``..._by_currency``: currency -> amount, see ``domain/money.py``);
    the ``..._total`` properties convert it into ``reporting_currency`` at ``conversion_rates``
    and list what had no price as unconverted.
    """

    as_of: datetime
    bots_by_status: dict[str, int]
    signals_hour: dict[str, int]  # by status
    signals_day: dict[str, int]
    signals_by_strategy_hour: dict[str, int]
    signals_by_strategy_day: dict[str, int]
    signals_by_bot_day: dict[str, int]
    rejection_reasons_day: dict[str, int]
    trades_hour: int
    trades_day: int
    queue_by_status: dict[str, int]
    finished_day: dict[str, int]  # queue rows that reached a final status in the last day
    executions_hour: dict[str, int]  # FILLED / FAILED in the last hour
    order_latency_p50: float | None
    order_latency_p95: float | None
    signal_latency_p50: float | None
    signal_latency_p95: float | None
    exchanges: list[ExchangeHealth]
    markets: list[MarketFreshness]
    open_positions: int
    unrealized_pnl_by_currency: dict[str, float]  # OPEN positions, marked to market
    realized_pnl_by_currency: dict[str, float]  # CLOSED positions, all time
    realized_pnl_day_by_currency: dict[str, float]  # positions closed in the last day
    pause: dict[str, Any] = field(default_factory=dict)
    operator_rows_day: dict[str, int] = field(default_factory=dict)  # account -> rows
    reporting_currency: str = REPORTING_CURRENCY
    conversion_rates: dict[str, ConversionRate] = field(default_factory=dict)
    minute_loop: MinuteLoop = field(default_factory=MinuteLoop)

    @property
    def unrealized_pnl_total(self) -> ConvertedTotal:
        """Unrealized P&L of open positions in ``reporting_currency``."""
        return convert(
            self.unrealized_pnl_by_currency, self.conversion_rates, self.reporting_currency
        )

    @property
    def realized_pnl_total(self) -> ConvertedTotal:
        """Realized P&L of closed positions in ``reporting_currency``."""
        return convert(
            self.realized_pnl_by_currency, self.conversion_rates, self.reporting_currency
        )

    @property
    def realized_pnl_day_total(self) -> ConvertedTotal:
        """Realized P&L of the last day's closes in ``reporting_currency``."""
        return convert(
            self.realized_pnl_day_by_currency, self.conversion_rates, self.reporting_currency
        )

    @property
    def pnl_currencies(self) -> list[str]:
        """Every currency some position's P&L is in, sorted."""
        return sorted(
            set(self.unrealized_pnl_by_currency)
            | set(self.realized_pnl_by_currency)
            | set(self.realized_pnl_day_by_currency)
        )

    def pnl_rows(self) -> list[tuple[str, str, str, str, str]]:
        """One text row per P&L currency: currency, realized, realized last day, unrealized
        (each in that currency, "-" for none) and its price in the reporting currency (or that
        it has none and is not converted); then the converted totals' row."""
        cur = self.reporting_currency

        def amount(by_currency: dict[str, float], c: str) -> str:
            return fmt_money(by_currency[c], c) if c in by_currency else "-"

        rows = []
        for c in self.pnl_currencies:
            if c == cur:
                price = "reporting currency"
            elif c in self.conversion_rates:
                price = self.conversion_rates[c].describe()
            else:
                price = f"no {c}/{cur} or {cur}/{c} price: not converted"
            rows.append(
                (
                    c,
                    amount(self.realized_pnl_by_currency, c),
                    amount(self.realized_pnl_day_by_currency, c),
                    amount(self.unrealized_pnl_by_currency, c),
                    price,
                )
            )
        rows.append(
            (
                f"total ({cur})",
                fmt_total(self.realized_pnl_total),
                fmt_total(self.realized_pnl_day_total),
                fmt_total(self.unrealized_pnl_total),
                "converted at the prices above",
            )
        )
        return rows

    @property
    def unconverted_currencies(self) -> list[str]:
        """The P&L currencies with no price in ``reporting_currency`` (left out of totals)."""
        return [
            c
            for c in self.pnl_currencies
            if c != self.reporting_currency and c not in self.conversion_rates
        ]

    @property
    def active_bots(self) -> int:
        return self.bots_by_status.get("ACTIVE", 0)

    @property
    def queue_depth(self) -> int:
        return self.queue_by_status.get("PENDING", 0) + self.queue_by_status.get("EXECUTING", 0)

    @property
    def signals_judged_hour(self) -> int:
        return sum(self.signals_hour.values())

    @property
    def acceptance_rate_hour(self) -> float | None:
        total = self.signals_judged_hour
        return (total - self.signals_hour.get("REJECTED", 0)) / total if total else None

    @property
    def rejection_rate_hour(self) -> float | None:
        total = self.signals_judged_hour
        return self.signals_hour.get("REJECTED", 0) / total if total else None

    @property
    def fill_rate_day(self) -> float | None:
        total = sum(self.finished_day.values())
        return self.finished_day.get("FILLED", 0) / total if total else None

    @property
    def execution_failure_rate_hour(self) -> float | None:
        total = sum(self.executions_hour.values())
        return self.executions_hour.get("FAILED", 0) / total if total else None

    @property
    def fetches_saved_per_refresh(self) -> int:
        """Candle fetches one refresh saves by serving every bot of a market from one fetch."""
        return sum(max(0, m.bots - 1) for m in self.markets)

    @property
    def stale_markets(self) -> list[str]:
        return [f"{m.exchange} {m.symbol}" for m in self.markets if m.stale]

    def health_inputs(self) -> HealthInputs:
        return HealthInputs(
            open_breakers={e.account: e.circuit for e in self.exchanges if e.circuit != "CLOSED"},
            rate_limited={e.account: e.rate_limited_recent for e in self.exchanges},
            executions_finished=sum(self.executions_hour.values()),
            executions_failed=self.executions_hour.get("FAILED", 0),
            signal_latency_p95=self.signal_latency_p95,
            queue_depth=self.queue_depth,
            signals_judged=self.signals_judged_hour,
            signals_rejected=self.signals_hour.get("REJECTED", 0),
            stale_markets=tuple(self.stale_markets),
            operator_rows=dict(self.operator_rows_day),
            skipped_slots=self.minute_loop.skipped,
            tick_lag_p95=self.minute_loop.tick_lag_p95,
            last_skip_reason=self.minute_loop.last_skip_reason or "",
        )


@dataclass(frozen=True)
class BotMetrics:
    """One bot: configuration, schedule, signals, positions, trades, P&L and equity (money in
    ``currency``, the quote currency of the bot's symbol)."""

    bot: dict[str, Any]
    last_check_at: datetime | None
    next_check_at: datetime | None
    signals: list[dict[str, Any]]
    open_positions: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    realized_pnl: float
    unrealized_pnl: float
    equity: list[tuple[datetime, float]]
    last_check_now: dict[str, Any] | None
    currency: str = ""


def equity_curve(
    capital: float,
    start: datetime,
    closed: list[dict[str, Any]],
    unrealized: float,
    now: datetime,
) -> list[tuple[datetime, float]]:
    """Capital plus realized P&L at each close, and open positions marked to market at ``now``."""
    points = [(start, capital)]
    equity = capital
    for p in sorted(closed, key=lambda p: p["closed_at"]):
        equity += float(p["realized_pnl"] or 0.0)
        points.append((p["closed_at"], equity))
    points.append((now, equity + unrealized))
    return points
