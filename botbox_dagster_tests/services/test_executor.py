"""The executor with the paper venue on a real ledger: order of work, expiry, positions, P&L."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botbox_dagster.adapters.exchanges.paper import PaperExchange, PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.domain.execution import Side
from botbox_dagster.fake_exchange import FakeExchange
from botbox_dagster.services.executor import ExecutionSettings
from botbox_dagster.services.position_monitor import monitor_positions
from botbox_dagster_tests.support.trading import (
    enqueue,
    flat_bars,
    live_bot,
    live_exchange,
    make_executor,
    make_store,
    paper_bot,
    queue,
    set_market,
    table,
)

NO_COSTS = PaperSettings(fee_bps=0.0, slippage_bps=0.0)


def assert_every_row_has_a_reason(store: LedgerStore) -> None:
    rows = queue(store).values()
    assert all(r["reason"] for r in rows), [(r["id"], r["status"]) for r in rows]


def open_long(store: LedgerStore, bot_id: str, size: float = 2.0, price: float = 100.0) -> None:
    enqueue(store, bot_id, "LONG", size=size, entry=price, stop_loss=95.0, take_profit=110.0)
    report = make_executor(store, paper=NO_COSTS, run_id=f"open-{bot_id}").run()
    assert report.filled == 1, report.lines


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    return make_store(tmp_path, [paper_bot(f"b{i}") for i in range(1, 6)])


def test_close_rows_go_first_then_the_oldest_in_bounded_batches(store: LedgerStore) -> None:
    open_long(store, "b5")
    now = datetime.now(UTC)
    newest = enqueue(store, "b1", size=0.1, created_at=now - timedelta(seconds=10))
    oldest = enqueue(store, "b2", size=0.1, created_at=now - timedelta(seconds=30))
    middle = enqueue(store, "b3", size=0.1, created_at=now - timedelta(seconds=20))
    close = enqueue(store, "b5", "CLOSE", size=2.0, created_at=now)
    executor = make_executor(store, settings=ExecutionSettings(batch_size=2))
    report = executor.run()
    assert report.claimed == 4 and report.filled == 4
    orders = [o["queue_id"] for o in table(store, "orders") if o["queue_id"] != 1]
    assert orders == [close, oldest, middle, newest]
    assert_every_row_has_a_reason(store)


def test_a_claim_never_exceeds_the_batch(store: LedgerStore) -> None:
    for i in range(1, 5):
        enqueue(store, f"b{i}", size=0.1)
    claimed = store.claim_rows("paper", "r", datetime.now(UTC), 3)
    assert len(claimed) == 3
    assert [r["status"] for r in queue(store).values()].count("PENDING") == 1


def test_stale_entries_expire_with_a_reason_but_closes_never_do(store: LedgerStore) -> None:
    open_long(store, "b1")
    old = datetime.now(UTC) - timedelta(minutes=10)
    stale = enqueue(store, "b2", size=0.1, created_at=old, ttl_seconds=300)
    close = enqueue(store, "b1", "CLOSE", size=2.0, created_at=old, ttl_seconds=300)
    report = make_executor(store).run()
    assert report.expired == 1 and report.filled == 1
    rows = queue(store)
    assert rows[stale]["status"] == "EXPIRED"
    assert rows[stale]["reason"] == "not executed within its time to live (300 s)"
    assert rows[close]["status"] == "FILLED"
    assert store.open_position("b2", "BTC/USDT") is None


def test_an_entry_opens_a_position_with_its_stop_and_target(store: LedgerStore) -> None:
    row = enqueue(store, "b1", size=2.0, entry=100.0, stop_loss=95.0, take_profit=110.0)
    make_executor(store).run()  # default paper: 5 bps slippage, 10 bps fee
    q = queue(store)[row]
    [position] = table(store, "positions")
    [order] = table(store, "orders")
    [fill] = table(store, "fills")
    assert q["status"] == "FILLED" and q["reason"] == f"opened position {position['id']}"
    assert q["order_id"] == order["exchange_order_id"] and order["queue_id"] == row
    assert position["status"] == "OPEN" and position["direction"] == "LONG"
    assert position["amount"] == 2.0 and position["entry_price"] == pytest.approx(100.05)
    assert (position["stop_loss"], position["take_profit"]) == (95.0, 110.0)
    assert position["fees"] == pytest.approx(0.2001) == fill["fee"] == order["fee"]
    assert order["side"] == "buy" and order["mode"] == "paper"


def test_a_close_realizes_pnl_after_both_fees(store: LedgerStore) -> None:
    enqueue(store, "b1", size=2.0, entry=100.0, stop_loss=95.0, take_profit=110.0)
    make_executor(store, run_id="r1").run()
    # The market moved to 110. The CLOSE row's stored price (the signal's, 120) is not a fill
    # price: paper fills at the market's price when the order executes.
    set_market(store, 110.0)
    close = enqueue(store, "b1", "CLOSE", size=2.0, entry=120.0)
    make_executor(store, run_id="r2").run()
    [position] = table(store, "positions")
    entry, exit_ = 100.0 * 1.0005, 110.0 * 0.9995
    entry_fee, exit_fee = 2 * entry * 0.001, 2 * exit_ * 0.001
    pnl = (exit_ - entry) * 2 - entry_fee - exit_fee
    assert pnl == pytest.approx(19.370)  # 19.79 gross, 0.2001 + 0.21989 in fees
    assert position["status"] == "CLOSED" and position["open_key"] is None
    assert position["exit_price"] == pytest.approx(exit_)
    assert position["fees"] == pytest.approx(entry_fee + exit_fee)
    assert position["realized_pnl"] == pytest.approx(pnl)
    assert (
        queue(store)[close]["reason"]
        == f"closed position {position['id']}, realized P&L {pnl:+.8g}"
    )
    [balance] = table(store, "paper_balances")
    assert balance["balance"] == pytest.approx(1000.0 + pnl)  # cash agrees with the P&L
    assert [f["side"] for f in table(store, "fills")] == ["buy", "sell"]


def test_a_short_opens_with_a_sell_and_closes_with_a_buy(store: LedgerStore) -> None:
    enqueue(store, "b1", "SHORT", size=1.0, entry=100.0)
    make_executor(store, paper=NO_COSTS, run_id="r1").run()
    set_market(store, 90.0)
    enqueue(store, "b1", "CLOSE", size=1.0)
    make_executor(store, paper=NO_COSTS, run_id="r2").run()
    [position] = table(store, "positions")
    assert position["direction"] == "SHORT" and position["realized_pnl"] == pytest.approx(10.0)
    assert [o["side"] for o in table(store, "orders")] == ["sell", "buy"]


def test_a_paused_bot_cancels_entries_but_still_closes(store: LedgerStore) -> None:
    open_long(store, "b1")
    store.set_bot_status("b1", BotStatus.PAUSED, "operator")
    store.set_bot_status("b2", BotStatus.STOPPED, "operator")
    close = enqueue(store, "b1", "CLOSE", size=2.0)
    entry = enqueue(store, "b2", size=0.1)
    report = make_executor(store).run()
    rows = queue(store)
    assert rows[close]["status"] == "FILLED"
    assert (rows[entry]["status"], rows[entry]["reason"]) == ("CANCELLED", "bot is STOPPED")
    assert report.cancelled == {"bot is STOPPED": 1}
    assert len(table(store, "orders")) == 2  # the opening order and the close


def test_redundant_rows_are_cancelled(store: LedgerStore) -> None:
    open_long(store, "b1")
    again = enqueue(store, "b1", size=1.0)
    orphan = enqueue(store, "b2", "CLOSE", size=1.0)
    make_executor(store).run()
    rows = queue(store)
    assert rows[again]["status"] == "CANCELLED" and "already open" in rows[again]["reason"]
    assert rows[orphan]["status"] == "CANCELLED"
    assert rows[orphan]["reason"] == "no open position to close"


def test_closes_only_leaves_entries_pending(store: LedgerStore) -> None:
    open_long(store, "b1")
    close = enqueue(store, "b1", "CLOSE", size=2.0)
    entries = [enqueue(store, f"b{i}", size=0.1) for i in (2, 3)]
    before = queue(store)
    report = make_executor(store, settings=ExecutionSettings(batch_size=1)).run(closes_only=True)
    rows = queue(store)
    assert rows[close]["status"] == "FILLED" and report.filled == 1
    for e in entries:
        # Untouched, so the sensor's fingerprint of the queue does not change while paused.
        assert rows[e] == before[e]
    # Resumed: the same rows trade.
    assert make_executor(store, run_id="later").run().filled == 2


def test_live_bot_without_the_deployment_flag_fails_and_sends_nothing(
    tmp_path: Path, fx: FakeExchange
) -> None:
    store = make_store(tmp_path, [live_bot("l1")], live_url=fx.base_url)
    row = enqueue(store, "l1", exchange="live", symbol="ETH/BTC", size=0.5)
    close = enqueue(store, "l1", "CLOSE", exchange="live", symbol="ETH/BTC", size=0.5)
    executor = make_executor(store, "live", live=live_exchange(store))
    report = executor.run()
    rows = queue(store)
    for r in (row, close):
        assert rows[r]["status"] == "FAILED"
        assert rows[r]["reason"].startswith("live trading is disabled in this deployment")
    assert sum(report.failed.values()) == 2
    assert fx.requests() == [] and fx.orders() == []
    assert table(store, "exchange_calls") == []


def test_an_amount_that_rounds_to_nothing_fails(store: LedgerStore) -> None:
    row = enqueue(store, "b1", size=1e-9)
    make_executor(store).run()
    q = queue(store)[row]
    assert q["status"] == "FAILED" and q["reason"].startswith("invalid order:")
    assert table(store, "orders") == []


def test_a_deleted_bot_cancels_its_rows(store: LedgerStore) -> None:
    row = enqueue(store, "ghost", size=1.0)
    make_executor(store).run()
    assert (queue(store)[row]["status"], queue(store)[row]["reason"]) == (
        "CANCELLED",
        "bot no longer exists",
    )


def test_transient_paper_errors_retry_then_fail(store: LedgerStore) -> None:
    # No candles for ETH/USDT: the paper venue has no price yet (transient).
    row = enqueue(store, "b1", symbol="ETH/USDT", size=1.0)
    settings = ExecutionSettings(max_attempts=3, retry_base_seconds=0.0)
    report = make_executor(store, settings=settings).run()
    q = queue(store)[row]
    assert report.requeued == 2
    assert q["status"] == "FAILED" and q["attempts"] == 3
    assert q["reason"] == "gave up after 3 attempts: no price yet for ETH/USDT"
    assert_every_row_has_a_reason(store)


def test_a_crashed_paper_run_is_reconciled_from_the_venue_record(store: LedgerStore) -> None:
    # (a) the paper venue filled the order, then the process died before the row was updated.
    reached = enqueue(store, "b1", size=1.0, status="EXECUTING", run_id="dead")
    # The send marker is written before the request leaves, so the dead run left it set.
    store.run(
        lambda c: c.execute(
            "UPDATE trade_queue SET sent_at = now(), send_mode = 'paper' WHERE id = ?", [reached]
        )
    )
    cid = queue(store)[reached]["client_order_id"]
    PaperExchange(store, "paper", NO_COSTS).create_market_order(
        "b1", "BTC/USDT", Side.BUY, 1.0, cid
    )
    # (b) the process died before sending anything.
    lost = enqueue(store, "b2", size=1.0, status="EXECUTING", run_id="dead")
    report = make_executor(store, paper=NO_COSTS).run()
    rows = queue(store)
    assert report.reconciled == 2
    assert rows[reached]["status"] == rows[lost]["status"] == "FILLED"
    # Never sent: released without counting an attempt, then sent.
    assert rows[lost]["attempts"] == 0 and rows[lost]["sent_at"] is not None
    balances = {b["bot_id"]: b["balance"] for b in table(store, "paper_balances")}
    assert balances == pytest.approx({"b1": 900.0, "b2": 900.0})  # each charged once
    assert len(table(store, "orders")) == 2 and len(table(store, "positions")) == 2
    assert_every_row_has_a_reason(store)


def test_rows_of_a_run_that_still_looks_alive_are_left_until_orphaned(store: LedgerStore) -> None:
    """A killed ``dagster job execute`` process stays STARTED in Dagster's storage: the row's
    age, not the run's status alone, decides when it is recovered."""
    fresh = enqueue(store, "b1", size=1.0, status="EXECUTING", run_id="other-run")
    report = make_executor(store, paper=NO_COSTS, alive=lambda _r: True).run()
    assert report.reconciled == 0
    assert queue(store)[fresh]["status"] == "EXECUTING"  # another live run owns it

    old = datetime.now(UTC) - timedelta(minutes=10)
    store.run(
        lambda c: c.execute("UPDATE trade_queue SET updated_at = ? WHERE id = ?", [old, fresh])
    )
    report = make_executor(store, paper=NO_COSTS, alive=lambda _r: True).run()
    assert report.reconciled == 1
    assert queue(store)[fresh]["status"] == "FILLED"
    assert len(table(store, "orders")) == 1


