"""Binance's documented order rules, as the real ccxt client meets them at the fake.

Numbers are worked by hand: BTC/USDT pinned at 30,000 USDT, fee 0.1%, 100,000 USDT and
2 BTC to start, the fake clock frozen (advanced explicitly). See docs/venue-contract.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest

from botbox_dagster.fake_exchange import (
    FakeClock,
    FakeExchange,
    MarketSpec,
    RemoteFakeExchange,
)

PRICE = "30000"


@pytest.fixture
def fx() -> Iterator[FakeExchange]:
    """BTC/USDT without candles (price pinned), frozen clock, 0.1% fee."""
    clock = FakeClock(frozen_ms=1_750_000_000_000)
    exchange = FakeExchange(
        [
            MarketSpec(
                "BTC/USDT",
                tick_size=Decimal("0.01"),
                step_size=Decimal("0.001"),
                min_qty=Decimal("0.001"),
                min_notional=Decimal("5"),
            )
        ],
        balances={"USDT": "100000", "BTC": "2"},
        fee_rate="0.001",
        clock=clock,
    )
    exchange.set_price("BTC/USDT", PRICE)
    with exchange:
        yield exchange


# ``client``: the conftest's real ccxt.binance, pointed at this module's ``fx``.


def free(client: ccxt.binance, asset: str) -> float:
    return float(client.fetch_balance()[asset]["free"])


def buy(client: ccxt.binance, amount: float, cid: str, **params: str) -> dict:
    return client.create_order(
        "BTC/USDT", "market", "buy", amount, params={"newClientOrderId": cid, **params}
    )


def by_cid(client: ccxt.binance, cid: str) -> dict:
    return client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": cid})


# -- §1 client order ids -------------------------------------------------------------------


def test_client_id_is_refused_only_while_its_order_is_open(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    resting = client.create_order(
        "BTC/USDT", "limit", "buy", 0.5, 20000, params={"newClientOrderId": "c-1"}
    )
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        buy(client, 0.1, "c-1")
    client.cancel_order(resting["id"], "BTC/USDT")
    again = buy(client, 0.1, "c-1")  # CANCELED frees the id: a second order
    fx.add_fault("expired_partial", path="/api/v3/order", fill_ratio=0.5)
    buy(client, 0.2, "c-2")
    third = buy(client, 0.2, "c-2")  # EXPIRED frees it too
    buy(client, 0.3, "c-1")  # and so does FILLED
    assert [o["status"] for o in fx.orders_for_client_id("c-1")] == [
        "CANCELED",
        "FILLED",
        "FILLED",
    ]
    assert [o["origQty"] for o in fx.orders_for_client_id("c-1")] == [
        "0.50000000",
        "0.10000000",
        "0.30000000",
    ]
    assert by_cid(client, "c-1")["amount"] == 0.3  # the newest order with the id
    assert by_cid(client, "c-2")["id"] == third["id"] != again["id"]
    remote = RemoteFakeExchange(fx.base_url)
    assert len(remote.orders_for_client_id("c-1")) == 3
    assert [o["status"] for o in remote.orders_for_client_id("c-2")] == ["EXPIRED", "FILLED"]


# -- §2 unknown outcomes -------------------------------------------------------------------


def test_unknown_after_accept_1006_is_operation_failed_and_the_order_exists(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("unknown_after_accept", path="/api/v3/order", method="POST")
    with pytest.raises(ccxt.OperationFailed, match="-1006") as err:
        buy(client, 1.0, "u-1")
    # ccxt 4.5: OperationFailed is neither a NetworkError nor an ExchangeError.
    assert not isinstance(err.value, ccxt.NetworkError | ccxt.ExchangeError)
    assert "Execution status unknown." in str(err.value)
    assert [r.status for r in fx.requests("/api/v3/order", "POST")] == [500]
    assert by_cid(client, "u-1")["status"] == "closed"
    assert free(client, "BTC") == pytest.approx(2 + 0.999)  # processed: 1.0 less 0.001 fee


def test_unknown_after_accept_1001_over_json(fx: FakeExchange, client: ccxt.binance) -> None:
    remote = RemoteFakeExchange(fx.base_url)
    posted = remote.add_fault(
        "unknown_after_accept", path="/api/v3/order", method="POST", code=-1001, status=503
    )
    assert posted["status"] == 503 and posted["code"] == -1001
    with pytest.raises(ccxt.OperationFailed, match="-1001") as err:
        buy(client, 0.5, "u-2")
    assert not isinstance(err.value, ccxt.NetworkError)
    assert "Internal error; unable to process your request." in str(err.value)
    assert [r.status for r in fx.requests("/api/v3/order", "POST")] == [503]
    assert [o["executedQty"] for o in remote.orders_for_client_id("u-2")] == ["0.50000000"]


def test_reset_after_accept_is_a_network_error_and_html_5xx_exchange_not_available(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("reset_after_accept", path="/api/v3/order", method="POST")
    with pytest.raises(ccxt.NetworkError) as err:
        buy(client, 0.1, "r-1")
    assert type(err.value) is ccxt.NetworkError
    fx.add_fault("error", path="/api/v3/order", method="POST", status=502)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        buy(client, 0.1, "r-2")
    assert [o["clientOrderId"] for o in fx.orders()] == ["r-1"]  # the 502 was not processed


def test_unknown_fault_rejects_other_codes() -> None:
    from botbox_dagster.fake_exchange import Fault

    with pytest.raises(ValueError, match="code must be one of"):
        Fault.from_json({"kind": "unknown_after_accept", "code": -2010})
    assert Fault.from_json({"kind": "error"}).status == 503


# -- §3 visibility lag ---------------------------------------------------------------------


def test_invisible_orders_answer_2013_and_are_missing_from_every_list(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("invisible", path="/api/v3/order", method="POST", seconds=30, count=2)
    placed = buy(client, 1.0, "i-1")
    assert placed["status"] == "closed"  # the POST answer itself is complete
    client.create_order("BTC/USDT", "limit", "sell", 0.5, 40000, params={"newClientOrderId": "i-2"})
    with pytest.raises(ccxt.OrderNotFound):
        by_cid(client, "i-1")
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(placed["id"], "BTC/USDT")
    assert client.fetch_open_orders("BTC/USDT") == []
    assert client.fetch_orders("BTC/USDT") == []
    assert client.fetch_my_trades("BTC/USDT") == []
    with pytest.raises(ccxt.OrderNotFound):  # -2011 "Unknown order sent."
        client.cancel_order(None, "BTC/USDT", params={"origClientOrderId": "i-2"})
    # Balances moved at once: +0.999 BTC -30,000 USDT; 0.5 BTC locked by the resting sell.
    bal = client.fetch_balance()
    assert bal["BTC"]["free"] == pytest.approx(2 + 0.999 - 0.5)
    assert bal["BTC"]["used"] == pytest.approx(0.5)
    assert bal["USDT"]["free"] == pytest.approx(70000)
    assert [o["_visible"] for o in fx.orders()] == [False, False]
    fx.clock.advance(29_999)
    assert client.fetch_open_orders("BTC/USDT") == []
    fx.clock.advance(1)
    assert by_cid(client, "i-1")["filled"] == 1.0
    assert [o["clientOrderId"] for o in client.fetch_open_orders("BTC/USDT")] == ["i-2"]
    assert len(client.fetch_orders("BTC/USDT")) == 2
    assert [t["order"] for t in client.fetch_my_trades("BTC/USDT")] == [placed["id"]]


def test_a_lookup_during_the_lag_finds_the_earlier_order_with_the_id(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    first = buy(client, 0.1, "l-1")
    fx.add_fault("invisible", path="/api/v3/order", seconds=10)
    fx.add_fault("unknown_after_accept", path="/api/v3/order")
    with pytest.raises(ccxt.OperationFailed):
        buy(client, 0.2, "l-1")  # a resend: processed, answered -1006, not yet shown
    assert by_cid(client, "l-1")["id"] == first["id"]
    assert len(fx.orders_for_client_id("l-1")) == 2
    fx.clock.advance(10_000)
    assert by_cid(client, "l-1")["amount"] == 0.2


# -- §4 commission -------------------------------------------------------------------------


def test_buy_commission_in_base_sell_in_quote_and_the_full_response(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.set_balance("BTC", "0")
    order = buy(client, 1.0, "f-1")
    assert order["info"]["fills"] == [
        {
            "price": "30000.00000000",
            "qty": "1.00000000",
            "commission": "0.00100000",
            "commissionAsset": "BTC",
            "tradeId": order["info"]["fills"][0]["tradeId"],
        }
    ]
    assert order["info"]["cummulativeQuoteQty"] == "30000.00000000"
    assert free(client, "BTC") == pytest.approx(0.999)
    assert free(client, "USDT") == pytest.approx(70000)
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        client.create_order("BTC/USDT", "market", "sell", 1.0)  # holds 0.999, not 1.0
    sell = client.create_order("BTC/USDT", "market", "sell", 0.999)
    # 0.999 * 30,000 = 29,970 USDT; commission 29.97 USDT.
    assert sell["info"]["fills"][0]["commission"] == "29.97000000"
    assert sell["info"]["fills"][0]["commissionAsset"] == "USDT"
    assert free(client, "USDT") == pytest.approx(70000 + 29970 - 29.97)
    assert free(client, "BTC") == 0.0
    trades = client.fetch_my_trades("BTC/USDT")
    assert [(t["fee"]["currency"], t["fee"]["cost"]) for t in trades] == [
        ("BTC", 0.001),
        ("USDT", 29.97),
    ]


def test_result_response_has_totals_but_no_fills(fx: FakeExchange, client: ccxt.binance) -> None:
    order = buy(client, 0.5, "res-1", newOrderRespType="RESULT")
    info = order["info"]
    assert "fills" not in info
    assert (info["status"], info["executedQty"], info["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.50000000",
        "15000.00000000",
    )


# -- §5 market order statuses --------------------------------------------------------------


def test_new_then_fill_answers_new_and_fills_later_at_the_price_then(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("new_then_fill", path="/api/v3/order", seconds=2)
    order = buy(client, 1.0, "n-1")
    info = order["info"]
    assert (info["status"], info["executedQty"], info["cummulativeQuoteQty"]) == (
        "NEW",
        "0.00000000",
        "0.00000000",
    )
    assert info["fills"] == [] and order["status"] == "open" and order["filled"] == 0.0
    assert by_cid(client, "n-1")["info"]["status"] == "NEW"
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [order["id"]]
    bal = client.fetch_balance()  # the cost is locked meanwhile
    assert bal["USDT"]["free"] == pytest.approx(70000) and bal["USDT"]["used"] == 30000
    assert bal["BTC"]["free"] == 2.0
    fx.set_price("BTC/USDT", "31000")
    fx.clock.advance(2_000)
    done = by_cid(client, "n-1")
    assert done["status"] == "closed" and done["filled"] == 1.0 and done["cost"] == 31000
    bal = client.fetch_balance()
    assert bal["USDT"]["free"] == pytest.approx(100000 - 31000) and bal["USDT"]["used"] == 0
    assert bal["BTC"]["free"] == pytest.approx(2.999)
    assert [t["fee"]["cost"] for t in client.fetch_my_trades("BTC/USDT")] == [0.001]


def test_new_then_fill_is_not_used_by_a_limit_order(fx: FakeExchange, client: ccxt.binance) -> None:
    fx.add_fault("new_then_fill", path="/api/v3/order", seconds=5)
    limit = client.create_order("BTC/USDT", "limit", "buy", 0.1, 31000)  # marketable
    assert limit["status"] == "closed"
    assert [f.kind for f in fx.faults.pending()] == ["new_then_fill"]
    assert buy(client, 0.1, "n-2")["info"]["status"] == "NEW"
    assert fx.faults.pending() == []


def test_expired_partial_fills_part_and_ends_expired(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("expired_partial", path="/api/v3/order", fill_ratio=0.4)
    order = buy(client, 1.0, "e-1")
    info = order["info"]
    assert (info["status"], info["origQty"], info["executedQty"]) == (
        "EXPIRED",
        "1.00000000",
        "0.40000000",
    )
    assert info["cummulativeQuoteQty"] == "12000.00000000"
    assert [(f["qty"], f["commission"], f["commissionAsset"]) for f in info["fills"]] == [
        ("0.40000000", "0.00040000", "BTC")
    ]
    assert order["status"] == "expired" and order["filled"] == 0.4
    assert by_cid(client, "e-1")["info"]["status"] == "EXPIRED"
    assert client.fetch_open_orders("BTC/USDT") == []
    assert free(client, "BTC") == pytest.approx(2 + 0.4 - 0.0004)
    assert free(client, "USDT") == pytest.approx(100000 - 12000)


def test_expired_partial_rounds_down_to_the_step_and_fills_at_least_one(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("expired_partial", path="/api/v3/order", fill_ratio=0.5, count=2)
    assert buy(client, 0.005, "e-2")["info"]["executedQty"] == "0.00200000"  # 0.0025 → 0.002
    assert buy(client, 0.002, "e-3")["filled"] == 0.001  # 0.001: exactly one step
    fx.add_fault("expired_partial", path="/api/v3/order", fill_ratio=0.001)
    assert buy(client, 0.5, "e-4")["info"]["executedQty"] == "0.00100000"  # 0.0005 → 1 step


def test_faults_are_not_used_up_by_a_refused_order(fx: FakeExchange, client: ccxt.binance) -> None:
    fx.add_fault("expired_partial", path="/api/v3/order", fill_ratio=0.5)
    with pytest.raises(ccxt.InsufficientFunds):
        buy(client, 10.0, "x-1")  # 300,000 USDT > 100,000
    assert buy(client, 1.0, "x-2")["info"]["status"] == "EXPIRED"
