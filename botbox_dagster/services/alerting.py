"""One alert evaluation: measure, judge, dedupe, deliver, remember.

The alert state (which conditions are firing and were notified, recent sends for the rate limit,
the day of the last summary) is one JSON document in ``fleet_controls`` (name ``alert_state``),
so every process and every restart of the sensor sees the same state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botbox_dagster.adapters.alert_channels import Channel, Delivery, deliver
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import alerts
from botbox_dagster.domain.metrics import FleetMetrics

ALERT_STATE = "alert_state"
RUN_FAILURES = "run_failure_alerts"
_BOOKKEEPING = ("updated_by", "updated_at")
_THRESHOLDS = alerts.Thresholds()
_POLICY = alerts.RatePolicy()


@dataclass(frozen=True)
class FleetHealth:
    """The health rules judged on one metrics read: what the alerts send and the checks show."""

    metrics: FleetMetrics
    inputs: alerts.HealthInputs
    conditions: list[alerts.Condition]


def fleet_health(
    store: LedgerStore, *, now: datetime | None = None, thresholds: alerts.Thresholds = _THRESHOLDS
) -> FleetHealth:
    """Read the fleet's metrics and judge every health rule on them (the one place this is
    done: the alert sensor and the ``fleet_health_checks`` asset checks both call it)."""
    metrics = store.fleet_metrics(now=now)
    inputs = metrics.health_inputs()
    return FleetHealth(metrics, inputs, alerts.evaluate(inputs, thresholds))


@dataclass(frozen=True)
class AlertReport:
    conditions: list[alerts.Condition]
    sent: list[alerts.Notification]
    deliveries: list[Delivery]
    state: alerts.AlertState

    @property
    def failed_deliveries(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


def _load(store: LedgerStore, name: str) -> dict:
    value = store.get_control(name) or {}
    return {k: v for k, v in value.items() if k not in _BOOKKEEPING}


def evaluate_alerts(
    store: LedgerStore,
    channels: Sequence[Channel],
    *,
    now: datetime | None = None,
    thresholds: alerts.Thresholds = _THRESHOLDS,
    policy: alerts.RatePolicy = _POLICY,
    summary_hour_utc: int | None = 8,
    source: str = "alert_sensor",
) -> AlertReport:
    """Evaluate every rule, send what changed, store the new state; never raises on delivery."""
    now = now or datetime.now(UTC)
    health = fleet_health(store, now=now, thresholds=thresholds)
    metrics, conditions = health.metrics, health.conditions
    state = alerts.AlertState.from_json(_load(store, ALERT_STATE))
    state, notifications = alerts.step(state, conditions, now, policy)
    if summary_hour_utc is not None and alerts.summary_due(state, now, summary_hour_utc):
        notifications.append(
            alerts.daily_summary(
                now,
                metrics.signals_by_strategy_day,
                metrics.rejection_reasons_day,
                metrics.realized_pnl_day_total,
                metrics.unrealized_pnl_total,
                metrics.trades_day,
            )
        )
        state = alerts.with_summary_sent(state, now)
    deliveries = deliver(notifications, channels) if notifications else []
    store.set_control(ALERT_STATE, state.to_json(), by=source, now=now)
    return AlertReport(conditions, notifications, deliveries, state)


# Run failures alerted while the ledger could not record them (locked past the wait, disk
# full: often the very reason the run failed), by job: throttled in this process alone.
_UNRECORDED_SENT: dict[str, datetime] = {}


def notify_run_failure(
    open_store: Callable[[], LedgerStore],
    channels: Sequence[Channel],
    *,
    job_name: str,
    run_id: str,
    message: str,
    now: datetime | None = None,
    window: timedelta = timedelta(minutes=10),
) -> list[Delivery] | None:
    """A CRITICAL alert for a failed run, at most one per job per ``window`` (None: throttled).

    Failures held back are counted and reported with the next alert for that job. When the
    ledger cannot be opened, read or written (the failure may be the ledger's own), the alert is
    still sent, throttled in this process only, and says so: the sensor never loses it.
    """
    now = now or datetime.now(UTC)
    try:
        store = open_store()
        book = _load(store, RUN_FAILURES)
    except Exception as exc:  # whatever keeps the ledger out of reach
        return _notify_unrecorded(channels, job_name, run_id, message, now, window, exc)
    entry = book.get(job_name) or {}
    last = datetime.fromisoformat(entry["last_sent"]) if entry.get("last_sent") else None
    if alerts.throttled(last, now, window):
        book[job_name] = {**entry, "held_back": int(entry.get("held_back", 0)) + 1}
        with contextlib.suppress(Exception):  # a count the ledger cannot keep is only a count
            store.set_control(RUN_FAILURES, book, by="run_failure_alert_sensor", now=now)
        return None
    held = int(entry.get("held_back", 0))
    text = message + (f"\n({held} earlier failure(s) of this job were not alerted)" if held else "")
    book[job_name] = {"last_sent": now.isoformat(), "held_back": 0}
    try:
        store.set_control(RUN_FAILURES, book, by="run_failure_alert_sensor", now=now)
    except Exception as exc:
        return _notify_unrecorded(channels, job_name, run_id, text, now, window, exc)
    return deliver([_run_failed(job_name, run_id, text, now)], channels)


def _run_failed(job_name: str, run_id: str, text: str, now: datetime) -> alerts.Notification:
    return alerts.Notification(
        alerts.Kind.FIRING,
        alerts.Severity.CRITICAL,
        f"run_failed:{job_name}",
        f"run failed: {job_name} ({run_id[:8]})",
        text,
        now,
    )


def _notify_unrecorded(
    channels: Sequence[Channel],
    job_name: str,
    run_id: str,
    message: str,
    now: datetime,
    window: timedelta,
    exc: Exception,
) -> list[Delivery] | None:
    if alerts.throttled(_UNRECORDED_SENT.get(job_name), now, window):
        return None
    _UNRECORDED_SENT[job_name] = now
    note = f"\n(the ledger could not record this alert: {type(exc).__name__}: {exc})"
    return deliver([_run_failed(job_name, run_id, message + note, now)], channels)
