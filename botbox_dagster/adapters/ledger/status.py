"""The fleet summary behind ``botbox status`` and the fleet-status asset."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botbox_dagster.adapters.ledger.controls import PAUSE_ALL
from botbox_dagster.adapters.ledger.money import ledger_pnl
from botbox_dagster.domain.money import REPORTING_CURRENCY, ConvertedTotal, convert
from botbox_dagster.domain.validation import pause_active


class StatusQueries:
    """Read-only summaries. Mixed into :class:`LedgerStore`."""

    run: Any

    def fleet_summary(
        self, *, now: datetime | None = None, reporting_currency: str = REPORTING_CURRENCY
    ) -> dict[str, Any]:
        """Bots by status, last hour's signals and trades, queue, positions, exchange health.

        ``positions`` holds P&L per quote currency (``*_pnl_by_currency``) and each total
        converted into ``reporting_currency`` (``*_pnl_total``: currency, amount, the rates used
        and what had no price, ``unconverted``), with the rates' sources in ``conversion_rates``.
        """
        now = now or datetime.now(UTC)
        hour_ago = now - timedelta(hours=1)

        def work(conn: Any) -> dict[str, Any]:
            def counts(sql: str, params: list[Any] | None = None) -> dict[str, int]:
                return {str(k): int(v) for k, v in conn.execute(sql, params or []).fetchall()}

            bots = counts("SELECT status, count(*) FROM bots GROUP BY status")
            signals = counts(
                "SELECT status, count(*) FROM signals WHERE evaluated_at >= ? GROUP BY status",
                [hour_ago],
            )
            queue = counts("SELECT status, count(*) FROM trade_queue GROUP BY status")
            trades = conn.execute(
                "SELECT count(*) FROM orders WHERE status = 'FILLED' AND updated_at >= ?",
                [hour_ago],
            ).fetchone()[0]
            pnl = ledger_pnl(conn, now - timedelta(days=1), reporting_currency)
            realized = convert(pnl.realized, pnl.rates, pnl.reporting)
            unrealized = convert(pnl.unrealized, pnl.rates, pnl.reporting)
            accounts = conn.execute(
                "SELECT a.account, a.kind, a.venue, a.market_data, cb.state FROM exchange_accounts a "
                "LEFT JOIN circuit_breakers cb ON cb.exchange = a.account ORDER BY a.account"
            ).fetchall()
            freshness = conn.execute(
                "SELECT exchange, symbol, max(open_time) FROM candles WHERE timeframe = '1m' "
                "GROUP BY exchange, symbol ORDER BY exchange, symbol"
            ).fetchall()
            pause = conn.execute(
                "SELECT value, updated_by, updated_at FROM fleet_controls WHERE name = ?",
                [PAUSE_ALL],
            ).fetchone()
            return {
                "as_of": now.isoformat(),
                "bots": {"total": sum(bots.values()), "by_status": bots},
                "signals_last_hour": {"total": sum(signals.values()), "by_status": signals},
                "trades_last_hour": int(trades),
                "trade_queue": {"total": sum(queue.values()), "by_status": queue},
                "positions": {
                    "open": pnl.open_positions,
                    "reporting_currency": pnl.reporting,
                    "unrealized_pnl_by_currency": pnl.unrealized,
                    "realized_pnl_by_currency": pnl.realized,
                    "unrealized_pnl_total": _total_json(unrealized),
                    "realized_pnl_total": _total_json(realized),
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
                        for c, r in pnl.rates.items()
                    },
                },
                "exchanges": [
                    {
                        "account": a[0],
                        "execution": a[1],
                        "venue": a[2],
                        "market_data": a[3],
                        "circuit": json.loads(a[4]).get("status", "CLOSED") if a[4] else "CLOSED",
                    }
                    for a in accounts
                ],
                "market_data": [
                    {
                        "exchange": f[0],
                        "symbol": f[1],
                        "newest_candle": f[2].isoformat() if f[2] else None,
                        # measured from the bar's close, as the freshness rule is
                        "age_seconds": (now - f[2] - timedelta(minutes=1)).total_seconds()
                        if f[2]
                        else None,
                    }
                    for f in freshness
                ],
                "pause_all": _pause_state(pause, now),
            }

        return self.run(work)


def _total_json(total: ConvertedTotal) -> dict[str, Any]:
    """A converted total for JSON: its currency beside its amount, and what it left out."""
    return {
        "currency": total.currency,
        "amount": total.amount,
        "rates": total.rates,
        "unconverted": total.unconverted,
    }


def _pause_state(row: Any, now: datetime) -> dict[str, Any]:
    if row is None:
        return {"paused": False}
    value = json.loads(row[0])
    # Whether it is in force is decided in one place (the rule the tick and execution obey).
    paused = pause_active(value, now)
    return {**value, "paused": paused, "by": row[1], "at": row[2].isoformat()}