def test_paper_on_a_spot_account_cannot_short(store: LedgerStore) -> None:
    # The fixture's paper account declares no market_type: spot. Its simulator is spot too.
    from botbox_dagster.adapters.venues import paper_venue
    from botbox_dagster.services.executor import Executor

    assert not paper_venue(store, "paper", NO_COSTS).can_short
    row = enqueue(store, "b1", "SHORT", size=1.0)
    executor = make_executor(store, paper=NO_COSTS)
    spot = Executor(
        store,
        "paper",
        paper_venue(store, "paper", NO_COSTS),
        None,
        executor.breaker("live"),
        executor.settings,
        "spot-run",
        lambda _r: False,
    )
    spot.run()
    q = queue(store)[row]
    assert (q["status"], q["reason"]) == (
        "FAILED",
        "short selling needs a margin or futures account",
    )
    assert table(store, "orders") == [] and table(store, "positions") == []


def _bar_with_volume(store: LedgerStore, price: float, volume: float, minutes_ago: int) -> None:
    """A closed 1m bar of BTC/USDT that opened ``minutes_ago`` (the newest one stored)."""
    start = timeframes.floor(datetime.now(UTC), "1m") - timedelta(minutes=minutes_ago)
    bars = flat_bars(start, [price])
    bars["volume"] = [volume]
    store.upsert_candles("paper", "BTC/USDT", "1m", bars, source="test")


