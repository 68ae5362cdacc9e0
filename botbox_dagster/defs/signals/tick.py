"""``signal_tick_job``: claim due bots, evaluate them per shard of markets, queue trades.

Three kinds of steps, whatever the fleet size (docs/architecture.md, Platform facts: a step
costs ~0.1 s, so never one per bot): ``plan_signal_tick`` claims the due bots (in
``signal_tick_job``, a tick launched by hand, it first waits briefly for the just-closed candle;
in ``trading_minute_job`` the candles are stored by the step before),
``evaluate_signal_shard`` runs once per shard of markets, ``summarize_signal_tick`` adds up.

In the minute loop a tick that starts after its minute has ended evaluates the minute it is in
(``retarget_stale_slot``), and the run's ``minute_slots`` row gets the minute it evaluated and
when the tick finished (README, "The minute loop" → Overload). A tick launched by hand has no
such row and evaluates the time it was given.
"""

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.runs import SINGLETON_TAG
from botbox_dagster.defs.signals.metadata import outcomes_table
from botbox_dagster.domain.indicators import warm_up
from botbox_dagster.domain.minute_loop import SLOT, current_slot, is_stale, stale_reason
from botbox_dagster.domain.risk import RiskLimits
from botbox_dagster.domain.tick import ShardPlan
from botbox_dagster.services.signal_tick import (
    ShardReport,
    TickSettings,
    evaluate_shard,
    plan_tick,
    wait_for_candles,
)

TICK_TAG = "botbox/tick"


class SignalTickConfig(dg.Config):
    """Launchpad settings of a signal tick (the schedule sets ``tick_time``)."""

    tick_time: str = ""
    """ISO time of the tick (the schedule's minute); empty means now."""

    max_wait_seconds: float = 25.0
    """How long to wait for the candle that closed at the tick to be stored."""

    shards: int = 4
    """Steps the markets are dealt into (bots of one market always share a step)."""

    history_bars: int = 300
    """Bars of each strategy timeframe read for the indicators."""

    correlation_threshold: float = 0.8
    """Markets whose 1m return correlation reaches this count as one bet for the limit."""

    correlation_window: int = 100
    """One-minute returns in the rolling correlation."""

    retarget_stale_slot: bool = False
    """When the tick starts after the minute of ``tick_time`` has ended, evaluate the minute it
    is in instead (the minute loop's schedule sets this; a tick by hand evaluates its time)."""


def _tick_time(config: SignalTickConfig) -> datetime:
    if not config.tick_time:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(config.tick_time)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dg.op(
    ins={"after": dg.In(dg.Nothing)},
    out={"shards": dg.DynamicOut(ShardPlan), "started": dg.Out(float)},
    tags={"botbox/layer": "signals"},
)
def plan_signal_tick(
    context: dg.OpExecutionContext, config: SignalTickConfig, ledger: LedgerResource
) -> Iterator[dg.Output | dg.DynamicOutput]:
    """Wait (bounded) for the just-closed candles, claim every due bot, deal markets into shards.

    Claiming moves each due bot's ``last_check_at`` into its current slot with an optimistic
    lock, so an overlapping tick can never evaluate the same bot in the same slot.
    """
    started = time.time()
    tick = _tick_time(config)
    store = ledger.store()
    now = datetime.now(UTC)
    stale = None
    if config.retarget_stale_slot and is_stale(tick, now):
        stale = stale_reason(tick, current_slot(now), now)
        context.log.warning(stale)
        tick = current_slot(now)
    store.record_slot_evaluated(context.run_id, current_slot(tick), stale)
    wait = wait_for_candles(store, tick, timeout=config.max_wait_seconds)
    if wait.missing:
        context.log.warning(
            f"candles still missing after {wait.waited_seconds:.1f}s: {wait.missing}"
        )
    warmup = warm_up()  # numba compiles once per process: pay it here, not in the first shard
    limits = RiskLimits(config.correlation_threshold, config.correlation_window)
    settings = TickSettings(config.shards, config.history_bars, limits=limits)
    plans = plan_tick(store, tick, settings)
    context.add_output_metadata(
        {
            "tick_time": tick.isoformat(),
            "stale_slot": stale or "no",
            "bots_due": sum(p.bot_count for p in plans),
            "shards": len(plans),
            "candle_wait_s": round(wait.waited_seconds, 2),
            "candles_missing": len(wait.missing),
            "indicator_warmup_s": round(warmup, 3),
        },
        output_name="started",
    )
    yield dg.Output(started, "started")
    for plan in plans:
        yield dg.DynamicOutput(plan, mapping_key=f"shard_{plan.index}", output_name="shards")


