"""The signal tables on a real DuckDB file: claims, snapshots, signals, queue rows, verdicts."""

import json
import multiprocessing
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.ledger.controls import PAUSE_ALL
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.domain.circuit_breaker import BreakerState, BreakerStatus
from botbox_dagster.domain.client_order_id import client_order_id
from botbox_dagster.domain.signals import PRIORITY_CLOSE, PRIORITY_OPEN
from botbox_dagster.services.signal_tick import (
    TickSettings,
    check_bot,
    evaluate_shard,
    plan_tick,
    wait_for_candles,
)
from botbox_dagster_tests.signal_helpers import (
    ALWAYS_LONG,
    TICK,
    bot,
    make_ledger,
    open_position,
)

NOW = TICK + timedelta(seconds=20)


def _fleet(tmp_path: Path, n: int = 4, **kw: object) -> LedgerStore:
    bots = [bot(f"b{i}", interval=[1, 5, 15, 60][i % 4]) for i in range(n)]
    bots.append(bot("paused", status="PAUSED"))
    return make_ledger(tmp_path / "ledger.duckdb", bots, **kw)  # type: ignore[arg-type]


def test_claims_each_due_bot_once_per_slot(tmp_path: Path) -> None:
    store = _fleet(tmp_path)
    first = store.claim_due_bots(TICK)
    assert sorted(c.bot.id for c in first) == ["b0", "b1", "b2", "b3"]  # not the paused one
    assert store.claim_due_bots(TICK + timedelta(seconds=30)) == []  # same slot: nothing
    later = store.claim_due_bots(TICK + timedelta(minutes=5))
    assert sorted(c.bot.id for c in later) == ["b0", "b1"]  # the 1m and 5m bots
    assert store.get_bot("b1").last_check_at == TICK + timedelta(minutes=5)  # type: ignore[union-attr]
    assert store.claim_due_bots(TICK) == []  # an older tick never re-claims


def test_claim_snapshots_the_config(tmp_path: Path) -> None:
    store = _fleet(tmp_path)
    claimed = {c.bot.id: c for c in store.claim_due_bots(TICK)}
    store.run(lambda c: c.execute("UPDATE bots SET capital = 1 WHERE id = 'b0'"))
    assert claimed["b0"].bot.capital == 1000.0
    assert claimed["b0"].spec.name == "always-long"


def test_threads_claiming_at_once_never_share_a_bot(tmp_path: Path) -> None:
    store = _fleet(tmp_path, n=40)
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def claim(slot: int) -> None:
        own = LedgerStore(store.path)
        barrier.wait()
        for minute in range(5):
            results[slot] += [
                c.bot.id for c in own.claim_due_bots(TICK + timedelta(minutes=minute))
            ]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = results[0] + results[1]
    assert len(both) == len(set((b, i) for i, b in enumerate(both)))
    # Per slot each bot appears once: 40 bots at minute 0, then the 1m bots each minute.
    assert len(both) == 40 + 4 * 10
    assert len(set(results[0]) & set(results[1]) - {f"b{i}" for i in range(0, 40, 4)}) == 0


def _claim_in_process(path: str, start_at: float, out: str) -> None:
    store = LedgerStore(path, migrate=False)
    time.sleep(max(0.0, start_at - time.time()))
    ids = [c.bot.id for c in store.claim_due_bots(TICK)]
    Path(out).write_text(json.dumps(ids))