def _orders_placed_a_bar_ago(store: LedgerStore) -> None:
    """The orders so far were placed during an earlier bar (the run's clock is real time)."""
    store.run(lambda c: c.execute("UPDATE orders SET created_at = created_at - INTERVAL 3 MINUTE"))


def test_a_volume_cap_fills_part_of_an_order_and_an_exit_sells_the_rest_a_bar_later(
    store: LedgerStore,
) -> None:
    paper = PaperSettings(fee_bps=0.0, slippage_bps=0.0, max_volume_share=0.25)
    # 4 BTC traded in the bar: orders take at most 25% of it, 1 BTC. An entry for 1.5 fills
    # 1.0 and ends EXPIRED: the position is the 1.0 bought, at 100.
    _bar_with_volume(store, 100.0, 4.0, minutes_ago=1)
    row = enqueue(store, "b1", size=1.5)
    make_executor(store, paper=paper, run_id="r1").run()
    [order] = table(store, "orders")
    assert (order["status"], order["filled"]) == ("EXPIRED", 1.0)
    [position] = table(store, "positions")
    assert position["amount"] == 1.0 and queue(store)[row]["status"] == "FILLED"
    assert "paper volume cap: 1 of 1.5 filled" in queue(store)[row]["reason"]
    # A second bot's order in the same bar finds the bar's cap used up: nothing fills, as a
    # market order with no liquidity left ends EXPIRED at the venue.
    other = enqueue(store, "b2", size=0.1)
    make_executor(store, paper=paper, run_id="r1b").run()
    assert queue(store)[other]["status"] == "FAILED"
    assert (
        "ended EXPIRED with nothing filled: paper volume cap: 0 of 0.1"
        in (queue(store)[other]["reason"])
    )
    store.run(lambda c: c.execute("DELETE FROM orders WHERE bot_id = 'b2'"))
    _orders_placed_a_bar_ago(store)
    # At 110 with 2 BTC traded: the CLOSE of 1.0 sells 0.5. Its rest (0.5), sent at once, finds
    # the bar used up and fills nothing; the position monitor queues the exit again after the
    # next bar, which sells it. P&L by hand: 1.0 x (110 - 100) = +10, cash 1,010.
    _bar_with_volume(store, 110.0, 2.0, minutes_ago=1)
    enqueue(store, "b1", "CLOSE", size=1.0)
    make_executor(store, paper=paper, run_id="r2").run()
    [position] = table(store, "positions")
    assert position["status"] == "OPEN" and position["amount"] == pytest.approx(0.5)
    sells = [o for o in table(store, "orders") if o["side"] == "sell"]
    assert [(o["status"], o["filled"]) for o in sells] == [("EXPIRED", 0.5), ("EXPIRED", 0.0)]
    _orders_placed_a_bar_ago(store)
    _bar_with_volume(store, 110.0, 2.0, minutes_ago=0)
    assert monitor_positions(store, "paper", datetime.now(UTC)).closes_queued
    make_executor(store, paper=paper, run_id="r3").run()
    sells = [o for o in table(store, "orders") if o["side"] == "sell"]
    assert [o["filled"] for o in sells] == [0.5, 0.0, 0.5]
    [position] = table(store, "positions")
    assert position["status"] == "CLOSED" and position["realized_pnl"] == pytest.approx(10.0)
    [balance] = [b for b in table(store, "paper_balances") if b["bot_id"] == "b1"]
    assert balance["balance"] == pytest.approx(1010.0)


