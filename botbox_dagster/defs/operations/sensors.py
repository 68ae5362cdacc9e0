"""Alert sensors: the fleet's health rules every 30 s, and failed runs as a backstop."""

import dagster as dg

from botbox_dagster.defs.operations.resources import AlertsResource
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.domain.alerts import RatePolicy
from botbox_dagster.services.alerting import evaluate_alerts, notify_run_failure


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 30 s: evaluate the fleet's health rules (circuit breaker open, 429/418 seen, "
        "execution failure rate > 10% → critical; signal latency > 10 s, queue depth > 100, "
        "rejection rate > 80%, stale market data, minute loop skipping slots or ticks ending "
        "> 60 s after their minute → warning) and send each condition once to "
        "the channels of the alerts resource (JSON webhook, Slack webhook, log), then once "
        "more as RESOLVED when it clears. At most 10 notifications per 10 minutes (held-back "
        "ones follow later); a daily INFO summary after 08:00 UTC. Launches no runs."
    ),
)
def alert_sensor(
    context: dg.SensorEvaluationContext, ledger: LedgerResource, alerts: AlertsResource
) -> dg.SkipReason:
    """Evaluate the health rules and route new and resolved alerts by severity."""
    report = evaluate_alerts(
        ledger.store(),
        alerts.channels(),
        policy=RatePolicy(max_notifications=alerts.max_notifications_per_10_minutes),
        summary_hour_utc=alerts.daily_summary_hour_utc,
    )
    for d in report.failed_deliveries:
        context.log.warning(f"alert {d.key} not delivered to {d.channel}: {d.error}")
    firing = ", ".join(c.title for c in report.conditions) or "none"
    sent = ", ".join(f"{n.kind} {n.key}" for n in report.sent) or "nothing new"
    return dg.SkipReason(f"firing: {firing}; sent: {sent}")


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Backstop: any failed run of this code location raises a CRITICAL alert on the "
        "alerts resource's channels (at most one per job per 10 minutes; the count of "
        "held-back failures goes with the next)."
    ),
)
def run_failure_alert_sensor(
    context: dg.RunFailureSensorContext, ledger: LedgerResource, alerts: AlertsResource
) -> None:
    """Alert on a failed run (backstop for failures the health rules do not see)."""
    run = context.dagster_run
    notify_run_failure(
        ledger.store,  # opened inside: a ledger out of reach must not stop the alert
        alerts.channels(),
        job_name=run.job_name,
        run_id=run.run_id,
        message=f"{context.failure_event.message or 'run failed'}\n{alerts.dashboard_url}",
    )
