"""The fleet summary behind ``botbox status`` (and its ``--json``): one read of the fleet's
metrics (``adapters/ledger/metrics.py``, the query set the fleet-status asset, its checks, the
alert sensor and the dashboard read too) shaped as a JSON document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain.metrics import FleetMetrics
from botbox_dagster.domain.money import REPORTING_CURRENCY, ConvertedTotal


def fleet_summary(
    store: LedgerStore, *, now: datetime | None = None, reporting_currency: str = REPORTING_CURRENCY
) -> dict[str, Any]:
    """Bots by status, last hour's signals and trades, queue, positions, exchange health.

    ``positions`` holds P&L per quote currency (``*_pnl_by_currency``) and each total
    converted into ``reporting_currency`` (``*_pnl_total``: currency, amount, the rates used
    and what had no price, ``unconverted``), with the rates' sources in ``conversion_rates``.
    """
    return summary_json(store.fleet_metrics(now=now, reporting_currency=reporting_currency))


def summary_json(m: FleetMetrics) -> dict[str, Any]:
    """``m`` as plain JSON values (what ``botbox status --json`` prints)."""
    return {
        "as_of": m.as_of.isoformat(),
        "bots": {"total": sum(m.bots_by_status.values()), "by_status": m.bots_by_status},
        "signals_last_hour": {"total": sum(m.signals_hour.values()), "by_status": m.signals_hour},
        "trades_last_hour": m.trades_hour,
        "trade_queue": {"total": sum(m.queue_by_status.values()), "by_status": m.queue_by_status},
        "positions": {
            "open": m.open_positions,
            "reporting_currency": m.reporting_currency,
            "unrealized_pnl_by_currency": m.unrealized_pnl_by_currency,
            "realized_pnl_by_currency": m.realized_pnl_by_currency,
            "unrealized_pnl_total": _total_json(m.unrealized_pnl_total),
            "realized_pnl_total": _total_json(m.realized_pnl_total),
            "conversion_rates": {
                c: {
                    "rate": r.rate,
                    "in": r.reporting,
                    "exchange": r.source.exchange,
                    "symbol": r.source.symbol,
                    "timeframe": r.source.timeframe,
                    "closed_at": r.source.closed_at.isoformat(),
                    "inverse": r.inverse,
                }
                for c, r in m.conversion_rates.items()
            },
        },
        "exchanges": [
            {
                "account": e.account,
                "execution": e.execution,
                "venue": e.venue,
                "market_data": e.market_data,
                "circuit": e.circuit,
                "consecutive_failures": e.consecutive_failures,
                "weight_last_minute": e.weight_last_minute,
                "rate_limited_recent": e.rate_limited_recent,
            }
            for e in m.exchanges
        ],
        "market_data": [
            {
                "exchange": f.exchange,
                "symbol": f.symbol,
                "timeframe": f.timeframe,
                "bots": f.bots,
                "newest_candle": f.newest_candle.isoformat() if f.newest_candle else None,
                # measured from the bar's close, as the freshness rule is
                "age_seconds": f.age_seconds,
                "stale": f.stale,
            }
            for f in m.markets
        ],
        "pause_all": m.pause,
        "minute_loop": {
            "tick_lag_p50_seconds": m.minute_loop.tick_lag_p50,
            "tick_lag_p95_seconds": m.minute_loop.tick_lag_p95,
            "start_lag_p95_seconds": m.minute_loop.start_lag_p95,
            "skipped_last_15_minutes": m.minute_loop.skipped,
            "skipped_last_hour": m.minute_loop.skipped_hour,
            "skipped_last_day": m.minute_loop.skipped_day,
            "last_skip_reason": m.minute_loop.last_skip_reason,
        },
    }


def _total_json(total: ConvertedTotal) -> dict[str, Any]:
    """A converted total for JSON: its currency beside its amount, and what it left out."""
    return {
        "currency": total.currency,
        "amount": total.amount,
        "rates": total.rates,
        "unconverted": total.unconverted,
    }