def test_without_a_cap_or_without_volume_the_whole_order_fills(store: LedgerStore) -> None:
    _bar_with_volume(store, 100.0, 0.0, minutes_ago=0)  # a source without volume: no cap
    enqueue(store, "b1", size=1.5)
    make_executor(store, paper=PaperSettings(max_volume_share=0.25)).run()
    [order] = table(store, "orders")
    assert (order["status"], order["filled"]) == ("FILLED", 1.5)


def test_every_queue_status_change_follows_the_state_table(store: LedgerStore) -> None:
    from botbox_dagster.adapters.ledger.execution import status_guard
    from botbox_dagster.domain.order_states import IllegalTransition, QueueStatus

    # The guards are the table's: FAILED and FILLED only from EXECUTING, CANCELLED from both.
    assert status_guard("FAILED") == "status IN ('EXECUTING')"
    assert status_guard("FILLED") == "status IN ('EXECUTING')"
    assert status_guard("CANCELLED") == "status IN ('PENDING', 'EXECUTING')"
    with pytest.raises(IllegalTransition, match="PENDING may only go to"):
        status_guard("FILLED", (QueueStatus.PENDING,))
    pending = enqueue(store, "b1")
    [row] = store.claim_rows("paper", "probe", datetime.now(UTC), 10)
    store.release(row, "handed back", datetime.now(UTC))
    assert queue(store)[pending]["status"] == "PENDING"
    # A PENDING row cannot fail without being claimed: the write raises, nothing changes.
    with pytest.raises(IllegalTransition, match="illegal transition PENDING -> FAILED"):
        store.finish(row, "FAILED", "never claimed", datetime.now(UTC))
    assert queue(store)[pending]["status"] == "PENDING"
    # A row another process already settled is a lost race, not an error: False.
    store.finish(row, "CANCELLED", "operator", datetime.now(UTC))
    assert store.finish(row, "CANCELLED", "again", datetime.now(UTC)) is False
