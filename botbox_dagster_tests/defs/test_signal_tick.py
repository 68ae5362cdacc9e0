"""The signal tick and check-now jobs, executed for real on a DuckDB ledger in tmp_path."""

import json
import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.signals.check import check_bot_job
from botbox_dagster.defs.signals.tick import signal_tick_job
from botbox_dagster.domain import timeframes
from botbox_dagster_tests.signal_helpers import bot, make_ledger, open_position


def _ledger(tmp_path: Path, n: int = 6) -> tuple[LedgerStore, datetime]:
    tick = timeframes.floor(datetime.now(UTC), "1m")
    bots = [bot(f"b{i}", symbol=["BTC/USDT", "ETH/USDT", "SOL/USDT"][i % 3]) for i in range(n)]
    store = make_ledger(
        tmp_path / "ledger.duckdb",
        bots,
        symbols=("BTC/USDT", "ETH/USDT", "SOL/USDT"),
        end=tick,
    )
    return store, tick


def _output_metadata(result: dg.ExecuteInProcessResult, step: str) -> dict[str, Any]:
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT" and event.step_key == step:
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError(f"no output from {step}")


def _run_tick(store: LedgerStore, tick: datetime) -> dg.ExecuteInProcessResult:
    return signal_tick_job.execute_in_process(
        run_config={
            "ops": {
                "plan_signal_tick": {
                    "config": {"tick_time": tick.isoformat(), "max_wait_seconds": 0, "shards": 2}
                }
            }
        },
        resources={"ledger": LedgerResource(path=str(store.path))},
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_tick_queues_signals_and_reports_them(tmp_path: Path) -> None:
    store, tick = _ledger(tmp_path)
    open_position(store, "b0", "SHORT", opened_at=tick)
    result = _run_tick(store, tick)
    assert result.success
    steps = {e.step_key for e in result.all_events if e.step_key}
    assert steps == {
        "plan_signal_tick",
        "evaluate_signal_shard[shard_0]",
        "evaluate_signal_shard[shard_1]",
        "summarize_signal_tick",
    }
    meta = _output_metadata(result, "summarize_signal_tick")
    assert (meta["bots_due"], meta["evaluated"], meta["signals"]) == (6, 6, 6)
    # b3 shares b0's market: b0's SHORT is the opposite bet, so it does not count as correlated.
    assert meta["accepted"] == 6 and meta["queue_rows_written"] == 6
    assert meta["rejected_by_reason"] == {}
    assert "| b0 |" in meta["outcomes"] and "CLOSE" in meta["outcomes"]
    assert meta["tick_duration_s"] > 0 and meta["cpu_ms_per_bot"] > 0
    rows = store.queue_rows()
    assert rows[0]["direction"] == "CLOSE" and {r["status"] for r in rows} == {"PENDING"}
    # The same minute again: nobody is due, nothing new is written.
    again = _output_metadata(_run_tick(store, tick), "summarize_signal_tick")
    assert again["bots_due"] == 0 and len(store.queue_rows()) == 6


def _tick_in_process(path: str, tick: str, start_at: float, out: str) -> None:
    store = LedgerStore(path, migrate=False)
    time.sleep(max(0.0, start_at - time.time()))
    result = _run_tick(store, datetime.fromisoformat(tick))
    Path(out).write_text(json.dumps(_output_metadata(result, "summarize_signal_tick")["bots_due"]))


def test_overlapping_ticks_never_evaluate_a_bot_twice(tmp_path: Path) -> None:
    """Two tick runs in two processes, started together (as Dagster runs are)."""
    store, tick = _ledger(tmp_path, n=12)
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 6.0  # both have imported dagster and are waiting by then
    outs = [tmp_path / f"tick{i}.json" for i in range(2)]
    procs = [
        ctx.Process(
            target=_tick_in_process, args=(str(store.path), tick.isoformat(), start_at, str(o))
        )
        for o in outs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    due = [json.loads(o.read_text()) for o in outs]
    assert sorted(due) == [0, 12]  # one run claimed all, the other none
    assert len(store.recent_signals()) == 12
    # 4 LONG bots per market, at most 2 correlated positions each (same market = correlation 1).
    assert len(store.queue_rows()) == 6


def test_check_bot_job_dry_run_shows_the_breakdown_and_writes_nothing(tmp_path: Path) -> None:
    store, _tick = _ledger(tmp_path)
    result = check_bot_job.execute_in_process(
        run_config={"ops": {"check_bot_now": {"config": {"bot_id": "b1"}}}},
        resources={"ledger": LedgerResource(path=str(store.path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = _output_metadata(result, "check_bot_now")
    assert meta["dry_run"] is True and meta["direction"] == "LONG"
    assert meta["verdict"] == "ACCEPTED" and meta["queue_rows_written"] == 0
    assert "| rsi |" in meta["factors"] and "**total**" in meta["factors"]
    assert store.recent_signals() == [] and store.queue_rows() == []
    assert store.get_bot("b1").last_check_at is None  # type: ignore[union-attr]


def test_check_bot_job_queues_when_not_dry(tmp_path: Path) -> None:
    store, _tick = _ledger(tmp_path)
    result = check_bot_job.execute_in_process(
        run_config={"ops": {"check_bot_now": {"config": {"bot_id": "b2", "dry_run": False}}}},
        resources={"ledger": LedgerResource(path=str(store.path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert _output_metadata(result, "check_bot_now")["queue_rows_written"] == 1
    assert [r["bot_id"] for r in store.queue_rows()] == ["b2"]
    assert store.get_bot("b2").last_check_at is None  # type: ignore[union-attr]


def test_definitions_include_the_signal_jobs(botbox_repository) -> None:  # type: ignore[no-untyped-def]
    repo = botbox_repository
    assert repo.get_job("signal_tick_job").name == "signal_tick_job"
    assert repo.get_job("check_bot_job").name == "check_bot_job"
    # The minute's tick is a step of trading_minute_job; signal_tick_job is launched by hand.
    assert repo.get_schedule_def("trading_minute_schedule").job_name == "trading_minute_job"
