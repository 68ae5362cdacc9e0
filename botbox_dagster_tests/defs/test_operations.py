"""fleet_status, its health checks, the alert sensor and the run-failure sensor, run for real.

Alerts go to a loopback HTTP receiver: each condition is made true in the ledger, the sensor
fires it once (JSON and Slack webhooks), keeps quiet while it holds, and sends one RESOLVED
when the condition is made false again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.operations.assets import fleet_status
from botbox_dagster.defs.operations.checks import fleet_health_checks
from botbox_dagster.defs.operations.resources import AlertsResource
from botbox_dagster.defs.operations.sensors import alert_sensor, run_failure_alert_sensor
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster_tests.signal_helpers import store_candles
from botbox_dagster_tests.support.receiver import Receiver, receiver
from botbox_dagster_tests.support.seed import (
    add_queue_row,
    add_signal,
    add_trade,
    busy_demo_ledger,
    demo_ledger,
    minute,
    mixed_currency_ledger,
    overloaded_minute_loop,
)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with receiver() as r:
        monkeypatch.setenv("TEST_ALERT_HOOK", r.url("/hook"))
        monkeypatch.setenv("TEST_ALERT_SLACK", r.url("/slack"))
        yield r


def resources(path: Path, **alerts: object) -> dict[str, object]:
    return {
        "ledger": LedgerResource(path=str(path)),
        "alerts": AlertsResource(
            json_webhook_env="TEST_ALERT_HOOK",
            slack_webhook_env="TEST_ALERT_SLACK",
            slack_webhook_severities="critical,warning",
            daily_summary_hour_utc=alerts.pop("daily_summary_hour_utc", 24),  # 24: no summary
            **alerts,  # type: ignore[arg-type]
        ),
    }


def test_fleet_status_materializes_with_plottable_metadata_and_checks(tmp_path: Path) -> None:
    busy_demo_ledger(tmp_path / "ledger.duckdb")
    result = dg.materialize(
        [fleet_status, fleet_health_checks],
        resources=resources(tmp_path / "ledger.duckdb"),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [mat] = result.asset_materializations_for_node("fleet_status")
    md = mat.metadata
    assert md["active_bots"].value == 25
    assert md["signals_last_hour"].value == 12
    assert md["trades_last_hour"].value == 3
    assert md["queue_depth"].value == 1
    assert md["acceptance_rate_pct"].value == 50.0
    assert md["fetches_saved_per_refresh"].value == 19
    numeric = [
        k for k, v in md.items() if isinstance(v, dg.IntMetadataValue | dg.FloatMetadataValue)
    ]
    assert len(numeric) >= 18  # each one is a plotted series in the UI
    assert md["dashboard"].value == "http://127.0.0.1:3001"
    assert "| active bots | 25 |" in md["overview"].value
    assert "| paper |" in md["exchanges"].value
    # Every seeded position is BTC/USDT: P&L in USDT, labelled with its currency.
    assert md["realized_pnl_usdt"].value == pytest.approx(3.0)
    assert md["realized_pnl_total_usdt"].value == pytest.approx(3.0)
    assert md["realized_pnl_last_day_total_usdt"].value == pytest.approx(3.0)
    assert md["unrealized_pnl_usdt"].value == pytest.approx(2.0)
    assert md["unrealized_pnl_total_usdt"].value == pytest.approx(2.0)
    assert md["pnl_unconverted_currencies"].value == 0 and md["pnl_unconverted"].value == "none"
    assert "realized_pnl" not in md and "unrealized_pnl" not in md  # no unlabelled sums
    assert "| realized P&L (USDT) | +3.00 USDT |" in md["overview"].value
    assert "| unrealized P&L (USDT) | +2.00 USDT |" in md["overview"].value
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert len(checks) == 9 and all(c.passed for c in checks.values())
    # No minute-loop record yet: no lag series, nothing skipped.
    assert md["minute_slots_skipped_15m"].value == 0 and "tick_lag_p95_s" not in md
    assert md["last_skipped_slot"].value == "none"


def test_fleet_status_shows_tick_lag_and_skipped_slots(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    store = demo_ledger(path)
    skip = overloaded_minute_loop(store, datetime.now(UTC))  # lags 20 s and 95 s, one skip
    result = dg.materialize(
        [fleet_status, fleet_health_checks],
        resources=resources(path),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    [mat] = result.asset_materializations_for_node("fleet_status")
    md = mat.metadata
    assert md["minute_slots_skipped_15m"].value == 1
    assert md["minute_slots_skipped_last_hour"].value == 1
    assert md["minute_slots_stale_15m"].value == 0
    assert md["tick_lag_p50_s"].value == pytest.approx(57.5)
    assert md["tick_lag_p95_s"].value == pytest.approx(91.25)
    assert md["tick_lag_max_s"].value == md["last_tick_lag_s"].value == pytest.approx(95.0)
    assert md["last_skipped_slot"].value == skip
    table = md["minute_loop"].value
    assert "| slots skipped, last 15 min / hour / day | 1 / 1 / 1 |" in table
    assert "| tick lag p50 / p95 / max, last 15 min | 57.5 s / 91.2 s / 95.0 s |" in table
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    loop = checks["minute_loop_on_time"]
    assert not loop.passed and loop.severity == dg.AssetCheckSeverity.WARN
    assert loop.description == (
        "minute loop falling behind: 1 slot(s) skipped in 15 min, tick lag p95 91 s"
    )
    assert loop.metadata["minute_slots_skipped_15m"].value == 1
    assert all(c.passed for name, c in checks.items() if name != "minute_loop_on_time")


def test_fleet_status_shows_pnl_per_currency_and_the_converted_total(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    now = datetime.now(UTC)
    # +12 USDT and +0.001 BTC, BTC/USDT closing at 50,000; +3 EUR that nothing prices.
    store = mixed_currency_ledger(path, now)
    add_trade(
        store,
        "eth-eur-bot",
        opened=now - timedelta(hours=3),
        closed=now - timedelta(hours=2),
        entry=100.0,
        exit_price=103.0,
        symbol="ETH/EUR",
    )
    result = dg.materialize(
        [fleet_status], resources=resources(path), instance=dg.DagsterInstance.ephemeral()
    )
    [mat] = result.asset_materializations_for_node("fleet_status")
    md = mat.metadata
    assert md["realized_pnl_usdt"].value == pytest.approx(12.0)
    assert md["realized_pnl_btc"].value == pytest.approx(0.001)
    assert md["realized_pnl_eur"].value == pytest.approx(3.0)
    assert md["realized_pnl_total_usdt"].value == pytest.approx(12 + 0.001 * 50_000)  # 62
    assert md["pnl_unconverted_currencies"].value == 1 and md["pnl_unconverted"].value == "EUR"
    overview = md["overview"].value
    assert (
        "| realized P&L (USDT) | +62.00 USDT (not converted, no USDT price: +3.00 EUR) |"
        in overview
    )
    table = md["pnl_by_currency"].value
    assert (
        "| BTC | +0.001 BTC | +0.001 BTC | - | 1 BTC = 50,000.00 USDT (paper BTC/USDT 1m" in table
    )
    assert "| EUR | +3.00 EUR | +3.00 EUR | - | no EUR/USDT or USDT/EUR price: not converted |" in (
        table
    )
    assert "| USDT | +12.00 USDT | +12.00 USDT | - | reporting currency |" in table
    assert "| total (USDT) | +62.00 USDT (not converted, no USDT price: +3.00 EUR) |" in table


def test_checks_fail_with_error_and_warn_severities(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    store = demo_ledger(path, datetime.now(UTC) - timedelta(minutes=10))  # stale candles
    _open_breaker(store)
    result = dg.materialize(
        [fleet_status, fleet_health_checks],
        resources=resources(path),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["circuit_breakers_closed"].passed
    assert checks["circuit_breakers_closed"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["market_data_fresh"].passed
    assert checks["market_data_fresh"].severity == dg.AssetCheckSeverity.WARN
    assert checks["queue_depth"].passed


# --------------------------------------------------------------------------- conditions


def _open_breaker(store: LedgerStore) -> None:
    state = {"status": "OPEN", "consecutive_failures": 5, "opened_at": 0.0}
    store.run(
        lambda c: c.execute(
            "INSERT INTO circuit_breakers (exchange, state, updated_at) VALUES ('paper', ?, ?) "
            "ON CONFLICT (exchange) DO UPDATE SET state = excluded.state",
            [json.dumps(state), datetime.now(UTC)],
        )
    )


def _close_breaker(store: LedgerStore) -> None:
    store.run(
        lambda c: c.execute(
            "UPDATE circuit_breakers SET state = ? WHERE exchange = 'paper'",
            [json.dumps({"status": "CLOSED", "consecutive_failures": 0})],
        )
    )


def _rate_limited(store: LedgerStore) -> None:
    store.log_exchange_call("paper", "rate_limited", 0, "rate_limited", "429 Too Many Requests")


def _no_recent_429(store: LedgerStore) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    store.run(lambda c: c.execute("UPDATE exchange_calls SET called_at = ?", [old]))


def _failures(store: LedgerStore) -> None:
    now = datetime.now(UTC)
    for status in ("FILLED", "FAILED", "FAILED", "FILLED"):
        add_queue_row(
            store, "btc-scalper", status, created=now - timedelta(seconds=30), updated=now
        )


def _failures_age(store: LedgerStore) -> None:
    old = datetime.now(UTC) - timedelta(hours=2)
    store.run(lambda c: c.execute("UPDATE trade_queue SET updated_at = ?", [old]))


def _slow_signals(store: LedgerStore) -> None:
    at = minute(datetime.now(UTC)) - timedelta(seconds=20)  # 40 s after the previous tick
    for bot in ("btc-scalper", "eth-scalper"):
        add_signal(store, bot, "ACCEPTED", at=at)


def _delete_signals(store: LedgerStore) -> None:
    store.run(lambda c: c.execute("DELETE FROM signals"))


def _deep_queue(store: LedgerStore) -> None:
    now = datetime.now(UTC)
    for i in range(101):
        add_queue_row(store, f"bot-{i}", "PENDING", created=now)


def _drain_queue(store: LedgerStore) -> None:
    store.run(
        lambda c: c.execute("UPDATE trade_queue SET status = 'CANCELLED', pending_key = NULL")
    )


def _rejections(store: LedgerStore) -> None:
    now = datetime.now(UTC)
    for i in range(10):
        at = minute(now) - timedelta(minutes=i + 1) + timedelta(seconds=1)
        add_signal(store, "btc-scalper", "REJECTED", at=at, reason="fleet paused: test")


def _stale(store: LedgerStore) -> None:
    store.run(lambda c: c.execute("DELETE FROM candles WHERE symbol = 'SOL/USDT'"))
    store_candles(
        store,
        "SOL/USDT",
        minute(datetime.now(UTC)) - timedelta(minutes=10),
        timeframes_=("1m",),
        bars=30,
    )


def _fresh(store: LedgerStore) -> None:
    store_candles(store, "SOL/USDT", minute(datetime.now(UTC)), timeframes_=("1m",), bars=30)


def _skipped_slot(store: LedgerStore) -> None:
    now = datetime.now(UTC)
    store.record_skipped_slot(minute(now), "run-1", f"slot {now:%H:%M} skipped: test")


def _skip_out_of_the_window(store: LedgerStore) -> None:
    store.run(lambda c: c.execute("UPDATE minute_slots SET slot = slot - INTERVAL 1 HOUR"))


def _operator_row(store: LedgerStore) -> None:
    add_queue_row(
        store,
        "btc-scalper",
        "FAILED",
        created=datetime.now(UTC),
        reason="operator: order bb-1 was sent with an unknown outcome and the venue shows no "
        "such order 20 s later; not re-sent (it could still exist): check the account",
    )


def _operator_row_a_day_old(store: LedgerStore) -> None:
    old = datetime.now(UTC) - timedelta(days=1, minutes=1)
    store.run(lambda c: c.execute("UPDATE trade_queue SET updated_at = ?", [old]))


Step = Callable[[LedgerStore], None]
CONDITIONS: list[tuple[str, Step, Step, str, str]] = [
    ("circuit_open:paper", _open_breaker, _close_breaker, "critical", "circuit breaker OPEN"),
    ("rate_limited:paper", _rate_limited, _no_recent_429, "critical", "rate limit violated"),
    ("execution_failure_rate", _failures, _failures_age, "critical", "failure rate 50%"),
    ("operator:paper", _operator_row, _operator_row_a_day_old, "critical", "need the operator"),
    ("signal_latency", _slow_signals, _delete_signals, "warning", "latency p95"),
    ("queue_depth", _deep_queue, _drain_queue, "warning", "queue depth 101"),
    ("rejection_rate", _rejections, _delete_signals, "warning", "rejection rate 100%"),
    ("stale:paper SOL/USDT", _stale, _fresh, "warning", "stale market data"),
    ("minute_loop", _skipped_slot, _skip_out_of_the_window, "warning", "minute loop falling"),
]


@pytest.mark.parametrize(
    ("key", "make_true", "make_false", "severity", "title"),
    CONDITIONS,
    ids=[c[0] for c in CONDITIONS],
)
def test_each_alert_fires_once_and_resolves(
    tmp_path: Path,
    hooks: Receiver,
    key: str,
    make_true: Step,
    make_false: Step,
    severity: str,
    title: str,
) -> None:
    path = tmp_path / "ledger.duckdb"
    store = demo_ledger(path)
    instance = dg.DagsterInstance.ephemeral()

    def tick() -> list[dict]:
        hooks.clear()
        context = dg.build_sensor_context(instance=instance, resources=resources(path))
        result = alert_sensor(context)
        assert isinstance(result, dg.SkipReason)  # the sensor launches no runs
        return hooks.bodies("/hook")

    assert tick() == []  # a healthy fleet alerts nothing
    make_true(store)
    [fired] = tick()
    assert (fired["kind"], fired["key"], fired["severity"]) == ("firing", key, severity)
    assert title in fired["title"]
    [slack] = hooks.bodies("/slack")
    assert title in slack["text"]
    assert tick() == []  # still true: no repeat
    assert tick() == []
    make_false(store)
    [resolved] = tick()
    assert (resolved["kind"], resolved["key"]) == ("resolved", key)
    assert tick() == []


def test_daily_summary_is_sent_once(tmp_path: Path, hooks: Receiver) -> None:
    path = tmp_path / "ledger.duckdb"
    busy_demo_ledger(path)
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        alert_sensor(
            dg.build_sensor_context(
                instance=instance, resources=resources(path, daily_summary_hour_utc=0)
            )
        )
    [summary] = hooks.bodies("/hook")
    assert summary["kind"] == "summary" and summary["severity"] == "info"
    assert "scalp-1m 12" in summary["text"] and "data too old (6)" in summary["text"]
    assert "realized P&L, last day: +3.00 USDT; total (USDT) +3.00 USDT" in summary["text"]
    assert "unrealized P&L: +2.00 USDT; total (USDT) +2.00 USDT" in summary["text"]
    assert hooks.bodies("/slack") == []  # INFO is routed to the JSON webhook only here


@dg.op
def _explode() -> None:
    raise RuntimeError("exchange exploded")


@dg.job
def exploding_job() -> None:
    """Fails on purpose."""
    _explode()


def test_run_failure_sensor_alerts_once_per_window(tmp_path: Path, hooks: Receiver) -> None:
    path = tmp_path / "ledger.duckdb"
    demo_ledger(path, candles=False)
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        run = exploding_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not run.success
        failure = (
            instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            .records[0]
            .event_log_entry.dagster_event
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_instance=instance,
            dagster_run=run.dagster_run,
            dagster_event=failure,
            resources=resources(path),
        ).for_run_failure()
        run_failure_alert_sensor(context)
    [alert] = hooks.bodies("/hook")
    assert alert["severity"] == "critical" and alert["key"] == "run_failed:exploding_job"
    held = LedgerStore(path).get_control("run_failure_alerts")
    assert held is not None and held["exploding_job"]["held_back"] == 1