def test_processes_claiming_at_once_never_share_a_bot(tmp_path: Path) -> None:
    store = _fleet(tmp_path, n=30)
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # both processes are imported and waiting by then
    outs = [tmp_path / f"claim{i}.json" for i in range(2)]
    procs = [
        ctx.Process(target=_claim_in_process, args=(str(store.path), start_at, str(o)))
        for o in outs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    claimed = [json.loads(o.read_text()) for o in outs]
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(f"b{i}" for i in range(30))


def _tick(store: LedgerStore, now=NOW, tick=TICK):  # type: ignore[no-untyped-def]
    plans = plan_tick(store, tick, TickSettings(shards=2))
    return [evaluate_shard(store, p, now=now) for p in plans]


def test_accepted_signals_are_logged_and_queued(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    [report] = _tick(store)
    assert (report.bots, report.signals, report.accepted, report.queue_rows) == (1, 1, 1, 1)
    [sig] = store.recent_signals()
    assert sig["status"] == "ACCEPTED" and sig["direction"] == "LONG"
    assert sig["candle_time"] == TICK - timedelta(minutes=1)
    assert set(sig["contributions"]["rsi"]) == {"value", "score", "weight", "contribution"}
    assert sig["score"] == pytest.approx(1.0)
    [row] = store.queue_rows()
    assert row["status"] == "PENDING" and row["signal_id"] == sig["id"]
    assert row["pending_key"] == "b1|BTC/USDT|LONG" and row["priority"] == PRIORITY_OPEN
    assert row["expires_at"] - row["created_at"] == timedelta(minutes=5)
    assert row["client_order_id"] == client_order_id(
        "b1", "BTC/USDT", "LONG", TICK - timedelta(minutes=1)
    )
    assert row["position_size"] * row["entry_price"] == pytest.approx(100.0)  # 10% of 1000


def test_a_repeated_evaluation_never_logs_a_second_signal(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    _tick(store)
    report = check_bot(store, "b1", now=NOW, dry_run=False)  # same candle, same hash
    assert report.queue_rows == 0
    assert len(store.recent_signals()) == 1 and len(store.queue_rows()) == 1


def test_one_pending_row_per_key_is_enforced(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    _tick(store)
    # Next minute, same direction, row still PENDING: validation rejects it as a duplicate...
    [report] = _tick(store, NOW + timedelta(minutes=1), TICK + timedelta(minutes=1))
    assert report.verdicts[0].reason == "duplicate: LONG order already pending"
    # ...and the database refuses a second PENDING row with the same key anyway.
    inserted = store.run(
        lambda c: c.execute(
            "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, position_size, status, "
            "client_order_id, pending_key, priority, created_at, updated_at, expires_at) "
            "VALUES ('b1', 'paper', 'BTC/USDT', 'LONG', 1, 'PENDING', 'x', 'b1|BTC/USDT|LONG', "
            "100, now(), now(), now()) ON CONFLICT DO NOTHING RETURNING id"
        ).fetchall()
    )
    assert inserted == []


def test_exit_rule_queues_a_close_first_in_line(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1"), bot("b2")])
    open_position(store, "b1", "SHORT", amount=2.5)  # the score says LONG: exit the short
    _tick(store)
    rows = store.queue_rows()
    assert [(r["bot_id"], r["direction"]) for r in rows] == [("b1", "CLOSE"), ("b2", "LONG")]
    assert rows[0]["priority"] == PRIORITY_CLOSE and rows[0]["position_size"] == 2.5
    assert rows[0]["stop_loss"] is None and rows[1]["stop_loss"] < rows[1]["entry_price"]


def test_pause_all_blocks_entries_but_not_closes(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1"), bot("b2")])
    store.set_control(PAUSE_ALL, {"paused": True, "reason": "test", "until": None}, by="test")
    open_position(store, "b1", "SHORT")
    [report] = _tick(store)
    verdicts = {
        v.signal.bot_id: (v.signal.direction, v.status.value, v.reason) for v in report.verdicts
    }
    assert verdicts == {
        "b1": ("CLOSE", "ACCEPTED", None),
        "b2": ("LONG", "REJECTED", "fleet paused"),
    }
    assert report.rejected_by_reason == {"fleet paused": 1}


def test_open_circuit_rejects_entries_queues_exits_and_closed_circuit_passes(
    tmp_path: Path,
) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1"), bot("b2")])
    open_position(store, "b2", "SHORT", amount=2.5)  # the score says LONG: exit the short

    def put(opened_at: float) -> None:
        row = json.dumps(BreakerState(BreakerStatus.OPEN, 5, opened_at=opened_at).to_row())
        store.run(
            lambda c: c.execute(
                "INSERT INTO circuit_breakers (exchange, state, updated_at) VALUES ('paper', ?, ?) "
                "ON CONFLICT (exchange) DO UPDATE SET state = excluded.state",
                [row, NOW],
            )
        )

    put(NOW.timestamp() - 5)
    [report] = _tick(store)
    verdicts = {v.signal.bot_id: (v.signal.direction, v.reason) for v in report.verdicts}
    assert verdicts == {"b1": ("LONG", "circuit open"), "b2": ("CLOSE", None)}
    # The exit waits in the queue (CLOSE rows never expire) for the breaker's probe.
    assert [(r["bot_id"], r["direction"], r["status"]) for r in store.queue_rows()] == [
        ("b2", "CLOSE", "PENDING")
    ]
    put(NOW.timestamp() - 61)
    report = check_bot(store, "b1", now=NOW, dry_run=True)
    assert report.verdict is not None
    assert report.verdict.reason is None  # hold over: signals flow again


# RSI is always above 2, so this strategy always scores -1: a SHORT on every check.
ALWAYS_SHORT = {
    **ALWAYS_LONG,
    "factors": {"rsi": {"weight": 1.0, "params": {"length": 14, "oversold": 1, "overbought": 2}}},
    "entry": {"long_above": None, "short_below": -0.5},
}


def test_shorts_on_a_spot_paper_account_are_rejected_and_on_margin_queued(
    tmp_path: Path,
) -> None:
    bots = [bot("s1", strategy="always-short"), bot("l1")]
    store = make_ledger(tmp_path / "l.duckdb", bots, strategies={"always-short": ALWAYS_SHORT})
    [report] = _tick(store)
    verdicts = {
        v.signal.bot_id: (v.signal.direction, v.status.value, v.reason) for v in report.verdicts
    }
    assert verdicts == {
        "s1": (
            "SHORT",
            "REJECTED",
            "short selling needs a margin or futures account; paper is spot",
        ),
        "l1": ("LONG", "ACCEPTED", None),
    }
    assert [r["bot_id"] for r in store.queue_rows()] == ["l1"]
    [logged] = [s for s in store.recent_signals() if s["bot_id"] == "s1"]
    assert logged["status"] == "REJECTED"
    assert logged["reason"] == "short selling needs a margin or futures account; paper is spot"
    # The same account declared margin: the short goes through validation and risk.
    store.run(
        lambda c: c.execute(
            "UPDATE exchange_accounts SET config = json_merge_patch(config, ?)",
            [json.dumps({"market_type": "margin"})],
        )
    )
    report = check_bot(store, "s1", now=NOW, dry_run=True)
    assert report.verdict is not None
    assert (report.verdict.signal.direction, report.verdict.reason) == ("SHORT", None)


def test_bot_paused_during_evaluation_is_not_queued(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    [plan] = plan_tick(store, TICK)
    store.set_bot_status("b1", BotStatus.PAUSED, "operator")
    report = evaluate_shard(store, plan, now=NOW)
    assert report.verdicts[0].reason == "bot PAUSED since evaluation"
    assert store.queue_rows() == [] and store.recent_signals()[0]["status"] == "REJECTED"


def test_dry_run_judges_but_writes_nothing(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    report = check_bot(store, "b1", now=NOW, dry_run=True)
    assert report.verdict is not None and report.verdict.accepted
    assert store.recent_signals() == [] and store.queue_rows() == []
    assert store.get_bot("b1").last_check_at is None  # type: ignore[union-attr]


def test_stale_data_is_rejected(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    report = check_bot(store, "b1", now=TICK + timedelta(minutes=5), dry_run=True)
    assert report.verdict is not None and (report.verdict.reason or "").startswith("data too old")


if sys.platform == "win32":  # pragma: no cover
    pytest.skip("spawned DuckDB processes are only exercised on POSIX", allow_module_level=True)


def test_wait_for_candles_returns_once_the_closed_bar_is_stored(tmp_path: Path) -> None:
    store = make_ledger(tmp_path / "l.duckdb", [bot("b1")])
    slept: list[float] = []
    ready = wait_for_candles(store, TICK, timeout=5.0, sleep=slept.append)
    assert ready.missing == () and slept == []  # stored already: returns without sleeping
    late = wait_for_candles(
        store, TICK + timedelta(minutes=1), timeout=0.3, poll=0.1, sleep=slept.append
    )
    assert late.missing == ("paper BTC/USDT 1m",) and slept


def test_funding_bots_use_a_replayed_funding_file_or_reject(tmp_path: Path) -> None:
    funding = {"funding-1h": {"extends": "funding_arbitrage", "regimes": []}}
    bots = [bot("f1", strategy="funding-1h", interval=60)]
    store = make_ledger(tmp_path / "l.duckdb", bots, strategies=funding)
    report = check_bot(store, "f1", now=NOW, dry_run=True)
    assert report.verdict is not None and report.verdict.reason == "no funding data"
    assert report.verdict.signal.direction == "NONE"
    # A recording next to the replay data: 0.05% per 8h, far above neutral, scores SHORT.
    replay = tmp_path / "replay"
    replay.mkdir()
    (replay / "BTC_USDT-8h-funding_rate.csv").write_text(
        "timestamp,funding_rate\n" + "".join(f"{i * 28_800_000},0.0005\n" for i in range(30))
    )
    store.run(
        lambda c: c.execute(
            "UPDATE exchange_accounts SET config = json_merge_patch(config, ?)",
            [json.dumps({"replay_dir": str(replay)})],
        )
    )
    report = check_bot(store, "f1", now=NOW, dry_run=True)
    assert report.outcome.evaluation is not None
    assert report.outcome.evaluation.contributions["funding_rate"].score == -1.0
