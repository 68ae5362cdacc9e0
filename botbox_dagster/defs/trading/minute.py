"""``trading_minute_job``: the minute loop in one run.

Each minute one run refreshes the candles that just closed, then marks open positions and queues
the CLOSE of every stop or target a new bar touched, then claims the due bots and evaluates them
on those candles (per shard of markets), logging signals and queuing trades. The steps follow
each other inside the run, so the tick never polls for another process's candles, and a refresh
that takes longer delays the tick instead of leaving it to evaluate last minute's bar. Backfills
of ``candles`` (``market_data_job``) only store bars: they never mark positions or trade.

Each step reports what it wrote as a materialization of its table (``candles`` for today's
partition, ``positions``, ``signals``, ``trade_queue``), so the lineage and figures show in the UI.

Overload (README, "The minute loop" → Overload; rules in ``domain/minute_loop.py``): the schedule
launches nothing for a minute while the previous minute's run is still queued or going, and
records the skipped slot with its reason in the ledger (``minute_slots``); each run records when
it started and when its tick finished, so the tick lag is measured; a run whose tick starts after
its minute has ended evaluates the minute it is in, after refreshing candles and scanning stops.
"""

import contextlib
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from botbox_dagster.defs.market_data.assets import CandlesConfig, refresh_markets
from botbox_dagster.defs.market_data.partitions import daily_partitions
from botbox_dagster.defs.resources import LedgerResource, MarketDataResource
from botbox_dagster.defs.runs import SINGLETON_TAG, active_run
from botbox_dagster.defs.signals.tick import (
    TICK_TAG,
    evaluate_signal_shard,
    plan_signal_tick,
    summarize_signal_tick,
)
from botbox_dagster.domain.minute_loop import current_slot, skip_reason
from botbox_dagster.services.position_monitor import monitor_positions

SINGLETON = "trading_minute"


class MinuteConfig(CandlesConfig):
    """Launchpad settings of one minute of the loop (the schedule sets ``tick_time``)."""

    tick_time: str = ""
    """ISO time of the minute (the schedule's); empty means now."""


def _tick(config: MinuteConfig) -> datetime:
    if not config.tick_time:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(config.tick_time)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dg.op(tags={"botbox/layer": "market_data"})
def refresh_candles(
    context: dg.OpExecutionContext,
    config: MinuteConfig,
    ledger: LedgerResource,
    market_data: MarketDataResource,
) -> dg.Output[None]:
    """Store the bars closed since the newest stored one, for every market an ACTIVE bot
    watches (one fetch per market), into today's ``candles`` partition. First records that
    this run's slot started (``minute_slots``: the start of the tick lag)."""
    now = datetime.now(UTC)
    store = ledger.store()
    store.record_slot_started(current_slot(_tick(config)), context.run_id, now=now)
    day = daily_partitions.get_partition_key_for_timestamp(_tick(config).timestamp())
    window = daily_partitions.time_window_for_partition_key(day)
    metadata = refresh_markets(
        store,
        market_data,
        start=window.start,
        end=min(window.end, now),
        now=now,
        incremental=config.incremental,
        seed_history_days=config.seed_history_days,
        log=context.log,
    )
    context.log_event(
        dg.AssetMaterialization(asset_key="candles", partition=day, metadata=metadata)
    )
    return dg.Output(None, metadata=metadata)


@dg.op(ins={"after": dg.In(dg.Nothing)}, tags={"botbox/layer": "execution"})
def monitor_open_positions(context: dg.OpExecutionContext, ledger: LedgerResource) -> None:
    """Mark every open position to its market's newest base-timeframe close and scan each new
    bar for its stop loss and take profit; a hit queues a CLOSE (ahead of any entry) that
    carries the trigger price. Runs whether or not the fleet is paused."""
    store = ledger.store()
    now = datetime.now(UTC)
    marked, scanned, closes = 0, 0, []
    for account in sorted(store.exchange_accounts()):
        report = monitor_positions(store, account, now)
        marked += report.marked
        scanned += report.bars_scanned
        closes.extend(report.closes_queued)
    for line in closes:
        context.log.warning(f"position monitor: {line}")
    metadata: dict[str, Any] = {
        "positions_marked": marked,
        "bars_scanned": scanned,
        "stop_or_target_closes_queued": len(closes),
        "closes": dg.MetadataValue.md("\n".join(f"- {c}" for c in closes) or "none"),
    }
    context.log_event(dg.AssetMaterialization(asset_key="positions", metadata=metadata))
    context.add_output_metadata(metadata)


