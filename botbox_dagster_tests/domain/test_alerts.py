"""Alert rules, the fire-once/resolve state machine, the rate limit and the daily summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from botbox_dagster.domain.alerts import (
    RULES,
    AlertState,
    HealthInputs,
    Kind,
    RatePolicy,
    Severity,
    daily_summary,
    evaluate,
    step,
    summary_due,
    throttled,
    with_summary_sent,
)
from botbox_dagster.domain.money import ConvertedTotal

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

CASES = [
    (HealthInputs(open_breakers={"binance": "OPEN"}), "circuit_breakers_closed", Severity.CRITICAL),
    (HealthInputs(rate_limited={"binance": 1}), "no_rate_limit_violations", Severity.CRITICAL),
    (
        HealthInputs(executions_finished=10, executions_failed=2),
        "execution_failure_rate",
        Severity.CRITICAL,
    ),
    (HealthInputs(operator_rows={"binance": 1}), "orders_settled", Severity.CRITICAL),
    (HealthInputs(signal_latency_p95=10.5), "signal_latency", Severity.WARNING),
    (HealthInputs(queue_depth=101), "queue_depth", Severity.WARNING),
    (HealthInputs(signals_judged=10, signals_rejected=9), "rejection_rate", Severity.WARNING),
    (HealthInputs(stale_markets=("paper BTC/USDT",)), "market_data_fresh", Severity.WARNING),
    (HealthInputs(skipped_slots=1), "minute_loop_on_time", Severity.WARNING),
]


@pytest.mark.parametrize(("inputs", "check", "severity"), CASES)
def test_each_rule_trips_with_its_severity(
    inputs: HealthInputs, check: str, severity: Severity
) -> None:
    [condition] = evaluate(inputs)
    assert condition.check == check
    assert condition.severity is severity


def test_every_rule_has_a_case_and_healthy_inputs_raise_nothing() -> None:
    assert {c for _, c, _ in CASES} == {r.check for r in RULES}
    assert evaluate(HealthInputs()) == []


@pytest.mark.parametrize(
    "inputs",
    [
        HealthInputs(executions_finished=10, executions_failed=1),  # exactly 10%: not above
        HealthInputs(executions_finished=2, executions_failed=2),  # below the minimum sample
        HealthInputs(signal_latency_p95=10.0),
        HealthInputs(queue_depth=100),
        HealthInputs(signals_judged=10, signals_rejected=8),
        HealthInputs(signals_judged=5, signals_rejected=5),
        HealthInputs(rate_limited={"binance": 0}, open_breakers={}, operator_rows={"b": 0}),
        HealthInputs(skipped_slots=0, tick_lag_p95=60.0),  # a tick ending on the minute is on time
    ],
)
def test_at_the_threshold_nothing_trips(inputs: HealthInputs) -> None:
    assert evaluate(inputs) == []


def test_the_minute_loop_alert_names_the_skip_and_resolves_when_the_loop_keeps_up() -> None:
    skip = "slot 12:03 skipped: minute run 1a2b3c4d (slot 12:02, STARTED, started 75 s ago) ..."
    behind = HealthInputs(skipped_slots=2, tick_lag_p95=75.4, last_skip_reason=skip)
    [condition] = evaluate(behind)
    assert (condition.key, condition.check) == ("minute_loop", "minute_loop_on_time")
    assert (
        condition.title
        == "minute loop falling behind: 2 slot(s) skipped in 15 min, tick lag p95 75 s"
    )
    assert condition.detail == skip
    # Ticks overrunning their minute with no skip yet (each ended before the next schedule tick).
    [slow] = evaluate(HealthInputs(tick_lag_p95=61.0))
    assert slow.detail == "ticks end more than 60 s after their minute"
    state, sent = step(AlertState(), [condition], NOW)
    assert [(n.kind, n.severity, n.key) for n in sent] == [
        (Kind.FIRING, Severity.WARNING, "minute_loop")
    ]
    state, sent = step(state, evaluate(behind), NOW + timedelta(seconds=30))
    assert sent == []
    caught_up = evaluate(HealthInputs(skipped_slots=0, tick_lag_p95=12.0))
    state, sent = step(state, caught_up, NOW + timedelta(minutes=16))
    assert [(n.kind, n.key) for n in sent] == [(Kind.RESOLVED, "minute_loop")]
    assert sent[0].title == f"resolved: {condition.title}"


def test_a_condition_fires_once_then_resolves_once() -> None:
    conditions = evaluate(HealthInputs(queue_depth=150))
    state, sent = step(AlertState(), conditions, NOW)
    assert [(n.kind, n.key) for n in sent] == [(Kind.FIRING, "queue_depth")]
    for i in range(1, 4):
        state, sent = step(state, conditions, NOW + timedelta(seconds=30 * i))
        assert sent == []
    state, sent = step(state, [], NOW + timedelta(minutes=5))
    assert [(n.kind, n.key) for n in sent] == [(Kind.RESOLVED, "queue_depth")]
    assert "cleared after 5 min" in sent[0].text
    state, sent = step(state, [], NOW + timedelta(minutes=6))
    assert sent == [] and not state.active


def test_state_survives_a_json_round_trip() -> None:
    state, _ = step(AlertState(), evaluate(HealthInputs(queue_depth=150)), NOW)
    again = AlertState.from_json(state.to_json())
    assert again == state
    assert step(again, evaluate(HealthInputs(queue_depth=150)), NOW)[1] == []


def test_rate_limit_holds_back_and_delivers_later_critical_first() -> None:
    many = evaluate(
        HealthInputs(stale_markets=tuple(f"m{i}" for i in range(5)), open_breakers={"x": "OPEN"})
    )
    policy = RatePolicy(max_notifications=3, window=timedelta(minutes=10))
    state, sent = step(AlertState(), many, NOW, policy)
    assert [n.key for n in sent] == ["circuit_open:x", "stale:m0", "stale:m1"]
    state, sent = step(state, many, NOW + timedelta(minutes=1), policy)
    assert sent == []  # budget spent
    state, sent = step(state, many, NOW + timedelta(minutes=11), policy)
    assert [n.key for n in sent] == ["stale:m2", "stale:m3", "stale:m4"]
    state, sent = step(state, many, NOW + timedelta(minutes=30), policy)
    assert sent == []


def test_a_condition_that_clears_before_being_sent_is_dropped_silently() -> None:
    policy = RatePolicy(max_notifications=0)
    state, _ = step(AlertState(), evaluate(HealthInputs(queue_depth=150)), NOW, policy)
    state, sent = step(state, [], NOW + timedelta(minutes=1), RatePolicy())
    assert sent == [] and not state.active


def test_daily_summary_once_a_day_after_its_hour() -> None:
    state = AlertState()
    assert not summary_due(state, NOW.replace(hour=7), 8)
    assert summary_due(state, NOW, 8)
    state = with_summary_sent(state, NOW)
    assert not summary_due(state, NOW + timedelta(hours=3), 8)
    assert summary_due(state, NOW + timedelta(days=1), 8)
    realized = ConvertedTotal(
        "USDT", 5.5, {"BTC": 0.0001, "EUR": 2.0, "USDT": 0.5}, {"BTC": 50_000.0}, {"EUR": 2.0}
    )
    unrealized = ConvertedTotal("USDT", -1.25, {"USDT": -1.25})
    n = daily_summary(NOW, {"scalp": 12}, {"data too old": 3, "pause": 1}, realized, unrealized, 4)
    assert n.severity is Severity.INFO and n.kind is Kind.SUMMARY
    assert "scalp 12" in n.text and "data too old (3)" in n.text
    lines = n.text.splitlines()
    assert lines[-2] == (
        "realized P&L, last day: +0.0001 BTC, +2.00 EUR, +0.50 USDT; total (USDT) +5.50 USDT "
        "(not converted, no USDT price: +2.00 EUR)"
    )
    assert lines[-1] == "unrealized P&L: -1.25 USDT; total (USDT) -1.25 USDT"


def test_throttle_window() -> None:
    assert not throttled(None, NOW, timedelta(minutes=10))
    assert throttled(NOW, NOW + timedelta(minutes=9), timedelta(minutes=10))
    assert not throttled(NOW, NOW + timedelta(minutes=10), timedelta(minutes=10))
