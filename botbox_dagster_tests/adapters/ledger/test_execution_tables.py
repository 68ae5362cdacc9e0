"""The execution writes of the ledger: claims, guarded transitions, idempotent fills."""

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain.execution import Fill, OrderResult, Side
from botbox_dagster.domain.order_states import IllegalTransition
from botbox_dagster_tests.support.trading import enqueue, make_store, paper_bot, queue, table


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    return make_store(tmp_path, [paper_bot(f"b{i}") for i in range(1, 7)])


def result(cid: str, side: Side = Side.BUY, price: float = 100.0) -> OrderResult:
    return OrderResult(
        cid, f"x-{cid}", side, 1.0, "FILLED", 1.0, price, 0.1, "USDT", (Fill(1.0, price, 0.1, cid),)
    )


def add_signal(store: LedgerStore, bot_id: str) -> int:
    now = datetime.now(UTC)
    row = store.run(
        lambda c: c.execute(
            "INSERT INTO signals (signal_hash, bot_id, strategy_id, exchange, symbol, timeframe, "
            "direction, candle_time, contributions, status, evaluated_at, updated_at) VALUES "
            "(?, ?, 'always-long', 'paper', 'BTC/USDT', '1m', 'LONG', ?, '{}', 'ACCEPTED', ?, ?) "
            "RETURNING id",
            [f"h-{bot_id}", bot_id, now, now, now],
        ).fetchone()
    )
    return int(row[0])


def test_claims_take_closes_first_then_the_oldest_and_skip_rows_not_due(
    store: LedgerStore,
) -> None:
    now = datetime.now(UTC)
    old = enqueue(store, "b1", created_at=now - timedelta(seconds=30))
    new = enqueue(store, "b2", created_at=now - timedelta(seconds=10))
    close = enqueue(store, "b3", "CLOSE", created_at=now)
    later = enqueue(store, "b4", created_at=now - timedelta(seconds=60))
    other = enqueue(store, "b5", exchange="elsewhere")
    store.run(
        lambda c: c.execute(
            "UPDATE trade_queue SET next_attempt_at = ? WHERE id = ?", [now + timedelta(1), later]
        )
    )
    first = store.claim_rows("paper", "run-a", now, 2)
    assert [r.id for r in first] == [close, old]
    assert all(r.status == "EXECUTING" and r.run_id == "run-a" for r in first)
    assert [r.id for r in store.claim_rows("paper", "run-b", now, 10)] == [new]
    assert queue(store)[later]["status"] == queue(store)[other]["status"] == "PENDING"


def test_closes_only_claims_leave_entries_alone(store: LedgerStore) -> None:
    entry = enqueue(store, "b1")
    close = enqueue(store, "b2", "CLOSE")
    now = datetime.now(UTC)
    assert [r.id for r in store.claim_rows("paper", "r", now, 10, closes_only=True)] == [close]
    assert queue(store)[entry]["status"] == "PENDING"


def test_concurrent_claimers_never_share_a_row(store: LedgerStore) -> None:
    ids = {enqueue(store, f"b{i}") for i in range(1, 7)}
    got: dict[str, list[int]] = {}

    def claim(name: str) -> None:
        mine: list[int] = []
        while rows := store.claim_rows("paper", name, datetime.now(UTC), 1):
            mine += [r.id for r in rows]
        got[name] = mine

    threads = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for rows in got.values() for i in rows]
    assert sorted(claimed) == sorted(ids)  # each exactly once


def test_expiry_frees_the_pending_slot_and_spares_closes(store: LedgerStore) -> None:
    past = datetime.now(UTC) - timedelta(minutes=10)
    stale = enqueue(store, "b1", created_at=past, ttl_seconds=60)
    close = enqueue(store, "b1", "CLOSE", created_at=past, ttl_seconds=60)
    fresh = enqueue(store, "b2")
    expired = store.expire_pending("paper", datetime.now(UTC))
    assert [r.id for r in expired] == [stale]
    rows = queue(store)
    assert rows[stale]["reason"] == "not executed within its time to live (60 s)"
    assert rows[stale]["pending_key"] is None
    assert rows[close]["status"] == rows[fresh]["status"] == "PENDING"
    enqueue(store, "b1")  # a new signal for the same bot and direction may queue again


