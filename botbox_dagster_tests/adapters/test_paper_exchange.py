"""The paper exchange on a real ledger: fill price, fees, per-bot balances, duplicates."""

from pathlib import Path

import pytest

from botbox_dagster.adapters.exchanges.paper import PaperExchange, PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain.execution import Side
from botbox_dagster_tests.support.trading import (
    PRICE,
    enqueue,
    make_executor,
    make_store,
    paper_bot,
    queue,
    table,
)

SETTINGS = PaperSettings(fee_bps=10.0, slippage_bps=5.0)


def balances(store: LedgerStore) -> dict[str, float]:
    return {r["bot_id"]: r["balance"] for r in table(store, "paper_balances")}


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    return make_store(tmp_path, [paper_bot("b1"), paper_bot("b2", capital=50.0)])


def test_buy_fills_at_the_newest_close_plus_slippage_and_pays_the_fee(store: LedgerStore) -> None:
    paper = PaperExchange(store, "paper", SETTINGS)
    assert paper.reference_price("BTC/USDT") == PRICE
    result = paper.create_market_order("b1", "BTC/USDT", Side.BUY, 2.0, "cid-1")
    price = PRICE * (1 + 5 / 10_000)
    assert result.status == "FILLED" and result.filled == 2.0
    assert result.average_price == pytest.approx(price)
    assert result.fee == pytest.approx(2.0 * price * 10 / 10_000)
    assert result.fee_currency == "USDT"
    assert [f.trade_key for f in result.fills] == ["paper-cid-1"]
    assert balances(store)["b1"] == pytest.approx(1000.0 - 2.0 * price - result.fee)


def test_sell_at_the_hint_minus_slippage_credits_notional_less_fee(store: LedgerStore) -> None:
    paper = PaperExchange(store, "paper", SETTINGS)
    result = paper.create_market_order("b1", "BTC/USDT", Side.SELL, 1.0, "cid-s", price_hint=200)
    assert result.average_price == pytest.approx(199.9)
    assert result.fee == pytest.approx(0.1999)
    assert balances(store)["b1"] == pytest.approx(1000.0 + 199.9 - 0.1999)


def test_balances_are_per_bot_and_start_at_capital_or_the_configured_balance(
    store: LedgerStore, tmp_path: Path
) -> None:
    paper = PaperExchange(store, "paper", PaperSettings(fee_bps=0, slippage_bps=0))
    paper.create_market_order("b1", "BTC/USDT", Side.BUY, 1.0, "a")
    paper.create_market_order("b2", "BTC/USDT", Side.BUY, 0.1, "b")
    assert balances(store) == pytest.approx({"b1": 900.0, "b2": 40.0})

    other = make_store(tmp_path, [paper_bot("b1")], name="other.duckdb")
    configured = PaperExchange(other, "paper", PaperSettings(0, 0, starting_balance=250.0))
    configured.create_market_order("b1", "BTC/USDT", Side.BUY, 1.0, "c")
    assert balances(other) == pytest.approx({"b1": 150.0})


def test_insufficient_funds_is_permanent_and_changes_nothing(store: LedgerStore) -> None:
    paper = PaperExchange(store, "paper", SETTINGS)
    with pytest.raises(ee.InsufficientFundsError, match="paper balance 50 USDT cannot pay"):
        paper.create_market_order("b2", "BTC/USDT", Side.BUY, 1.0, "too-big")
    assert table(store, "orders") == []
    assert balances(store) == {}  # the whole order rolled back
    assert paper.find_order("b2", "BTC/USDT", "too-big") is None


def test_insufficient_funds_fails_the_row_with_the_reason(store: LedgerStore) -> None:
    row = enqueue(store, "b2", size=1.0)
    report = make_executor(store).run()
    assert report.filled == 0
    assert queue(store)[row]["status"] == "FAILED"
    assert "cannot pay" in queue(store)[row]["reason"]
    assert queue(store)[row]["attempts"] == 1  # no retry: the same order fails the same way


def test_a_duplicate_client_order_id_returns_the_original_without_a_second_fill(
    store: LedgerStore,
) -> None:
    paper = PaperExchange(store, "paper", SETTINGS)
    first = paper.create_market_order("b1", "BTC/USDT", Side.BUY, 1.0, "dup")
    after_first = balances(store)
    again = paper.create_market_order("b1", "BTC/USDT", Side.BUY, 3.0, "dup", price_hint=50)
    assert again == first
    assert balances(store) == after_first
    assert len(table(store, "orders")) == 1


def test_find_order_is_the_venue_record(store: LedgerStore) -> None:
    paper = PaperExchange(store, "paper", SETTINGS)
    assert paper.find_order("b1", "BTC/USDT", "nope") is None
    placed = paper.create_market_order("b1", "BTC/USDT", Side.BUY, 1.5, "found")
    assert paper.find_order("b1", "BTC/USDT", "found") == placed


def test_no_price_is_transient(store: LedgerStore) -> None:
    paper = PaperExchange(store, "paper", SETTINGS)
    with pytest.raises(ee.TransientExchangeError, match="no price yet"):
        paper.create_market_order("b1", "ETH/USDT", Side.BUY, 1.0, "x")
