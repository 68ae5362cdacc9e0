"""``trading_minute_job``: candles, positions, signals and trade queue in one run, in order."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.resources import LedgerResource, MarketDataResource
from botbox_dagster.defs.runs import SINGLETON_TAG
from botbox_dagster.defs.signals.tick import TICK_TAG
from botbox_dagster.defs.trading.minute import trading_minute_job, trading_minute_schedule
from botbox_dagster.domain import timeframes
from botbox_dagster_tests.defs.test_market_data import load_replay_fleet, run_job, today_key


@pytest.fixture
def replay_ledger(tmp_path: Path, shared_data: Path) -> Path:
    """Six scalping bots on two replayed markets (a 1m and a 5m-only recording)."""
    folder = tmp_path / "replay"
    folder.mkdir()
    for name in ("UNITTEST_BTC-1m.csv", "ETH_BTC-5m.csv"):
        shutil.copy(shared_data / "candles" / name, folder / name)
    return load_replay_fleet(tmp_path, folder, ["UNITTEST/BTC", "ETH/BTC"])


def hold_with_a_stop_above_the_market(store: LedgerStore) -> None:
    """bot-001 holds a LONG on ETH/BTC (5m) since an hour ago, its stop far above any price:
    the first bar after its fill opens through the stop."""
    store.run(
        lambda c: c.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "stop_loss, status, open_key, fees, open_fees, opened_at) VALUES ('bot-001', 'acct', "
            "'ETH/BTC', 'LONG', 1.0, 1000.0, 999.0, 'OPEN', 'bot-001|ETH/BTC', 0, 0, ?)",
            [datetime.now(UTC) - timedelta(hours=1)],
        )
    )


def resources(ledger: Path) -> dict[str, Any]:
    return {
        "ledger": LedgerResource(path=str(ledger)),
        "market_data": MarketDataResource(request_timeout_ms=5000),
    }


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            m = event.event_specific_data.materialization
            out.setdefault(m.asset_key.to_user_string(), []).append(
                {"partition": m.partition, **{k: v.value for k, v in m.metadata.items()}}
            )
    return out


def test_one_run_refreshes_then_monitors_then_ticks(replay_ledger: Path) -> None:
    store = LedgerStore(replay_ledger)
    hold_with_a_stop_above_the_market(store)
    result = trading_minute_job.execute_in_process(
        resources=resources(replay_ledger), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    # The steps follow each other: each starts after the one before succeeded.
    order = [
        e.step_key
        for e in result.all_events
        if e.event_type_value in ("STEP_START", "STEP_SUCCESS")
    ]
    assert order[:6] == [
        "refresh_candles",
        "refresh_candles",
        "monitor_open_positions",
        "monitor_open_positions",
        "plan_signal_tick",
        "plan_signal_tick",
    ]
    tables = materialized(result)
    [candles] = tables["candles"]
    assert candles["partition"] == today_key() and candles["markets_refreshed"] == 2
    [positions] = tables["positions"]
    assert positions["stop_or_target_closes_queued"] == 1
    [signals], [queue] = tables["signals"], tables["trade_queue"]
    # Every bot was claimed (never checked before); what the tick logged is what the table holds.
    claimed = store.run(
        lambda c: c.execute("SELECT count(*) FROM bots WHERE last_check_at IS NOT NULL").fetchone()
    )
    assert claimed == (6,)
    logged = store.run(lambda c: c.execute("SELECT count(*) FROM signals").fetchone()[0])
    assert signals["signals"] == logged
    [close] = [r for r in store.queue_rows() if r["signal_id"] is None]
    assert close["bot_id"] == "bot-001" and close["reason"] == "stop loss (gap at the open)"
    assert queue["rows_written"] == len(store.queue_rows()) - 1


def test_a_candles_backfill_stores_bars_and_never_marks_or_trades(
    replay_ledger: Path,
) -> None:
    store = LedgerStore(replay_ledger)
    hold_with_a_stop_above_the_market(store)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_job(replay_ledger, instance, partition_key=today_key()).success
    assert store.run(lambda c: c.execute("SELECT count(*) FROM candles").fetchone()[0]) > 0
    assert store.queue_rows() == []
    [position] = store.run(
        lambda c: c.execute("SELECT status, mark_price FROM positions").fetchall()
    )
    assert position == ("OPEN", None)


SLOT_COLUMNS = ("slot", "status", "run_id", "started", "finished", "evaluated", "reason")


def _slots(store: LedgerStore) -> list[dict[str, Any]]:
    return store.run(
        lambda c: [
            dict(zip(SLOT_COLUMNS, r, strict=True))
            for r in c.execute(
                "SELECT slot, status, run_id, started_at, finished_at, evaluated_slot, reason "
                "FROM minute_slots ORDER BY slot"
            ).fetchall()
        ]
    )


def test_the_schedule_starts_one_run_a_minute(tmp_path: Path) -> None:
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ledger = LedgerResource(path=str(tmp_path / "ledger.duckdb"))
    with dg.instance_for_test() as instance:
        request = trading_minute_schedule(
            dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick, resources={"ledger": ledger}
            )
        )
    assert isinstance(request, dg.RunRequest)
    ops = request.run_config["ops"]
    assert ops["refresh_candles"]["config"]["tick_time"] == tick.isoformat()
    assert ops["plan_signal_tick"]["config"] == {
        "tick_time": tick.isoformat(),
        "max_wait_seconds": 0.0,
        "retarget_stale_slot": True,
    }
    assert request.tags == {SINGLETON_TAG: "trading_minute", TICK_TAG: tick.isoformat()}
    assert _slots(ledger.store()) == []  # a launch writes nothing: the run records itself


# QUEUED is in the same filter; a test instance cannot hold a queued run without a code location.
@pytest.mark.parametrize("status", [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.NOT_STARTED])
def test_the_schedule_skips_a_minute_while_the_previous_run_is_still_going(
    tmp_path: Path, status: dg.DagsterRunStatus
) -> None:
    """An 11:59 run still going (or not started yet) at 12:00: 12:00 launches nothing, says which
    run and slot hold it, and the skip is in the ledger and the fleet metrics."""
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ledger = LedgerResource(path=str(tmp_path / "ledger.duckdb"))
    with dg.instance_for_test() as instance:
        previous = instance.create_run_for_job(
            trading_minute_job,
            tags={
                SINGLETON_TAG: "trading_minute",
                TICK_TAG: (tick - timedelta(minutes=1)).isoformat(),
            },
            status=status,
        )
        skipped = trading_minute_schedule(
            dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick, resources={"ledger": ledger}
            )
        )
    assert isinstance(skipped, dg.SkipReason)
    message = skipped.skip_message or ""
    assert message.startswith(f"slot 12:00 skipped: minute run {previous.run_id[:8]} (slot 11:59")
    assert status.value in message and "still going" in message
    [row] = _slots(ledger.store())
    assert (row["slot"], row["status"], row["run_id"]) == (tick, "SKIPPED", previous.run_id)
    assert row["reason"] == message
    loop = ledger.store().fleet_metrics(now=tick + timedelta(seconds=30)).minute_loop
    assert (loop.skipped, loop.skipped_hour, loop.skipped_day) == (1, 1, 1)
    assert loop.last_skip_slot == tick and loop.last_skip_reason == message


def test_a_skip_stands_when_the_ledger_cannot_record_it(tmp_path: Path) -> None:
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    not_a_ledger = tmp_path / "dir"
    not_a_ledger.mkdir()  # a directory: DuckDB cannot open it
    with dg.instance_for_test() as instance:
        instance.create_run_for_job(
            trading_minute_job,
            tags={SINGLETON_TAG: "trading_minute"},
            status=dg.DagsterRunStatus.STARTED,
        )
        skipped = trading_minute_schedule(
            dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=tick,
                resources={"ledger": LedgerResource(path=str(not_a_ledger), max_wait_seconds=0)},
            )
        )
    assert isinstance(skipped, dg.SkipReason)
    message = skipped.skip_message or ""
    assert "(no slot tag, STARTED)" in message and "not recorded in the ledger" in message


def test_a_run_records_its_slot_and_tick_lag(replay_ledger: Path) -> None:
    store = LedgerStore(replay_ledger)
    result = trading_minute_job.execute_in_process(
        resources=resources(replay_ledger), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    [row] = _slots(store)
    assert row["status"] == "FINISHED" and row["run_id"] == result.run_id
    assert row["evaluated"] == row["slot"] and row["reason"] is None
    assert row["slot"] <= row["started"] <= row["finished"]
    summary = [
        e.event_specific_data.metadata
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT" and e.step_key == "summarize_signal_tick"
    ]
    lag = summary[0]["tick_lag_s"].value
    assert lag == pytest.approx((row["finished"] - row["slot"]).total_seconds(), abs=0.01)
    loop = store.fleet_metrics(now=row["finished"]).minute_loop
    assert loop.last_slot == row["slot"] and loop.last_tick_lag == pytest.approx(lag, abs=0.01)
    assert loop.skipped == 0 and loop.running_slot is None


def test_a_late_run_scans_stops_and_evaluates_the_minute_it_is_in(replay_ledger: Path) -> None:
    """A run whose slot ended minutes ago (a slow machine, a long queue): stops are still
    scanned; its bots are claimed and evaluated in the current minute, not the stale one."""
    store = LedgerStore(replay_ledger)
    hold_with_a_stop_above_the_market(store)
    stale = timeframes.floor(datetime.now(UTC), "1m") - timedelta(minutes=3)
    result = trading_minute_job.execute_in_process(
        run_config={
            "ops": {
                "refresh_candles": {"config": {"tick_time": stale.isoformat()}},
                "plan_signal_tick": {
                    "config": {
                        "tick_time": stale.isoformat(),
                        "max_wait_seconds": 0.0,
                        "retarget_stale_slot": True,
                    }
                },
            }
        },
        resources=resources(replay_ledger),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [positions] = materialized(result)["positions"]
    assert positions["stop_or_target_closes_queued"] == 1  # stops are never skipped
    [row] = _slots(store)
    assert row["slot"] == stale and row["status"] == "FINISHED"
    assert row["evaluated"] > stale and row["evaluated"] == timeframes.floor(row["started"], "1m")
    assert row["reason"].startswith(f"slot {stale:%H:%M} is stale")
    claimed = store.run(lambda c: c.execute("SELECT DISTINCT last_check_at FROM bots").fetchall())
    assert claimed == [(row["evaluated"],)]  # scalping bots: claimed in the current minute
    loop = store.fleet_metrics(now=row["finished"]).minute_loop
    assert loop.stale == 1 and loop.tick_lag_p95 is not None and loop.tick_lag_p95 > 180
