"""The position monitor on a real ledger: marks, stop loss / take profit CLOSE rows, paper fills."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import timeframes
from botbox_dagster.services.position_monitor import monitor_positions
from botbox_dagster_tests.support.trading import (
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
    """The first bar after the one the positions were filled in; returns when it closes."""
    start = timeframes.floor(datetime.now(UTC), "1m") + timedelta(minutes=1)
    bars = flat_bars(start, [close], lows=[low], highs=[high])
    store.upsert_candles("paper", "BTC/USDT", "1m", bars, source="test")
    return start + timedelta(minutes=1)


def close_rows(store: LedgerStore) -> list[dict]:
    return [r for r in queue(store).values() if r["direction"] == "CLOSE"]


def test_a_bar_touching_the_stop_queues_a_priority_close_filled_at_the_trigger(
    store: LedgerStore,
) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    entry = enqueue(store, "b2", size=0.1, created_at=datetime.now(UTC) - timedelta(minutes=1))
    closed = new_bar(store, low=94.0, high=101.0, close=96.0)
    report = monitor_positions(store, "paper", closed)
    assert report.closes_queued == [
        f"b1 BTC/USDT: stop loss at 95 (bar {closed - timedelta(minutes=1):%Y-%m-%d %H:%M})"
    ]
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
    closed = new_bar(store, low=80.0, high=120.0, close=100.0)
    monitor_positions(store, "paper", closed)
    assert {(r["bot_id"], r["reason"], r["entry_price"]) for r in close_rows(store)} == {
        ("b1", "stop loss", 95.0),
        ("b2", "stop loss", 105.0),
    }


def test_take_profit_of_a_short(store: LedgerStore) -> None:
    open_position(store, "b2", "SHORT", sl=105.0, tp=90.0)
    closed = new_bar(store, low=89.0, high=100.0, close=92.0)
    monitor_positions(store, "paper", closed)
    [close] = close_rows(store)
    assert (close["reason"], close["entry_price"]) == ("take profit", 90.0)
    make_executor(store, run_id="exec").run()
    [position] = table(store, "positions")
    assert position["exit_price"] == pytest.approx(90.0 * 1.0005)  # a buy pays the slippage
    assert position["realized_pnl"] > 0


def test_unrealized_pnl_is_marked_and_nothing_untouched_is_closed(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    open_position(store, "b2", "SHORT", sl=105.0, tp=90.0)
    now = new_bar(store, low=96.0, high=104.0, close=97.0)
    report = monitor_positions(store, "paper", now)
    assert report.marked == 2 and report.closes_queued == []
    marks = {p["bot_id"]: p for p in table(store, "positions")}
    assert marks["b1"]["unrealized_pnl"] == pytest.approx((97.0 - 100.05) * 2)
    assert marks["b2"]["unrealized_pnl"] == pytest.approx((99.95 - 97.0) * 2)
    assert marks["b1"]["mark_price"] == 97.0 and marks["b1"]["marked_at"] == now


def test_the_same_bar_never_queues_a_second_close(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    closed = new_bar(store, low=94.0, high=101.0, close=96.0)
    monitor_positions(store, "paper", closed)
    again = monitor_positions(store, "paper", closed)
    assert again.closes_queued == [] and len(close_rows(store)) == 1


def test_bars_older_than_the_entry_are_ignored(store: LedgerStore) -> None:
    # make_store's bars end a minute before now; the position opens now.
    open_position(store, "b1", "LONG", sl=99.99, tp=100.01)
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert monitor_positions(store, "paper", later).closes_queued == []


def test_stops_are_enforced_while_the_fleet_is_paused(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    entry = enqueue(store, "b2", size=0.1)
    closed = new_bar(store, low=94.0, high=101.0, close=96.0)
    monitor_positions(store, "paper", closed)
    report = make_executor(store, run_id="paused").run(closes_only=True)
    assert report.filled == 1
    assert queue(store)[entry]["status"] == "PENDING"
    assert store.open_position("b1", "BTC/USDT") is None


# --------------------------------------------------------------------------- a 5m-base market
# ETH/BTC 5m bars replayed from the shared recordings (the file's first 39 bars, moved in time so
# that bar i opens at T0 + 5 i minutes). The market has no 1m bars: 5m is its base timeframe.
# Bars used below, from the file (open, high, low, close):
#   1: 0.09947 0.09972 0.09900 0.09969    5: 0.09900 0.09900 0.09610 0.09710
#   2: 0.09969 0.10073 0.09900 0.09999    7: 0.09780 0.09811 0.09773 0.09807
#   9: 0.09810 0.09828 0.09660 0.09680   10: 0.09659711 0.09683 0.09500 0.09607
FIVE = timedelta(minutes=5)


def replay_eth_btc(store: LedgerStore, shared_data: Path) -> datetime:
    frame = pd.read_csv(shared_data / "candles" / "ETH_BTC-5m.csv", nrows=39)
    t0 = timeframes.floor(datetime.now(UTC), "5m") - 40 * FIVE
    frame.index = pd.DatetimeIndex([t0 + i * FIVE for i in range(len(frame))])
    store.upsert_candles(
        "paper", "ETH/BTC", "5m", frame[["open", "high", "low", "close", "volume"]], source="test"
    )
    return t0


def hold(store: LedgerStore, opened_at: datetime, stop: float, target: float) -> int:
    """A long ETH/BTC position filled at ``opened_at`` (inside a bar)."""
    return store.run(
        lambda c: c.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "stop_loss, take_profit, status, open_key, fees, open_fees, opened_at) VALUES "
            "('b1', 'paper', 'ETH/BTC', 'LONG', 1.0, 0.0997, ?, ?, 'OPEN', 'b1|ETH/BTC', 0, 0, ?) "
            "RETURNING id",
            [stop, target, opened_at],
        ).fetchone()[0]
    )


def eth_closes(store: LedgerStore) -> list[tuple[str, float]]:
    return [(r["reason"], r["trigger_price"]) for r in close_rows(store)]


def test_a_catch_up_of_several_5m_bars_finds_the_stop_in_an_earlier_bar(
    store: LedgerStore, shared_data: Path
) -> None:
    t0 = replay_eth_btc(store, shared_data)
    hold(store, t0 + FIVE + timedelta(minutes=2), stop=0.0975, target=0.1010)  # inside bar 1
    # One monitor pass after an outage, at bar 7's close: bars 2..7 are scanned at once. Bar 5's
    # low 0.0961 is through the stop (it opened at 0.09900, above it): exit at the stop. The
    # newest bar alone (7: low 0.09773) would have missed it.
    report = monitor_positions(store, "paper", t0 + 8 * FIVE)
    assert report.bars_scanned == 4  # bars 2, 3, 4, 5: the scan stops at the hit
    assert eth_closes(store) == [("stop loss", 0.0975)]
    [position] = [p for p in table(store, "positions") if p["symbol"] == "ETH/BTC"]
    assert position["mark_price"] == pytest.approx(0.0921)  # newest 5m close stored (bar 38)


def test_a_5m_bar_that_opens_through_the_stop_exits_at_its_open(
    store: LedgerStore, shared_data: Path
) -> None:
    t0 = replay_eth_btc(store, shared_data)
    hold(store, t0 + 9 * FIVE + timedelta(minutes=4), stop=0.0966, target=0.1010)  # in bar 9
    monitor_positions(store, "paper", t0 + 11 * FIVE)
    # Bar 10 opened at 0.09659711, already below the 0.0966 stop: the gap is not free.
    assert eth_closes(store) == [("stop loss (gap at the open)", 0.09659711)]
    make_executor(store, run_id="exec").run()
    [position] = [p for p in table(store, "positions") if p["symbol"] == "ETH/BTC"]
    assert position["exit_price"] == pytest.approx(0.09659711 * (1 - 5 / 10_000))


def test_the_bar_a_position_was_filled_in_is_not_scanned_and_no_bar_twice(
    store: LedgerStore, shared_data: Path
) -> None:
    t0 = replay_eth_btc(store, shared_data)
    # Filled during bar 5, whose low (0.0961) came before the fill: it must not stop it out.
    hold(store, t0 + 5 * FIVE + timedelta(minutes=3), stop=0.0965, target=0.1010)
    first = monitor_positions(store, "paper", t0 + 9 * FIVE)  # bars 6, 7, 8: nothing
    assert (first.bars_scanned, first.closes_queued) == (3, [])
    again = monitor_positions(store, "paper", t0 + 9 * FIVE)
    assert again.bars_scanned == 0  # already scanned
    # Bar 9 (low 0.09660) stays above 0.0965; bar 10 opens above it (0.09659711) and trades
    # down to 0.095: exit at the stop, 0.0965.
    later = monitor_positions(store, "paper", t0 + 11 * FIVE)
    assert later.bars_scanned == 2
    assert eth_closes(store) == [("stop loss", 0.0965)]


def test_a_stop_whose_close_failed_is_queued_again_at_the_market(store: LedgerStore) -> None:
    open_position(store, "b1", "LONG", sl=95.0, tp=110.0)
    closed = new_bar(store, low=94.0, high=101.0, close=96.0)
    monitor_positions(store, "paper", closed)
    [first] = close_rows(store)
    # The CLOSE gave up (a venue down past its attempts): the position is still open.
    store.run(
        lambda c: c.execute(
            "UPDATE trade_queue SET status = 'FAILED', pending_key = NULL, "
            "reason = 'gave up after 5 attempts: 503' WHERE id = ?",
            [first["id"]],
        )
    )
    report = monitor_positions(store, "paper", closed)
    [retry] = [r for r in close_rows(store) if r["status"] == "PENDING"]
    assert retry["reason"].startswith(f"exit retried: CLOSE {first['client_order_id']} failed")
    assert retry["trigger_price"] is None and retry["client_order_id"] != first["client_order_id"]
    assert len(report.closes_queued) == 1
    assert monitor_positions(store, "paper", closed).closes_queued == []  # one at a time
    make_executor(store, run_id="exec").run()
    [position] = table(store, "positions")
    # Filled at the market's price now, the newest close 96, less slippage: 95.952.
    assert position["status"] == "CLOSED"
    assert position["exit_price"] == pytest.approx(96.0 * (1 - 5 / 10_000))