@dg.job(
    # A minute run that is still going after 10 minutes is hung, not slow (a cold start seeding
    # three days of history takes about a minute): run monitoring cancels it, so the schedule,
    # which skips slots while a run is going, does not skip forever.
    tags={SINGLETON_TAG: SINGLETON, "botbox/layer": "signals", "dagster/max_runtime": "600"},
    description=(
        "The minute loop in one run: refresh candles, then mark positions and queue the stops "
        "and targets they hit, then evaluate the due bots on the new candles and queue their "
        "trades (trade_queue_sensor launches the execution runs). Cancelled by run monitoring "
        "after 10 minutes."
    ),
)
def trading_minute_job() -> None:
    """Candles → positions → signals → trade queue, one step after the other."""
    refreshed = refresh_candles()
    shards, started = plan_signal_tick(after=monitor_open_positions(after=refreshed))
    summarize_signal_tick(started, shards.map(evaluate_signal_shard).collect())


@dg.schedule(
    cron_schedule="* * * * *",
    job=trading_minute_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every minute: one trading_minute_job run (candles, positions, signals, trade queue). "
        "While the previous minute's run is still queued or going it launches nothing: the "
        "minute is skipped with a reason naming that run and its slot, recorded in the ledger "
        "(minute_slots) and shown on fleet_status and the dashboard."
    ),
)
def trading_minute_schedule(
    context: dg.ScheduleEvaluationContext, ledger: LedgerResource
) -> dg.RunRequest | dg.SkipReason:
    """Every minute: the loop for the minute that just began (its bars closed at that time),
    unless the run of an earlier minute is still queued or going (then the slot is skipped)."""
    slot = context.scheduled_execution_time
    record = active_run(context.instance, trading_minute_job.name, {SINGLETON_TAG: SINGLETON})
    if record is not None:
        return _skip(context, ledger, slot, record)
    tick = slot.isoformat()
    return dg.RunRequest(
        run_config={
            "ops": {
                "refresh_candles": {"config": {"tick_time": tick}},
                # The candles are stored by the step before: nothing to wait for.
                # A run that starts its tick after this minute has ended evaluates the minute
                # it is in (the stale slot's entries are not worth taking).
                "plan_signal_tick": {
                    "config": {
                        "tick_time": tick,
                        "max_wait_seconds": 0.0,
                        "retarget_stale_slot": True,
                    }
                },
            }
        },
        tags={SINGLETON_TAG: SINGLETON, TICK_TAG: tick},
    )


def _skip(
    context: dg.ScheduleEvaluationContext,
    ledger: LedgerResource,
    slot: datetime,
    record: dg.RunRecord,
) -> dg.SkipReason:
    """Skip ``slot``: log and record why (best effort: the skip stands whatever the ledger
    answers, or runs would pile up behind a busy ledger too)."""
    run, now = record.dagster_run, datetime.now(UTC)
    running_slot = None
    with contextlib.suppress(KeyError, ValueError):
        running_slot = datetime.fromisoformat(run.tags[TICK_TAG])
    started = datetime.fromtimestamp(record.start_time, UTC) if record.start_time else None
    slot = current_slot(slot)
    reason = skip_reason(slot, run.run_id, running_slot, run.status.value, started, now)
    context.log.warning(reason)
    try:
        ledger.store().record_skipped_slot(slot, run.run_id, reason, now=now)
    except Exception as exc:  # the skip must stand whatever the ledger answers
        reason += f" (not recorded in the ledger: {type(exc).__name__}: {exc})"
    return dg.SkipReason(reason)