def test_transitions_are_guarded_by_the_current_status(store: LedgerStore) -> None:
    enqueue(store, "b1")
    now = datetime.now(UTC)
    [row] = store.claim_rows("paper", "r", now, 1)
    assert store.release(row, "breaker open", now)
    assert not store.requeue(row, "again", None, now)  # no longer EXECUTING
    [row] = store.claim_rows("paper", "r", now, 1)
    assert store.requeue(row, "retry 1: 502", now + timedelta(seconds=5), now)
    q = queue(store)[row.id]
    assert (q["status"], q["attempts"], q["run_id"]) == ("PENDING", 1, None)
    assert q["next_attempt_at"] == now + timedelta(seconds=5)
    assert store.claim_rows("paper", "r", now, 1) == []  # not due yet
    # The state table: a PENDING row may be cancelled, never failed without being claimed.
    with pytest.raises(IllegalTransition, match="PENDING -> FAILED"):
        store.finish(row, "FAILED", "gave up", now)
    assert store.finish(row, "CANCELLED", "operator", now)
    assert not store.finish(row, "CANCELLED", "too late", now)  # settled already: a lost race
    assert queue(store)[row.id]["reason"] == "operator"


def test_finish_notes_the_outcome_on_the_signal(store: LedgerStore) -> None:
    signal = add_signal(store, "b1")
    row_id = enqueue(store, "b1")
    store.run(lambda c: c.execute("UPDATE trade_queue SET signal_id = ?", [signal]))
    [row] = store.claim_rows("paper", "r", datetime.now(UTC), 1)
    store.finish(row, "FAILED", "insufficient funds", datetime.now(UTC))
    [sig] = [s for s in table(store, "signals") if s["id"] == signal]
    assert sig["reason"].endswith("trade failed: insufficient funds")
    assert queue(store)[row_id]["pending_key"] is None


def test_record_fill_is_atomic_and_idempotent(store: LedgerStore) -> None:
    signal = add_signal(store, "b1")
    row_id = enqueue(store, "b1", stop_loss=90.0, take_profit=120.0)
    store.run(lambda c: c.execute("UPDATE trade_queue SET signal_id = ?", [signal]))
    [row] = store.claim_rows("paper", "r", datetime.now(UTC), 1)
    first = store.record_fill(row, result(row.client_order_id), mode="paper", now=datetime.now(UTC))
    again = store.record_fill(row, result(row.client_order_id), mode="paper", now=datetime.now(UTC))
    assert first["order_id"] == again["order_id"]
    assert len(table(store, "orders")) == len(table(store, "fills")) == 1
    assert len(table(store, "positions")) == 1
    q = queue(store)[row_id]
    assert (q["status"], q["order_id"]) == ("FILLED", f"x-{row.client_order_id}")
    [sig] = [s for s in table(store, "signals") if s["id"] == signal]
    assert sig["status"] == "EXECUTED"


def test_pending_accounts_fingerprint_the_due_work(store: LedgerStore) -> None:
    now = datetime.now(UTC)
    assert store.pending_accounts(now) == {}
    a = enqueue(store, "b1")
    enqueue(store, "b2", exchange="other")
    first = store.pending_accounts(now)
    assert first["paper"]["pending"] == 1 and first["paper"]["max_id"] == a
    assert store.pending_accounts(now) == first
    later = enqueue(store, "b3", created_at=now + timedelta(seconds=1))
    second = store.pending_accounts(now)
    assert second["paper"]["pending"] == 2 and second["paper"]["max_id"] == later
    assert second["paper"]["stamp"] > first["paper"]["stamp"]


def order(
    cid: str,
    side: Side,
    amount: float,
    filled: float,
    price: float,
    fee: float,
    ccy: str,
    status: str,
) -> OrderResult:
    """A venue's answer with no trade list (as an order lookup returns it)."""
    return OrderResult(cid, f"x-{cid}", side, amount, status, filled, price, fee, ccy)


