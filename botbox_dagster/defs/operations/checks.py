"""Health checks on ``fleet_status``: the alert rules, shown in the UI.

ERROR (red): a circuit breaker open, a rate-limit violation (429/418), execution failure rate
above 10%. WARN (yellow): signal evaluation latency above 10 s, queue depth above 100,
rejection rate above 80%, stale market data, the minute loop falling behind (a slot skipped or
tick lag p95 above 60 s in the last 15 minutes). The rules (``domain/alerts.py``) are judged by
``services/alerting.fleet_health``, the function the alert sensor calls before it sends them
to the configured channels.
"""

from collections.abc import Iterator

import dagster as dg

from botbox_dagster.defs.operations.assets import fleet_status
from botbox_dagster.defs.operations.tables import md_table
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.domain.alerts import RULES, Severity
from botbox_dagster.services.alerting import fleet_health

_SEVERITY = {
    Severity.CRITICAL: dg.AssetCheckSeverity.ERROR,
    Severity.WARNING: dg.AssetCheckSeverity.WARN,
    Severity.INFO: dg.AssetCheckSeverity.WARN,
}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            rule.check,
            asset=fleet_status,
            description=f"{rule.description} ({_SEVERITY[rule.severity].value} when it fails)",
            blocking=False,
        )
        for rule in RULES
    ],
    name="fleet_health_checks",
)
def fleet_health_checks(ledger: LedgerResource) -> Iterator[dg.AssetCheckResult]:
    """Evaluate the fleet's alert rules on a fresh metrics read, one check result per rule."""
    health = fleet_health(ledger.store())
    inputs, conditions = health.inputs, health.conditions
    for rule in RULES:
        failing = [c for c in conditions if c.check == rule.check]
        yield dg.AssetCheckResult(
            check_name=rule.check,
            asset_key=fleet_status.key,
            passed=not failing,
            severity=_SEVERITY[rule.severity],
            description="; ".join(c.title for c in failing) or f"ok: {rule.description}",
            metadata={
                "failing": len(failing),
                "conditions": dg.MetadataValue.md(
                    md_table(["condition", "detail"], [(c.title, c.detail) for c in failing])
                ),
                "queue_depth": inputs.queue_depth,
                "signals_last_hour": inputs.signals_judged,
                "executions_last_hour": inputs.executions_finished,
                "minute_slots_skipped_15m": inputs.skipped_slots,
            },
        )
