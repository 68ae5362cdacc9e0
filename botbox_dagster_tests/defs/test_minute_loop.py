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
from botbox_dagster.defs.trading.minute import trading_minute_job, trading_minute_schedule
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


def test_the_schedule_starts_one_run_a_minute_and_skips_while_one_runs() -> None:
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        request = trading_minute_schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        )
        assert isinstance(request, dg.RunRequest)
        ops = request.run_config["ops"]
        assert ops["refresh_candles"]["config"]["tick_time"] == tick.isoformat()
        assert ops["plan_signal_tick"]["config"] == {
            "tick_time": tick.isoformat(),
            "max_wait_seconds": 0.0,
        }
        instance.create_run_for_job(
            trading_minute_job,
            tags={SINGLETON_TAG: "trading_minute"},
            status=dg.DagsterRunStatus.STARTED,
        )
        skipped = trading_minute_schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        )
        assert isinstance(skipped, dg.SkipReason)
        assert "still running: this minute is skipped" in (skipped.skip_message or "")
