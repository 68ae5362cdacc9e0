"""Fleet and per-bot metrics: read-only queries over the ledger, one short transaction each.

Behind the fleet-status asset, its asset checks, the alert sensor and the operator dashboard.
Windows: "hour" and "day" are the hour and the 24 hours before ``now``. Latencies:

- order latency: a FILLED queue row's ``updated_at`` minus its ``created_at`` (queue → fill);
- signal evaluation latency: ``evaluated_at`` minus the start of the bot's check slot (the tick
  that claimed it), so it counts waiting for candles, reading, scoring and recording;
- tick lag: a minute-loop run's tick end minus the start of its slot (``minute_loop.py``).

P&L is summed per quote currency and converted into the reporting currency at the newest stored
closes (``money.py``; the rules are in ``domain/money.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from botbox_dagster.adapters.ledger.controls import PAUSE_ALL
from botbox_dagster.adapters.ledger.minute_loop import minute_loop
from botbox_dagster.adapters.ledger.money import ledger_pnl
from botbox_dagster.domain.metrics import (
    BotMetrics,
    ExchangeHealth,
    FleetMetrics,
    MarketFreshness,
    equity_curve,
    percentile,
    reason_key,
)
from botbox_dagster.domain.money import REPORTING_CURRENCY, quote_currency
from botbox_dagster.domain.signals import slot_start
from botbox_dagster.domain.timeframes import candle_age, delta, freshness_limit
from botbox_dagster.domain.validation import pause_active

FINISHED_SQL = "('FILLED', 'FAILED', 'EXPIRED', 'CANCELLED')"
CHECK_NOW_PREFIX = "check_now:"
RATE_LIMIT_WINDOW = timedelta(minutes=15)


def _rows(conn: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _counts(conn: Any, sql: str, params: list[Any] | None = None) -> dict[str, int]:
    return {str(k): int(v) for k, v in conn.execute(sql, params or []).fetchall()}


def _seconds(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds()


class MetricsQueries:
    """Fleet and per-bot metrics. Mixed into :class:`LedgerStore`."""

    run: Any

    def fleet_metrics(
        self, *, now: datetime | None = None, reporting_currency: str = REPORTING_CURRENCY
    ) -> FleetMetrics:
        """The fleet's metrics at ``now``; P&L per quote currency, with the rates that convert
        it into ``reporting_currency``."""
        now = now or datetime.now(UTC)
        hour, day = now - timedelta(hours=1), now - timedelta(days=1)

        def work(conn: Any) -> FleetMetrics:
            signals_day = _rows(
                conn,
                "SELECT s.bot_id, s.strategy_id, s.status, s.reason, s.evaluated_at, "
                "b.check_interval_minutes AS interval FROM signals s "
                "LEFT JOIN bots b ON b.id = s.bot_id WHERE s.evaluated_at >= ?",
                [day],
            )
            last_hour = [s for s in signals_day if s["evaluated_at"] >= hour]
            latencies = [
                _seconds(s["evaluated_at"], slot_start(s["evaluated_at"], s["interval"] or 1))
                for s in last_hour
            ]
            fills = conn.execute(
                "SELECT created_at, updated_at FROM trade_queue "
                "WHERE status = 'FILLED' AND updated_at >= ?",
                [day],
            ).fetchall()
            order_latency = [_seconds(u, c) for c, u in fills]
            pnl = ledger_pnl(conn, day, reporting_currency)
            pause = conn.execute(
                "SELECT value, updated_by, updated_at FROM fleet_controls WHERE name = ?",
                [PAUSE_ALL],
            ).fetchone()
            return FleetMetrics(
                as_of=now,
                bots_by_status=_counts(conn, "SELECT status, count(*) FROM bots GROUP BY status"),
                signals_hour=dict(Counter(s["status"] for s in last_hour)),
                signals_day=dict(Counter(s["status"] for s in signals_day)),
                signals_by_strategy_hour=dict(Counter(s["strategy_id"] for s in last_hour)),
                signals_by_strategy_day=dict(Counter(s["strategy_id"] for s in signals_day)),
                signals_by_bot_day=dict(Counter(s["bot_id"] for s in signals_day)),
                rejection_reasons_day=dict(
                    Counter(
                        reason_key(s["reason"]) for s in signals_day if s["status"] == "REJECTED"
                    )
                ),
                trades_hour=_count_orders(conn, hour),
                trades_day=_count_orders(conn, day),
                queue_by_status=_counts(
                    conn, "SELECT status, count(*) FROM trade_queue GROUP BY status"
                ),
                finished_day=_counts(
                    conn,
                    "SELECT status, count(*) FROM trade_queue WHERE updated_at >= ? "
                    f"AND status IN {FINISHED_SQL} GROUP BY status",
                    [day],
                ),
                executions_hour=_counts(
                    conn,
                    "SELECT status, count(*) FROM trade_queue WHERE updated_at >= ? "
                    "AND status IN ('FILLED', 'FAILED') GROUP BY status",
                    [hour],
                ),
                order_latency_p50=percentile(order_latency, 0.5),
                order_latency_p95=percentile(order_latency, 0.95),
                signal_latency_p50=percentile(latencies, 0.5),
                signal_latency_p95=percentile(latencies, 0.95),
                exchanges=_exchanges(conn, now),
                markets=_markets(conn, now),
                open_positions=pnl.open_positions,
                unrealized_pnl_by_currency=pnl.unrealized,
                realized_pnl_by_currency=pnl.realized,
                realized_pnl_day_by_currency=pnl.realized_day,
                pause=_pause_state(pause, now),
                operator_rows_day=_counts(
                    conn,
                    "SELECT exchange, count(*) FROM trade_queue WHERE updated_at >= ? "
                    "AND reason LIKE 'operator:%' GROUP BY exchange",
                    [day],
                ),
                reporting_currency=pnl.reporting,
                conversion_rates=pnl.rates,
                minute_loop=minute_loop(conn, now),
            )

        return self.run(work)

    def bot_metrics(
        self, bot_id: str, *, now: datetime | None = None, limit: int = 20
    ) -> BotMetrics | None:
        now = now or datetime.now(UTC)

        def work(conn: Any) -> BotMetrics | None:
            bots = _rows(
                conn,
                "SELECT id, name, strategy_id AS strategy, exchange, symbol, status, "
                "status_reason, mode, capital, check_interval_minutes AS interval, "
                "last_check_at, created_at FROM bots WHERE id = ?",
                [bot_id],
            )
            if not bots:
                return None
            bot = bots[0]
            signals = _rows(
                conn,
                "SELECT id, direction, candle_time, price, score, contributions, regime, status, "
                f"reason, evaluated_at FROM signals WHERE bot_id = ? "
                f"ORDER BY evaluated_at DESC, id DESC LIMIT {limit}",
                [bot_id],
            )
            for s in signals:
                s["contributions"] = json.loads(s["contributions"])
            positions = _rows(
                conn,
                "SELECT id, symbol, direction, amount, entry_price, stop_loss, take_profit, "
                "mark_price, unrealized_pnl, opened_at, status, exit_price, exit_reason, "
                "realized_pnl, closed_at FROM positions WHERE bot_id = ? ORDER BY opened_at",
                [bot_id],
            )
            trades = _rows(
                conn,
                "SELECT id, side, amount, average_price, status, fee, mode, client_order_id, "
                f"updated_at FROM orders WHERE bot_id = ? ORDER BY id DESC LIMIT {limit}",
                [bot_id],
            )
            check = conn.execute(
                "SELECT value, updated_by, updated_at FROM fleet_controls WHERE name = ?",
                [CHECK_NOW_PREFIX + bot_id],
            ).fetchone()
            open_ = [p for p in positions if p["status"] == "OPEN"]
            closed = [p for p in positions if p["status"] == "CLOSED" and p["closed_at"]]
            unrealized = sum(float(p["unrealized_pnl"] or 0.0) for p in open_)
            return BotMetrics(
                bot=bot,
                last_check_at=bot["last_check_at"],
                next_check_at=_next_check(bot, now),
                signals=signals,
                open_positions=open_,
                trades=trades,
                realized_pnl=sum(float(p["realized_pnl"] or 0.0) for p in closed),
                unrealized_pnl=unrealized,
                equity=equity_curve(
                    float(bot["capital"]), bot["created_at"], closed, unrealized, now
                ),
                last_check_now=(
                    {**json.loads(check[0]), "by": check[1], "at": check[2]} if check else None
                ),
                currency=quote_currency(str(bot["symbol"])),
            )

        return self.run(work)

    def bots_overview(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """One row per bot (removed bots left out): schedule, today's signals, position, P&L
        (in ``currency``, the quote currency of the bot's symbol)."""
        now = now or datetime.now(UTC)

        def work(conn: Any) -> list[dict[str, Any]]:
            rows = _rows(
                conn,
                "SELECT b.id, b.name, b.strategy_id AS strategy, b.exchange, b.symbol, b.status, "
                "b.mode, b.check_interval_minutes AS interval, b.last_check_at, "
                "(SELECT count(*) FROM signals s WHERE s.bot_id = b.id AND s.evaluated_at >= ?) "
                "AS signals_day, "
                "(SELECT count(*) FROM positions p WHERE p.bot_id = b.id AND p.status = 'OPEN') "
                "AS open_positions, "
                "(SELECT coalesce(sum(coalesce(realized_pnl, 0) + coalesce(unrealized_pnl, 0)), 0) "
                "FROM positions p WHERE p.bot_id = b.id) AS pnl "
                "FROM bots b WHERE b.status <> 'DELETED' ORDER BY b.id",
                [now - timedelta(days=1)],
            )
            for r in rows:
                r["next_check_at"] = _next_check(r, now)
                r["currency"] = quote_currency(str(r["symbol"]))
            return rows

        return self.run(work)


def _pause_state(row: Any, now: datetime) -> dict[str, Any]:
    if row is None:
        return {"paused": False}
    value = json.loads(row[0])
    # Whether it is in force is decided in one place (the rule the tick and execution obey).
    paused = pause_active(value, now)
    return {**value, "paused": paused, "by": row[1], "at": row[2].isoformat()}


def _count_orders(conn: Any, since: datetime) -> int:
    return int(
        conn.execute(
            "SELECT count(*) FROM orders WHERE status = 'FILLED' AND updated_at >= ?", [since]
        ).fetchone()[0]
    )


def _next_check(bot: dict[str, Any], now: datetime) -> datetime | None:
    """The start of the bot's next check slot (in the past when the bot is overdue)."""
    if bot["status"] != "ACTIVE":
        return None
    interval = int(bot["interval"])
    last = bot["last_check_at"]
    return slot_start(last or now, interval) + timedelta(minutes=interval)


def _exchanges(conn: Any, now: datetime) -> list[ExchangeHealth]:
    rows = conn.execute(
        "SELECT a.account, a.venue, a.kind, a.market_data, cb.state, "
        "(SELECT coalesce(sum(weight), 0) FROM exchange_calls e WHERE e.account = a.account "
        " AND e.outcome = 'sent' AND e.called_at >= ?), "
        "(SELECT count(*) FROM exchange_calls e WHERE e.account = a.account "
        " AND e.outcome = 'sent' AND e.called_at >= ?), "
        "(SELECT count(*) FROM exchange_calls e WHERE e.account = a.account "
        " AND e.outcome = 'rate_limited' AND e.called_at >= ?) "
        "FROM exchange_accounts a LEFT JOIN circuit_breakers cb ON cb.exchange = a.account "
        "ORDER BY a.account",
        [now - timedelta(minutes=1), now - timedelta(hours=1), now - RATE_LIMIT_WINDOW],
    ).fetchall()
    out = []
    for account, venue, kind, market_data, state, weight, calls, limited in rows:
        breaker = json.loads(state) if state else {}
        out.append(
            ExchangeHealth(
                account=account,
                venue=venue,
                execution=kind,
                circuit=str(breaker.get("status", "CLOSED")),
                consecutive_failures=int(breaker.get("consecutive_failures") or 0),
                weight_last_minute=int(weight),
                calls_last_hour=int(calls),
                rate_limited_recent=int(limited),
                market_data=str(market_data),
            )
        )
    return out


def _markets(conn: Any, now: datetime) -> list[MarketFreshness]:
    """Freshness of each market an ACTIVE bot watches, on its finest stored timeframe."""
    watched = conn.execute(
        "SELECT exchange, symbol, count(*) FROM bots WHERE status = 'ACTIVE' "
        "GROUP BY exchange, symbol ORDER BY exchange, symbol"
    ).fetchall()
    newest: dict[tuple[str, str], dict[str, datetime]] = {}
    for ex, sym, tf, t in conn.execute(
        "SELECT exchange, symbol, timeframe, max(open_time) FROM candles "
        "GROUP BY exchange, symbol, timeframe"
    ).fetchall():
        newest.setdefault((ex, sym), {})[tf] = t
    out = []
    for ex, sym, bots in watched:
        stored = newest.get((ex, sym), {})
        tf = min(stored, key=delta) if stored else "1m"
        t = stored.get(tf)
        age = candle_age(t, tf, now) if t else None
        stale = age is None or age > freshness_limit(tf)
        out.append(
            MarketFreshness(
                ex, sym, tf, int(bots), t, age.total_seconds() if age is not None else None, stale
            )
        )
    return out
