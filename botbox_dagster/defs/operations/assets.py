"""``fleet_status``: the fleet's health as one asset, re-materialized every minute.

Its numeric metadata are plotted over time by the Dagster UI (asset page → Plots); its markdown
tables carry the detail; its checks (``checks.py``) turn the alert thresholds red or yellow.
"""

import re
from typing import Any

import dagster as dg

from botbox_dagster.defs.operations import tables
from botbox_dagster.defs.operations.resources import AlertsResource
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.domain.metrics import FleetMetrics


def _key(currency: str) -> str:
    """A currency as part of a metadata key: ``USDT`` → ``usdt``."""
    return re.sub(r"[^a-z0-9]+", "_", currency.lower()).strip("_")


def pnl_metadata(m: FleetMetrics) -> dict[str, float | int]:
    """P&L series, each named with its currency: ``realized_pnl_btc`` is the realized P&L of
    BTC-quoted positions in BTC; ``realized_pnl_total_usdt`` the fleet's realized P&L converted
    into USDT (the reporting currency), leaving out what ``pnl_unconverted_currencies`` counts:
    currencies with no price in the reporting currency (see ``domain/money.py``)."""
    out: dict[str, float | int] = {}
    for name, by_currency in (
        ("realized_pnl", m.realized_pnl_by_currency),
        ("realized_pnl_last_day", m.realized_pnl_day_by_currency),
        ("unrealized_pnl", m.unrealized_pnl_by_currency),
    ):
        for cur, amount in sorted(by_currency.items()):
            out[f"{name}_{_key(cur)}"] = amount
    rep = _key(m.reporting_currency)
    out[f"realized_pnl_total_{rep}"] = m.realized_pnl_total.amount
    out[f"realized_pnl_last_day_total_{rep}"] = m.realized_pnl_day_total.amount
    out[f"unrealized_pnl_total_{rep}"] = m.unrealized_pnl_total.amount
    out["pnl_unconverted_currencies"] = len(m.unconverted_currencies)
    return out


def numeric_metadata(m: FleetMetrics) -> dict[str, float | int]:
    """The plotted series; a rate or latency with no sample in its window is left out. Money
    series carry their currency in their names (:func:`pnl_metadata`)."""
    values: dict[str, float | int | None] = {
        "active_bots": m.active_bots,
        "signals_last_hour": m.signals_judged_hour,
        "signals_last_day": sum(m.signals_day.values()),
        "acceptance_rate_pct": None
        if m.acceptance_rate_hour is None
        else 100 * m.acceptance_rate_hour,
        "rejection_rate_pct": None
        if m.rejection_rate_hour is None
        else 100 * m.rejection_rate_hour,
        "trades_last_hour": m.trades_hour,
        "trades_last_day": m.trades_day,
        "queue_depth": m.queue_depth,
        "order_latency_p50_s": m.order_latency_p50,
        "order_latency_p95_s": m.order_latency_p95,
        "fill_rate_pct": None if m.fill_rate_day is None else 100 * m.fill_rate_day,
        "execution_failure_rate_pct": (
            None if m.execution_failure_rate_hour is None else 100 * m.execution_failure_rate_hour
        ),
        "signal_latency_p50_s": m.signal_latency_p50,
        "signal_latency_p95_s": m.signal_latency_p95,
        "open_positions": m.open_positions,
        "open_circuit_breakers": sum(1 for e in m.exchanges if e.circuit != "CLOSED"),
        "rate_limit_violations_15m": sum(e.rate_limited_recent for e in m.exchanges),
        "stale_markets": len(m.stale_markets),
        "fetches_saved_per_refresh": m.fetches_saved_per_refresh,
        # the minute loop (README, "The minute loop" → Overload): last 15 min unless named
        "minute_slots_skipped_15m": m.minute_loop.skipped,
        "minute_slots_skipped_last_hour": m.minute_loop.skipped_hour,
        "minute_slots_stale_15m": m.minute_loop.stale,
        "tick_lag_p50_s": m.minute_loop.tick_lag_p50,
        "tick_lag_p95_s": m.minute_loop.tick_lag_p95,
        "tick_lag_max_s": m.minute_loop.tick_lag_max,
        "last_tick_lag_s": m.minute_loop.last_tick_lag,
    }
    rounded = {
        k: round(v, 4) if isinstance(v, float) else v for k, v in values.items() if v is not None
    }
    return rounded | pnl_metadata(m)  # money unrounded: 0.00004 BTC is worth showing


@dg.asset(
    group_name="operations",
    kinds={"duckdb"},
    tags={"botbox/layer": "operations"},
    description=(
        "The fleet at a glance, recomputed every minute from the ledger: active bots, signals "
        "per hour and day, acceptance rate, trades, queue depth, order and signal latency, fill "
        "and failure rates, exchange health (circuit breakers, rate-limit use), market-data "
        "freshness and the minute loop's timeliness (tick lag, skipped slots). P&L is per quote currency (realized_pnl_btc: BTC-quoted positions, in BTC) "
        "and converted into USDT at the newest stored prices (realized_pnl_total_usdt); a "
        "currency with no USDT price is left out of the total and counted in "
        "pnl_unconverted_currencies. Numeric metadata are plotted on the asset's Plots tab; the "
        "tables give the breakdowns; the checks flag what needs an operator. Links to the "
        "companion dashboard."
    ),
)
def fleet_status(
    context: dg.AssetExecutionContext, ledger: LedgerResource, alerts: AlertsResource
) -> dg.MaterializeResult:
    """Fleet health snapshot: numeric metadata (plotted over time), markdown tables and a link
    to the companion dashboard. Reads only; never blocks trading."""
    m = ledger.store().fleet_metrics()
    context.log.info(
        f"{m.active_bots} active bots, {m.signals_judged_hour} signals and {m.trades_hour} trades "
        f"in the last hour, queue depth {m.queue_depth}"
    )
    metadata: dict[str, Any] = dict(numeric_metadata(m))
    metadata.update(
        {
            "dashboard": dg.MetadataValue.url(alerts.dashboard_url),
            "overview": dg.MetadataValue.md(tables.overview_table(m)),
            "bots_by_status": dg.MetadataValue.md(tables.counts_table("status", m.bots_by_status)),
            "signals_by_strategy_last_day": dg.MetadataValue.md(
                tables.counts_table("strategy", m.signals_by_strategy_day)
            ),
            "signals_by_bot_last_day": dg.MetadataValue.md(
                tables.counts_table("bot", m.signals_by_bot_day)
            ),
            "rejection_reasons_last_day": dg.MetadataValue.md(
                tables.counts_table("reason", m.rejection_reasons_day)
            ),
            "queue_by_status": dg.MetadataValue.md(
                tables.counts_table("status", m.queue_by_status)
            ),
            "pnl_by_currency": dg.MetadataValue.md(tables.pnl_table(m)),
            "pnl_unconverted": ", ".join(m.unconverted_currencies) or "none",
            "exchanges": dg.MetadataValue.md(tables.exchanges_table(m)),
            "market_data": dg.MetadataValue.md(tables.markets_table(m)),
            "minute_loop": dg.MetadataValue.md(tables.minute_loop_table(m)),
            "last_skipped_slot": m.minute_loop.last_skip_reason or "none",
            "fleet_paused": bool(m.pause.get("paused")),
        }
    )
    return dg.MaterializeResult(metadata=metadata)
