"""The market-data job and its minute schedule."""

import dagster as dg

from botbox_dagster.defs.market_data.assets import candles
from botbox_dagster.defs.market_data.partitions import daily_partitions
from botbox_dagster.defs.runs import SINGLETON_TAG, active_run_id

market_data_job = dg.define_asset_job(
    name="market_data_job",
    selection=dg.AssetSelection.assets(candles),
    description="Refresh candles (and run their freshness check) for every watched market.",
    tags={SINGLETON_TAG: "market_data"},
)


@dg.schedule(
    cron_schedule="* * * * *",
    job=market_data_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every minute: refresh today's candle partition with the bars closed since the last "
        "refresh, one run for all markets. Skips (does not queue) while the previous refresh "
        "is still running."
    ),
)
def market_data_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Every minute: refresh today's candle partition, fetching only bars closed since the last.

    One run for all markets. If the previous minute's refresh is still running, this tick is
    skipped (not queued), so slow exchanges never make refreshes pile up.
    """
    running = active_run_id(context.instance, market_data_job.name, {SINGLETON_TAG: "market_data"})
    if running:
        return dg.SkipReason(f"refresh {running[:8]} still running")
    tick = context.scheduled_execution_time
    key = daily_partitions.get_partition_key_for_timestamp(tick.timestamp())
    return dg.RunRequest(
        partition_key=key, tags={SINGLETON_TAG: "market_data", "botbox/tick": tick.isoformat()}
    )
