"""The real ccxt.binance client against the in-process fake: markets, data, orders."""

from __future__ import annotations

import itertools
import math

import ccxt
import pytest

from botbox_dagster.fake_exchange import FakeExchange, make_binance_client

FIVE_MIN = 300_000


def test_load_markets_uses_only_exchange_info(fx: FakeExchange) -> None:
    client = make_binance_client(fx.base_url)
    markets = client.load_markets()
    assert set(markets) == {"ETH/BTC", "UNITTEST/BTC"}
    m = markets["ETH/BTC"]
    assert m["spot"] and m["id"] == "ETHBTC"
    assert m["precision"]["amount"] == 0.001 and m["precision"]["price"] == 0.00001
    assert m["limits"]["amount"]["min"] == 0.01 and m["limits"]["cost"]["min"] == 0.002
    assert [(r.method, r.path) for r in fx.requests()] == [("GET", "/api/v3/exchangeInfo")]


def test_exchange_info_entries_keep_the_captured_shape(fx: FakeExchange, shared_data) -> None:
    import json

    captured = json.loads((shared_data / "ccxt" / "binance_selected.json").read_text())
    template = captured["exchangeInfo_symbols"][0]
    ours = fx.symbol_entries[0]
    assert set(template) - {"permissions"} <= set(ours)
    ours_filters = {f["filterType"] for f in ours["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"} <= ours_filters


def test_fetch_ohlcv_pages_beyond_1000_rows_and_ends_with_the_forming_candle(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    now = fx.clock.now_ms()
    since = now - now % FIVE_MIN - 1499 * FIVE_MIN
    rows: list[list] = []
    cursor = since
    while True:
        page = client.fetch_ohlcv("ETH/BTC", "5m", since=cursor, limit=1000)
        rows += page
        if len(page) < 1000:
            break
        cursor = page[-1][0] + 1
    assert len(rows) == 1500
    opens = [r[0] for r in rows]
    assert opens[0] == since and all(b - a == FIVE_MIN for a, b in itertools.pairwise(opens))
    assert opens[-1] <= now < opens[-1] + FIVE_MIN  # the forming candle, as on Binance
    assert [r.path for r in fx.requests()].count("/api/v3/klines") == 2
    default = client.fetch_ohlcv("ETH/BTC", "5m")
    assert len(default) == 500 and default[-1][0] == opens[-1]


def test_fetch_ohlcv_aggregates_longer_timeframes(client: ccxt.binance) -> None:
    hours = client.fetch_ohlcv("UNITTEST/BTC", "1h", limit=5)
    assert len(hours) == 5
    assert all(r[0] % 3_600_000 == 0 for r in hours)
    with pytest.raises(ccxt.BadRequest):
        client.fetch_ohlcv("ETH/BTC", "1m")  # finer than the 5m recording: "Invalid interval."


def test_malformed_rows_reach_the_client(fx: FakeExchange, client: ccxt.binance) -> None:
    now = fx.clock.now_ms()
    t0 = now - now % FIVE_MIN - 5 * FIVE_MIN
    fx.inject_bad_bar("ETH/BTC", t0, "nan")
    fx.inject_gap("ETH/BTC", t0 + FIVE_MIN, t0 + FIVE_MIN)
    rows = client.fetch_ohlcv("ETH/BTC", "5m", since=t0, limit=10)
    assert math.isnan(rows[0][4])
    assert rows[1][0] == t0 + 2 * FIVE_MIN


def test_fetch_ticker_and_balance(fx: FakeExchange, client: ccxt.binance) -> None:
    ticker = client.fetch_ticker("ETH/BTC")
    assert ticker["last"] == float(fx.price("ETH/BTC"))
    assert ticker["high"] >= ticker["last"] >= ticker["low"] > 0
    fx.set_price("ETH/BTC", "0.05")
    assert client.fetch_ticker("ETH/BTC")["last"] == 0.05
    balance = client.fetch_balance()
    assert balance["BTC"]["free"] == 1.0 and balance["ETH"]["total"] == 0.0


def test_a_buy_pays_commission_in_the_base_asset_and_a_sell_in_quote(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    # Binance commission FAQ (docs/venue-contract.md §4), 0.1%: buy 2.0 ETH at 0.1 BTC:
    # pay 0.2 BTC, receive 2.0 - 0.002 = 1.998 ETH. Sell 1.998 at 0.11: receive
    # 0.21978 BTC less 0.00021978 BTC commission.
    fx.set_price("ETH/BTC", "0.1")
    buy = client.create_order("ETH/BTC", "market", "buy", 2.0, params={"newClientOrderId": "sig-1"})
    assert buy["status"] == "closed" and buy["filled"] == 2.0 and buy["average"] == 0.1
    assert buy["clientOrderId"] == "sig-1"
    assert buy["fee"] == {"currency": "ETH", "cost": 0.002}
    bal = client.fetch_balance()
    assert bal["ETH"]["free"] == pytest.approx(1.998)
    assert bal["BTC"]["free"] == pytest.approx(1 - 0.2)
    with pytest.raises(ccxt.InsufficientFunds):  # 2.0 is no longer held
        client.create_order("ETH/BTC", "market", "sell", 2.0)
    fx.set_price("ETH/BTC", "0.11")
    sell = client.create_order("ETH/BTC", "market", "sell", 1.998)
    assert sell["status"] == "closed" and sell["cost"] == pytest.approx(0.21978)
    assert sell["fee"] == {"currency": "BTC", "cost": pytest.approx(0.00021978)}
    assert client.fetch_balance()["BTC"]["free"] == pytest.approx(0.8 + 0.21978 - 0.00021978)
    trades = client.fetch_my_trades("ETH/BTC")
    assert [t["side"] for t in trades] == ["buy", "sell"]


def test_market_orders_fill_at_last_closed_candle_close(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    rows = client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    order = client.create_order("ETH/BTC", "market", "buy", 0.1)
    assert order["average"] == rows[0][4]  # rows[-1] is still forming


def test_a_client_order_id_is_unique_among_open_orders_only(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    # Binance rest-api.md: newClientOrderId is "a unique id among open orders"
    # (docs/venue-contract.md §1). Once filled, the same id places a second order.
    client.create_order("ETH/BTC", "market", "buy", 0.1, params={"newClientOrderId": "dup"})
    again = client.create_order("ETH/BTC", "market", "buy", 0.1, params={"newClientOrderId": "dup"})
    assert again["status"] == "closed"
    assert [o["clientOrderId"] for o in fx.orders()] == ["dup", "dup"]
    # While an order with the id is open (a resting limit), the id is refused.
    fx.set_price("ETH/BTC", "0.05")
    client.create_order("ETH/BTC", "limit", "buy", 1.0, 0.04, params={"newClientOrderId": "rest"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order("ETH/BTC", "market", "buy", 0.1, params={"newClientOrderId": "rest"})


def test_fetch_order_by_client_order_id(client: ccxt.binance) -> None:
    placed = client.create_order(
        "ETH/BTC", "market", "buy", 0.1, params={"newClientOrderId": "cid-7"}
    )
    found = client.fetch_order(None, "ETH/BTC", params={"origClientOrderId": "cid-7"})
    assert found["id"] == placed["id"] and found["status"] == "closed"
    also = client.fetch_order(None, "ETH/BTC", params={"clientOrderId": "cid-7"})
    assert also["id"] == placed["id"]
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "ETH/BTC", params={"origClientOrderId": "never-sent"})
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("42", "ETH/BTC")


def test_filter_and_balance_rejections_map_to_ccxt_errors(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.set_price("ETH/BTC", "0.1")
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.create_order("ETH/BTC", "market", "buy", 0.005)  # below minQty 0.01
    # Binance answers -1013 "Filter failure: NOTIONAL"; ccxt maps -1013 to BadRequest.
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        client.create_order("ETH/BTC", "market", "buy", 0.01)  # 0.001 BTC < 0.002
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        client.private_post_order(
            {
                "symbol": "ETHBTC",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "1",
                "price": "0.100005",
            }
        )
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("ETH/BTC", "market", "buy", 20.0)
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("ETH/BTC", "market", "sell", 1.0)
    assert fx.orders() == []


def test_limit_order_rests_fills_on_cross_and_cancels(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.set_price("ETH/BTC", "0.1")
    resting = client.create_order("ETH/BTC", "limit", "buy", 1.0, 0.09)
    assert resting["status"] == "open"
    # A BUY locks price * quantity only: its commission comes out of the ETH received
    # (faqs/commission_faq.md; docs/venue-contract.md §4).
    assert client.fetch_balance()["BTC"]["used"] == pytest.approx(0.09)
    assert [o["id"] for o in client.fetch_open_orders("ETH/BTC")] == [resting["id"]]
    fx.set_price("ETH/BTC", "0.089")
    assert client.fetch_order(resting["id"], "ETH/BTC")["status"] == "closed"
    other = client.create_order("ETH/BTC", "limit", "sell", 0.5, 0.2)
    canceled = client.cancel_order(other["id"], "ETH/BTC")
    assert canceled["status"] == "canceled"
    assert client.fetch_open_orders("ETH/BTC") == []
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(other["id"], "ETH/BTC")


def test_signed_endpoints_need_credentials(fx: FakeExchange) -> None:
    import json
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{fx.base_url}/api/v3/account?timestamp=1&signature=x", timeout=2)
    assert err.value.code == 401
    assert json.loads(err.value.read())["code"] == -2014


def test_small_public_endpoints(fx: FakeExchange, client: ccxt.binance) -> None:
    assert client.public_get_ping() == {}
    assert abs(client.fetch_time() - fx.clock.now_ms()) < 5_000
    prices = client.public_get_ticker_price()
    assert {p["symbol"] for p in prices} == {"ETHBTC", "UNITTEST/BTC".replace("/", "")}
    one = client.public_get_ticker_price({"symbol": "ETHBTC"})
    assert float(one["price"]) == float(fx.price("ETH/BTC"))
    fifteen = client.fetch_ohlcv("UNITTEST/BTC", "15m", limit=4)
    assert [r[0] % 900_000 for r in fifteen] == [0, 0, 0, 0]


def test_clock_advance_moves_the_forming_candle(fx: FakeExchange, client: ccxt.binance) -> None:
    before = client.fetch_ohlcv("ETH/BTC", "5m", limit=1)[-1][0]
    fx.clock.advance(FIVE_MIN)
    after = client.fetch_ohlcv("ETH/BTC", "5m", limit=1)[-1][0]
    assert after == before + FIVE_MIN
