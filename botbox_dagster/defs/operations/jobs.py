"""``fleet_status_job`` and its minute schedule."""

import dagster as dg

from botbox_dagster.defs.operations.assets import fleet_status

fleet_status_job = dg.define_asset_job(
    name="fleet_status_job",
    selection=dg.AssetSelection.assets(fleet_status),
    description=(
        "Recompute the fleet_status asset from the ledger and run its health checks (circuit "
        "breakers, rate limits, failure and rejection rates, latency, queue depth, freshness)."
    ),
    tags={"botbox/layer": "operations"},
)


@dg.schedule(
    cron_schedule="* * * * *",
    job=fleet_status_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every minute: refresh fleet_status so its plotted metrics and health checks stay "
        "current. Read-only; it never touches trading state."
    ),
)
def fleet_status_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every minute: refresh fleet_status and its checks (read-only)."""
    tick = context.scheduled_execution_time
    return dg.RunRequest(run_key=None, tags={"botbox/tick": tick.isoformat()})
