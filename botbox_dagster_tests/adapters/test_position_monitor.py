"""The position monitor on a real ledger: marks, stop loss / take profit CLOSE rows, paper fills."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.position_monitor import monitor_positions
from botbox_dagster.domain import timeframes
from botbox_dagster_tests.adapters.conftest import (
    enqueue,
    flat_bars,
    make_executor,
    make_store,
    paper_bot,
    queue,
    table,
)


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    return make_store(tmp_path, [paper_bot("b1"), paper_bot("b2"), paper_bot("b3")])


def open_position(store: LedgerStore, bot_id: str, direction: str, sl: float, tp: float) -> None:
    enqueue(store, bot_id, direction, size=2.0, entry=100.0, stop_loss=sl, take_profit=tp)
    assert make_executor(store, run_id=f"open-{bot_id}").run().filled == 1


def new_bar(store: LedgerStore, low: float, high: float, close: float) -> datetime:
    """A bar in the minute the positions were opened (so it is newer than their entry)."""
    start = timeframes.floor(datetime.now(UTC), "1m")
    bars = flat_bars(start, [close], lows=[low], highs=[high])
    store.upsert_candles("paper", "BTC/USDT", "1m", bars, source="test")
    return start


def close_rows(store: LedgerStore) -> list[dict]:
    return [r for r in queue(store).values() if r["direction"] == "CLOSE"]


def test_a_bar_touching_the_stop_queues_a_priority_close_filled_at_the_trigger(
    store: LedgerStore,
) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    entry = enqueue(store, "b2", size=0.1, created_at=datetime.now(UTC) - timedelta(minutes=1))
    new_bar(store, low=94.0, high=101.0, close=96.0)
    report = monitor_positions(store, "paper", datetime.now(UTC))
    assert report.closes_queued == ["b1 BTC/USDT: stop loss at 95"]
    [close] = close_rows(store)
    assert (close["priority"], close["entry_price"], close["reason"]) == (0, 95.0, "stop loss")
    assert close["position_size"] == 2.0

    make_executor(store, run_id="exec").run()
    orders = table(store, "orders")
    assert [o["queue_id"] for o in orders[1:]] == [close["id"], entry]  # the close went first
    position = next(p for p in table(store, "positions") if p["bot_id"] == "b1")
    exit_price = 95.0 * (1 - 5 / 10_000)  # the trigger price, less paper slippage
    assert position["status"] == "CLOSED" and position["exit_reason"] == "stop loss"
    assert position["exit_price"] == pytest.approx(exit_price)
    fees = 2 * 100.05 * 0.001 + 2 * exit_price * 0.001
    assert position["realized_pnl"] == pytest.approx((exit_price - 100.05) * 2 - fees)


def test_when_a_bar_touches_both_the_stop_wins(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    open_position(store, "b2", "SHORT", sl=105.0, tp=90.0)
    new_bar(store, low=80.0, high=120.0, close=100.0)
    monitor_positions(store, "paper", datetime.now(UTC))
    assert {(r["bot_id"], r["reason"], r["entry_price"]) for r in close_rows(store)} == {
        ("b1", "stop loss", 95.0),
        ("b2", "stop loss", 105.0),
    }


def test_take_profit_of_a_short(store: LedgerStore) -> None:
    open_position(store, "b2", "SHORT", sl=105.0, tp=90.0)
    new_bar(store, low=89.0, high=100.0, close=92.0)
    monitor_positions(store, "paper", datetime.now(UTC))
    [close] = close_rows(store)
    assert (close["reason"], close["entry_price"]) == ("take profit", 90.0)
    make_executor(store, run_id="exec").run()
    [position] = table(store, "positions")
    assert position["exit_price"] == pytest.approx(90.0 * 1.0005)  # a buy pays the slippage
    assert position["realized_pnl"] > 0


def test_unrealized_pnl_is_marked_and_nothing_untouched_is_closed(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    open_position(store, "b2", "SHORT", sl=105.0, tp=90.0)
    new_bar(store, low=96.0, high=104.0, close=97.0)
    now = datetime.now(UTC)
    report = monitor_positions(store, "paper", now)
    assert report.marked == 2 and report.closes_queued == []
    marks = {p["bot_id"]: p for p in table(store, "positions")}
    assert marks["b1"]["unrealized_pnl"] == pytest.approx((97.0 - 100.05) * 2)
    assert marks["b2"]["unrealized_pnl"] == pytest.approx((99.95 - 97.0) * 2)
    assert marks["b1"]["mark_price"] == 97.0 and marks["b1"]["marked_at"] == now


def test_the_same_bar_never_queues_a_second_close(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    new_bar(store, low=94.0, high=101.0, close=96.0)
    monitor_positions(store, "paper", datetime.now(UTC))
    again = monitor_positions(store, "paper", datetime.now(UTC))
    assert again.closes_queued == [] and len(close_rows(store)) == 1


def test_bars_older_than_the_entry_are_ignored(store: LedgerStore) -> None:
    # make_store's bars end a minute before now; the position opens now.
    open_position(store, "b1", "LONG", sl=99.99, tp=100.01)
    assert monitor_positions(store, "paper", datetime.now(UTC)).closes_queued == []


def test_stops_are_enforced_while_the_fleet_is_paused(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    entry = enqueue(store, "b2", size=0.1)
    new_bar(store, low=94.0, high=101.0, close=96.0)
    monitor_positions(store, "paper", datetime.now(UTC))
    report = make_executor(store, run_id="paused").run(closes_only=True)
    assert report.filled == 1
    assert queue(store)[entry]["status"] == "PENDING"
    assert store.open_position("b1", "BTC/USDT") is None