@dg.op(tags={"botbox/layer": "signals"})
def evaluate_signal_shard(
    context: dg.OpExecutionContext, ledger: LedgerResource, plan: ShardPlan
) -> ShardReport:
    """Evaluate every claimed bot of this shard's markets on indicators computed once per
    (market, timeframe), validate and risk-check the signals, log them and queue the accepted."""
    report = evaluate_shard(ledger.store(), plan)
    context.add_output_metadata(
        {
            "markets": report.markets,
            "bots": report.bots,
            "signals": report.signals,
            "accepted": report.accepted,
            "queue_rows_written": report.queue_rows,
            **{f"{k}_s": round(v, 3) for k, v in report.seconds.items()},
            "outcomes": dg.MetadataValue.md(outcomes_table([report])),
        }
    )
    return report


@dg.op(tags={"botbox/layer": "signals"})
def summarize_signal_tick(
    context: dg.OpExecutionContext,
    ledger: LedgerResource,
    started: float,
    reports: list[ShardReport],
) -> None:
    """Totals of the tick for the operator: due, evaluated, signals, accepted, rejections. In
    the minute loop, records that the run's slot finished and reports its tick lag."""
    rejected = Counter[str]()
    for r in reports:
        rejected.update(r.rejected_by_reason)
    cpu = sum(r.cpu_seconds for r in reports)
    due = sum(r.bots for r in reports)
    totals = {
        "bots_due": due,
        "evaluated": sum(r.evaluated for r in reports),
        "signals": sum(r.signals for r in reports),
        "accepted": sum(r.accepted for r in reports),
        "rejected": sum(rejected.values()),
        "queue_rows_written": sum(r.queue_rows for r in reports),
        "duplicates_skipped": sum(r.duplicates for r in reports),
        "tick_duration_s": round(time.time() - started, 3),
        "shard_cpu_s": round(cpu, 3),
        "cpu_ms_per_bot": round(1000 * cpu / due, 3) if due else 0.0,
    }
    context.log.info(
        "signal tick: "
        + ", ".join(f"{k} {v}" for k, v in totals.items())
        + (f"; rejected by reason: {dict(rejected)}" if rejected else "")
    )
    lag = ledger.store().record_slot_finished(context.run_id)
    if lag is not None and lag > SLOT.total_seconds():
        context.log.warning(
            f"tick ended {lag:.0f} s after its minute began: it overran its minute (the "
            "schedule skipped the minutes it was still going in)"
        )
    context.add_output_metadata(
        {
            **totals,
            **({"tick_lag_s": round(lag, 3)} if lag is not None else {}),
            "rejected_by_reason": dg.MetadataValue.json(dict(rejected)),
            "outcomes": dg.MetadataValue.md(outcomes_table(reports)),
        }
    )
    # What the tick wrote, on the ledger tables' assets (lineage from candles to trades).
    context.log_event(
        dg.AssetMaterialization(
            asset_key="signals",
            metadata={
                "signals": totals["signals"],
                "accepted": totals["accepted"],
                "rejected": totals["rejected"],
                "duplicates_skipped": totals["duplicates_skipped"],
                "rejected_by_reason": dg.MetadataValue.json(dict(rejected)),
            },
        )
    )
    context.log_event(
        dg.AssetMaterialization(
            asset_key="trade_queue", metadata={"rows_written": totals["queue_rows_written"]}
        )
    )


@dg.job(
    tags={SINGLETON_TAG: "signal_tick", "botbox/layer": "signals"},
    description=(
        "A signal tick launched by hand: due bots → signals → trade_queue (the minute's tick "
        "is part of trading_minute_job). Waits up to max_wait_seconds for the candle that "
        "closed at tick_time."
    ),
)
def signal_tick_job() -> None:
    """Claim due bots, evaluate them per shard of markets, log signals and queue trades."""
    shards, started = plan_signal_tick()
    summarize_signal_tick(started, shards.map(evaluate_signal_shard).collect())
