"""Operator alerts: the health rules, their severities, and the fire → resolve state machine.

Pure: the alert sensor measures the fleet (``HealthInputs``), :func:`evaluate` says which
conditions hold, and :func:`step` turns the change since the last evaluation into
notifications: one FIRING per condition until it clears, then one RESOLVED. A rate limit caps
how many notifications go out per window; an alert held back by it stays pending and is sent
on a later tick (critical first), so nothing is lost, only delayed. The asset checks of the
fleet-status asset evaluate the same rules, so the UI and the alerts never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from botbox_dagster.domain.money import ConvertedTotal, fmt_by_currency, fmt_total


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Rule:
    """One health rule; ``check`` is also the name of the asset check that shows it."""

    check: str
    severity: Severity
    description: str


RULES: tuple[Rule, ...] = (
    Rule("circuit_breakers_closed", Severity.CRITICAL, "No exchange's circuit breaker is open."),
    Rule("no_rate_limit_violations", Severity.CRITICAL, "No 429/418 answer from any exchange."),
    Rule("execution_failure_rate", Severity.CRITICAL, "Execution failure rate at most 10%."),
    Rule(
        "orders_settled",
        Severity.CRITICAL,
        "No order in the last day was left for the operator: every send with an unknown "
        "outcome was settled from the venue's records.",
    ),
    Rule("signal_latency", Severity.WARNING, "Signal evaluation latency (p95) at most 10 s."),
    Rule("queue_depth", Severity.WARNING, "At most 100 trades waiting in the queue."),
    Rule("rejection_rate", Severity.WARNING, "At most 80% of last hour's signals rejected."),
    Rule("market_data_fresh", Severity.WARNING, "Every watched market has fresh candles."),
    Rule(
        "minute_loop_on_time",
        Severity.WARNING,
        "The minute loop keeps up: no slot skipped in 15 min, tick lag (p95) at most 60 s.",
    ),
)
RULES_BY_CHECK = {r.check: r for r in RULES}


@dataclass(frozen=True)
class Thresholds:
    """Where each rule trips. Rates need a minimum sample so one early failure is not 100%."""

    max_execution_failure_rate: float = 0.10
    min_execution_sample: int = 4
    max_signal_latency_seconds: float = 10.0
    max_queue_depth: int = 100
    max_rejection_rate: float = 0.80
    min_rejection_sample: int = 10
    max_skipped_slots: int = 0
    max_tick_lag_seconds: float = 60.0  # a tick that ends after its minute overran it


@dataclass(frozen=True)
class HealthInputs:
    """The measurements the rules read (computed from the ledger by the metrics queries)."""

    open_breakers: Mapping[str, str] = field(default_factory=dict)  # account -> OPEN/HALF_OPEN
    rate_limited: Mapping[str, int] = field(default_factory=dict)  # account -> 429/418 seen
    executions_finished: int = 0
    executions_failed: int = 0
    signal_latency_p95: float | None = None
    queue_depth: int = 0
    signals_judged: int = 0
    signals_rejected: int = 0
    stale_markets: tuple[str, ...] = ()
    # account -> queue rows of the last day whose reason starts "operator:" (sent with an
    # unknown outcome and never shown by the venue: the account must be checked by hand)
    operator_rows: Mapping[str, int] = field(default_factory=dict)
    # the minute loop over the last 15 minutes (domain/minute_loop.py): slots the schedule
    # skipped because the previous run was still going, and how long after its slot a tick ended
    skipped_slots: int = 0
    tick_lag_p95: float | None = None
    last_skip_reason: str = ""


@dataclass(frozen=True)
class Condition:
    """A rule that holds now. ``key`` identifies it for dedup (one per breaker, market...)."""

    key: str
    check: str
    severity: Severity
    title: str
    detail: str


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def evaluate(inputs: HealthInputs, limits: Thresholds = Thresholds()) -> list[Condition]:
    """Every condition that holds, most severe first."""
    out: list[Condition] = []
    for account, status in sorted(inputs.open_breakers.items()):
        out.append(
            Condition(
                f"circuit_open:{account}",
                "circuit_breakers_closed",
                Severity.CRITICAL,
                f"circuit breaker {status} on {account}",
                f"{account}: no new trades until the breaker closes again",
            )
        )
    for account, seen in sorted(inputs.rate_limited.items()):
        if seen:
            out.append(
                Condition(
                    f"rate_limited:{account}",
                    "no_rate_limit_violations",
                    Severity.CRITICAL,
                    f"rate limit violated on {account}",
                    f"{seen} answer(s) 429/418 from {account}: the venue may ban the IP",
                )
            )
    for account, rows in sorted(inputs.operator_rows.items()):
        if rows:
            out.append(
                Condition(
                    f"operator:{account}",
                    "orders_settled",
                    Severity.CRITICAL,
                    f"{rows} order(s) on {account} need the operator",
                    f"sent with an unknown outcome and never shown by {account}: check the "
                    "account's orders and balances (trade_queue reasons starting 'operator:')",
                )
            )
    failure = _rate(inputs.executions_failed, inputs.executions_finished)
    if (
        inputs.executions_finished >= limits.min_execution_sample
        and failure > limits.max_execution_failure_rate
    ):
        out.append(
            Condition(
                "execution_failure_rate",
                "execution_failure_rate",
                Severity.CRITICAL,
                f"execution failure rate {failure:.0%}",
                f"{inputs.executions_failed} of {inputs.executions_finished} executions failed "
                f"(limit {limits.max_execution_failure_rate:.0%})",
            )
        )
    latency = inputs.signal_latency_p95
    if latency is not None and latency > limits.max_signal_latency_seconds:
        out.append(
            Condition(
                "signal_latency",
                "signal_latency",
                Severity.WARNING,
                f"signal evaluation latency p95 {latency:.1f} s",
                f"limit {limits.max_signal_latency_seconds:.0f} s from the tick to the verdict",
            )
        )
    if inputs.queue_depth > limits.max_queue_depth:
        out.append(
            Condition(
                "queue_depth",
                "queue_depth",
                Severity.WARNING,
                f"trade queue depth {inputs.queue_depth}",
                f"more than {limits.max_queue_depth} trades PENDING or EXECUTING",
            )
        )
    rejection = _rate(inputs.signals_rejected, inputs.signals_judged)
    if (
        inputs.signals_judged >= limits.min_rejection_sample
        and rejection > limits.max_rejection_rate
    ):
        out.append(
            Condition(
                "rejection_rate",
                "rejection_rate",
                Severity.WARNING,
                f"rejection rate {rejection:.0%}",
                f"{inputs.signals_rejected} of {inputs.signals_judged} signals rejected in the "
                f"last hour (limit {limits.max_rejection_rate:.0%})",
            )
        )
    lag = inputs.tick_lag_p95
    overran = lag is not None and lag > limits.max_tick_lag_seconds
    if inputs.skipped_slots > limits.max_skipped_slots or overran:
        figures = [f"{inputs.skipped_slots} slot(s) skipped in 15 min"]
        if lag is not None:
            figures.append(f"tick lag p95 {lag:.0f} s")
        out.append(
            Condition(
                "minute_loop",
                "minute_loop_on_time",
                Severity.WARNING,
                "minute loop falling behind: " + ", ".join(figures),
                (inputs.last_skip_reason if inputs.skipped_slots else "")
                or f"ticks end more than {limits.max_tick_lag_seconds:.0f} s after their minute",
            )
        )
    for market in inputs.stale_markets:
        out.append(
            Condition(
                f"stale:{market}",
                "market_data_fresh",
                Severity.WARNING,
                f"stale market data: {market}",
                "its bots reject every signal until fresh candles arrive",
            )
        )
    return sorted(out, key=lambda c: (_RANK[c.severity], c.key))


# --------------------------------------------------------------------------- state machine


class Kind(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    SUMMARY = "summary"


@dataclass(frozen=True)
class Notification:
    kind: Kind
    severity: Severity
    key: str
    title: str
    text: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "severity": str(self.severity),
            "key": self.key,
            "title": self.title,
            "text": self.text,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class ActiveAlert:
    key: str
    severity: Severity
    title: str
    detail: str
    since: datetime
    notified: bool


@dataclass(frozen=True)
class RatePolicy:
    """At most ``max_notifications`` per ``window`` (the daily summary is not counted)."""

    max_notifications: int = 10
    window: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class AlertState:
    """What the alert sensor remembers between ticks (stored as JSON in ``fleet_controls``)."""

    active: Mapping[str, ActiveAlert] = field(default_factory=dict)
    sent: tuple[datetime, ...] = ()  # notification times inside the rate window
    last_summary_day: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "active": {
                k: {
                    "severity": str(a.severity),
                    "title": a.title,
                    "detail": a.detail,
                    "since": a.since.isoformat(),
                    "notified": a.notified,
                }
                for k, a in self.active.items()
            },
            "sent": [t.isoformat() for t in self.sent],
            "last_summary_day": self.last_summary_day,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AlertState:
        if not data:
            return cls()
        active = {
            k: ActiveAlert(
                k,
                Severity(v["severity"]),
                v["title"],
                v["detail"],
                datetime.fromisoformat(v["since"]),
                bool(v["notified"]),
            )
            for k, v in (data.get("active") or {}).items()
        }
        sent = tuple(datetime.fromisoformat(t) for t in data.get("sent") or ())
        return cls(active, sent, data.get("last_summary_day"))


def step(
    state: AlertState,
    conditions: list[Condition],
    now: datetime,
    policy: RatePolicy = RatePolicy(),
) -> tuple[AlertState, list[Notification]]:
    """Advance the alert state by one evaluation; return the notifications to send now."""
    holding = {c.key: c for c in conditions}
    sent = [t for t in state.sent if now - t < policy.window]
    out: list[Notification] = []

    def budget() -> bool:
        return len(sent) < policy.max_notifications

    active: dict[str, ActiveAlert] = {}
    # Resolutions first: they free attention and tell the operator what is fine again.
    for key, alert in sorted(state.active.items()):
        if key in holding:
            active[key] = alert
        elif alert.notified:
            if budget():
                sent.append(now)
                out.append(
                    Notification(
                        Kind.RESOLVED,
                        alert.severity,
                        key,
                        f"resolved: {alert.title}",
                        f"cleared after {_duration(now - alert.since)}",
                        now,
                    )
                )
            else:
                active[key] = alert  # keep it until the resolution can be sent
    for c in conditions:
        if c.key not in active:
            active[c.key] = ActiveAlert(c.key, c.severity, c.title, c.detail, now, False)
    pending = sorted(
        (a for a in active.values() if not a.notified and a.key in holding),
        key=lambda a: (_RANK[a.severity], a.since, a.key),
    )
    for alert in pending:
        if not budget():
            break
        sent.append(now)
        current = holding[alert.key]
        active[alert.key] = replace(
            alert, title=current.title, detail=current.detail, notified=True
        )
        out.append(
            Notification(Kind.FIRING, alert.severity, alert.key, current.title, current.detail, now)
        )
    return replace(state, active=active, sent=tuple(sent)), out


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --------------------------------------------------------------------------- daily summary


def summary_due(state: AlertState, now: datetime, hour_utc: int = 8) -> bool:
    """Once a day, on the first evaluation at or after ``hour_utc``."""
    return now.hour >= hour_utc and state.last_summary_day != now.date().isoformat()


def daily_summary(
    now: datetime,
    signals_by_strategy: Mapping[str, int],
    rejection_reasons: Mapping[str, int],
    realized_pnl: ConvertedTotal,
    unrealized_pnl: ConvertedTotal,
    trades: int,
) -> Notification:
    """The INFO digest of the last 24 hours. P&L is given per quote currency and as a total in
    the reporting currency, naming any currency the total leaves out for want of a price."""
    strategies = ", ".join(f"{k} {v}" for k, v in sorted(signals_by_strategy.items())) or "none"
    top = sorted(rejection_reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    reasons = ", ".join(f"{k} ({v})" for k, v in top) or "none"
    text = (
        f"signals per strategy: {strategies}\n"
        f"most common rejection reasons: {reasons}\n"
        f"trades executed: {trades}\n"
        f"realized P&L, last day: {fmt_by_currency(realized_pnl.by_currency)}; "
        f"total ({realized_pnl.currency}) {fmt_total(realized_pnl)}\n"
        f"unrealized P&L: {fmt_by_currency(unrealized_pnl.by_currency)}; "
        f"total ({unrealized_pnl.currency}) {fmt_total(unrealized_pnl)}"
    )
    return Notification(
        Kind.SUMMARY, Severity.INFO, f"summary:{now.date()}", "BotBox daily summary", text, now
    )


def with_summary_sent(state: AlertState, now: datetime) -> AlertState:
    return replace(state, last_summary_day=now.date().isoformat())


def throttled(last_sent: datetime | None, now: datetime, window: timedelta) -> bool:
    """True while a repeat of the same notification (e.g. a job's failures) must wait."""
    return last_sent is not None and now - last_sent < window
