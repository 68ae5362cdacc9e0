"""Markdown tables of the fleet metrics, for the fleet-status asset's metadata."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botbox_dagster.domain.metrics import FleetMetrics
from botbox_dagster.domain.money import fmt_total


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    if len(lines) == 2:
        lines.append("| " + " | ".join(["-"] * len(header)) + " |")
    return "\n".join(lines)


def counts_table(name: str, counts: Mapping[str, int]) -> str:
    return md_table([name, "count"], sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def overview_table(m: FleetMetrics) -> str:
    cur = m.reporting_currency
    rows = [
        ("active bots", m.active_bots),
        ("signals, last hour / day", f"{m.signals_judged_hour} / {sum(m.signals_day.values())}"),
        ("acceptance rate, last hour", pct(m.acceptance_rate_hour)),
        ("trades executed, last hour / day", f"{m.trades_hour} / {m.trades_day}"),
        ("queue depth (pending + executing)", m.queue_depth),
        (
            "order latency queue → fill p50 / p95",
            f"{secs(m.order_latency_p50)} / {secs(m.order_latency_p95)}",
        ),
        ("fill rate, last day", pct(m.fill_rate_day)),
        ("execution failure rate, last hour", pct(m.execution_failure_rate_hour)),
        (
            "signal evaluation latency p50 / p95",
            f"{secs(m.signal_latency_p50)} / {secs(m.signal_latency_p95)}",
        ),
        ("open positions", m.open_positions),
        (f"realized P&L ({cur})", fmt_total(m.realized_pnl_total)),
        (f"realized P&L, last day ({cur})", fmt_total(m.realized_pnl_day_total)),
        (f"unrealized P&L ({cur})", fmt_total(m.unrealized_pnl_total)),
        ("candle fetches saved per refresh by sharing", m.fetches_saved_per_refresh),
        ("fleet paused", "YES: " + str(m.pause.get("reason")) if m.pause.get("paused") else "no"),
    ]
    return md_table(["metric", "value"], rows)


def minute_loop_table(m: FleetMetrics) -> str:
    """Tick lag, skipped and stale slots of the minute loop, and the last skip's reason."""
    return md_table(["minute loop", "value"], m.minute_loop.rows())


def pnl_table(m: FleetMetrics) -> str:
    """P&L per quote currency, each amount in its own currency, with the price that converts
    it into the reporting currency (or why it was not converted), then the converted totals."""
    return md_table(
        [
            "currency",
            "realized P&L",
            "realized P&L, last day",
            "unrealized P&L",
            f"price in {m.reporting_currency}",
        ],
        m.pnl_rows(),
    )


def exchanges_table(m: FleetMetrics) -> str:
    return md_table(
        [
            "account",
            "venue",
            "orders",
            "circuit",
            "failures",
            "weight last min",
            "calls last h",
            "429/418 (15 min)",
        ],
        [
            (
                e.account,
                e.venue,
                e.execution,
                e.circuit,
                e.consecutive_failures,
                e.weight_last_minute,
                e.calls_last_hour,
                e.rate_limited_recent,
            )
            for e in m.exchanges
        ],
    )


def markets_table(m: FleetMetrics) -> str:
    return md_table(
        ["exchange", "symbol", "tf", "bots", "newest bar", "age (s)", "state"],
        [
            (
                x.exchange,
                x.symbol,
                x.timeframe,
                x.bots,
                x.newest_candle.isoformat() if x.newest_candle else "-",
                f"{x.age_seconds:.0f}" if x.age_seconds is not None else "-",
                "STALE" if x.stale else "ok",
            )
            for x in m.markets
        ],
    )