def test_a_buy_paying_commission_in_base_holds_what_the_account_holds(store: LedgerStore) -> None:
    # Buy 1.0 BTC at 100 USDT, 0.1% commission taken in BTC (Binance spot without BNB):
    # the account holds 0.999 BTC; the fee is 0.001 BTC = 0.1 USDT at the fill price.
    enqueue(store, "b1")
    [row] = store.claim_rows("paper", "r", datetime.now(UTC), 1)
    answer = order(row.client_order_id, Side.BUY, 1.0, 1.0, 100.0, 0.001, "BTC", "FILLED")
    store.record_fill(row, answer, mode="live", now=datetime.now(UTC))
    [position] = table(store, "positions")
    assert position["amount"] == pytest.approx(0.999)
    assert position["fees"] == pytest.approx(0.1)


def test_an_order_followed_from_new_to_filled_is_applied_once_per_part(store: LedgerStore) -> None:
    row_id = enqueue(store, "b1", size=1.0)
    [row] = store.claim_rows("paper", "r", datetime.now(UTC), 1)
    now = datetime.now(UTC)
    cid = row.client_order_id
    new = store.record_fill(
        row, order(cid, Side.BUY, 1.0, 0.0, 0.0, 0.0, "USDT", "NEW"), mode="live", now=now
    )
    assert new["terminal"] is False and queue(store)[row_id]["status"] == "EXECUTING"
    assert table(store, "positions") == []
    # 0.4 filled at 100, then all 1.0 at an average of 101 (the other 0.6 at 101.6667).
    part = order(cid, Side.BUY, 1.0, 0.4, 100.0, 0.04, "USDT", "PARTIALLY_FILLED")
    store.record_fill(row, part, mode="live", now=now)
    store.record_fill(row, part, mode="live", now=now)  # read twice: applied once
    [position] = table(store, "positions")
    assert position["amount"] == pytest.approx(0.4) and position["entry_price"] == pytest.approx(
        100.0
    )
    done = order(cid, Side.BUY, 1.0, 1.0, 101.0, 0.101, "USDT", "FILLED")
    assert store.record_fill(row, done, mode="live", now=now)["terminal"] is True
    [position] = table(store, "positions")
    assert position["amount"] == pytest.approx(1.0)
    assert position["entry_price"] == pytest.approx(101.0)
    assert position["fees"] == pytest.approx(0.101)
    assert queue(store)[row_id]["status"] == "FILLED"
    assert sum(f["amount"] for f in table(store, "fills")) == pytest.approx(1.0)


def test_a_partial_close_leaves_the_rest_open_and_queues_a_close_for_it(store: LedgerStore) -> None:
    now = datetime.now(UTC)
    enqueue(store, "b1", size=2.0)
    [entry_row] = store.claim_rows("paper", "r", now, 1)
    store.record_fill(
        entry_row,
        order(entry_row.client_order_id, Side.BUY, 2.0, 2.0, 100.0, 0.2, "USDT", "FILLED"),
        mode="live",
        now=now,
    )
    close_id = enqueue(store, "b1", "CLOSE", size=2.0)
    [close] = store.claim_rows("paper", "r", now, 1)
    # The market order sold 1.0 at 110 and EXPIRED (not enough liquidity), fee 0.11 USDT.
    half = order(close.client_order_id, Side.SELL, 2.0, 1.0, 110.0, 0.11, "USDT", "EXPIRED")
    effect = store.record_fill(close, half, mode="live", now=now)
    [position] = table(store, "positions")
    assert position["status"] == "OPEN" and position["amount"] == pytest.approx(1.0)
    rows = queue(store)
    assert rows[close_id]["status"] == "FILLED"
    [rest] = [r for r in rows.values() if r["status"] == "PENDING"]
    assert rest["direction"] == "CLOSE" and rest["position_size"] == pytest.approx(1.0)
    assert effect["rest_queue_id"] == rest["id"]
    [rest_row] = store.claim_rows("paper", "r", now, 1)
    store.record_fill(
        rest_row,
        order(rest_row.client_order_id, Side.SELL, 1.0, 1.0, 90.0, 0.09, "USDT", "FILLED"),
        mode="live",
        now=now,
    )
    [position] = table(store, "positions")
    # By hand: (110-100)*1 + (90-100)*1 - 0.2 entry fees - 0.11 - 0.09 exit fees = -0.4
    assert position["status"] == "CLOSED"
    assert position["realized_pnl"] == pytest.approx(-0.4)
