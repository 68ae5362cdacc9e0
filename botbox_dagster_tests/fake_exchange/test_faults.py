"""Scripted faults and limits as the real ccxt client experiences them."""

from __future__ import annotations

import threading
import time

import ccxt
import pytest

from botbox_dagster.fake_exchange import FakeExchange, LimitConfig, RemoteFakeExchange


def test_weight_limit_429_with_retry_after_then_418_ban(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.set_limits(LimitConfig(weight_per_minute=10, ban_seconds=3))
    for _ in range(5):
        client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "10"
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    assert int(client.last_response_headers["Retry-After"]) > 0
    with pytest.raises(ccxt.DDoSProtection, match="418"):  # kept sending during Retry-After
        client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    assert client.last_response_headers["Retry-After"] == "3"
    statuses = [r.status for r in fx.requests("/api/v3/klines")]
    assert statuses == [200] * 5 + [429, 418]


def test_order_count_limit_answers_429_minus_1015(fx: FakeExchange, client: ccxt.binance) -> None:
    fx.set_limits(LimitConfig(orders_per_10s=2))
    client.create_order("ETH/BTC", "market", "buy", 0.1)
    client.create_order("ETH/BTC", "market", "buy", 0.1)
    assert client.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "2"
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        client.create_order("ETH/BTC", "market", "buy", 0.1)
    assert len(fx.orders()) == 2


def test_error_burst_then_recovery(fx: FakeExchange, client: ccxt.binance) -> None:
    fx.add_fault("error", path="/api/v3/klines", count=3, status=502)
    for _ in range(3):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    assert len(client.fetch_ohlcv("ETH/BTC", "5m", limit=2)) == 2
    assert [r.status for r in fx.requests("/api/v3/klines")] == [502, 502, 502, 200]
    client.fetch_balance()  # other paths were never affected


def test_hang_makes_ccxt_time_out(fx: FakeExchange, client: ccxt.binance) -> None:
    client.timeout = 300
    fx.add_fault("hang", path="/api/v3/ticker", seconds=None)  # never answers
    with pytest.raises(ccxt.RequestTimeout):
        client.fetch_ticker("ETH/BTC")
    fx.add_fault("hang", path="/api/v3/time", seconds=0.1)  # slow but within the timeout
    assert client.fetch_time() > 0
    deadline = time.monotonic() + 2
    while fx.requests("/api/v3/ticker")[0:1] == [] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fx.requests("/api/v3/ticker")[0].status == 0  # no answer was ever sent


def test_reset_after_accept_is_ambiguous_but_the_order_exists(
    fx: FakeExchange, client: ccxt.binance
) -> None:
    fx.add_fault("reset_after_accept", path="/api/v3/order", method="POST")
    with pytest.raises(ccxt.NetworkError):
        client.create_order("ETH/BTC", "market", "buy", 0.1, params={"newClientOrderId": "amb-1"})
    found = client.fetch_order(None, "ETH/BTC", params={"origClientOrderId": "amb-1"})
    assert found["status"] == "closed" and found["filled"] == 0.1
    # The order filled, so Binance accepts its id again: a blind resend is a second order.
    client.create_order("ETH/BTC", "market", "buy", 0.1, params={"newClientOrderId": "amb-1"})
    assert [o["clientOrderId"] for o in fx.orders()] == ["amb-1", "amb-1"]


def test_maintenance_window(fx: FakeExchange, client: ccxt.binance) -> None:
    fx.maintenance(0.3)
    with pytest.raises(ccxt.OnMaintenance):
        client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_balance()
    time.sleep(0.35)
    assert client.fetch_balance()["BTC"]["free"] == 1.0


def test_partial_fill(fx: FakeExchange, client: ccxt.binance) -> None:
    fx.set_price("ETH/BTC", "0.1")
    fx.add_fault("partial_fill", path="/api/v3/order", fill_ratio=0.4)
    order = client.create_order("ETH/BTC", "market", "buy", 1.0, params={"newClientOrderId": "p-1"})
    assert order["info"]["status"] == "PARTIALLY_FILLED" and order["status"] == "open"
    assert order["filled"] == 0.4 and order["remaining"] == 0.6
    assert client.fetch_balance()["ETH"]["free"] == pytest.approx(0.4 - 0.0004)  # base fee
    assert client.create_order("ETH/BTC", "market", "buy", 1.0)["filled"] == 1.0


def test_request_log_and_sliding_windows(fx: FakeExchange, client: ccxt.binance) -> None:
    for _ in range(4):
        client.fetch_ohlcv("ETH/BTC", "5m", limit=2)
    client.fetch_balance()
    records = fx.requests()
    assert [r.path for r in records][-5:] == ["/api/v3/klines"] * 4 + ["/api/v3/account"]
    assert all(r.wall > 1e9 and r.monotonic > 0 for r in records)
    assert records[-2].params["interval"] == "5m" and records[-2].weight == 2
    assert fx.max_requests(1.0, path="/api/v3/klines") == 4
    assert fx.max_weight(60.0) == 20 + 4 * 2 + 20  # exchangeInfo, klines, account


def test_control_endpoints_over_http(fx: FakeExchange, client: ccxt.binance) -> None:
    remote = RemoteFakeExchange(fx.base_url)
    assert remote.health()["ok"]
    remote.add_fault("error", path="/api/v3/account", status=500, count=1)
    assert [f["kind"] for f in remote.call("GET", "faults")] == ["error"]
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_balance()
    remote.set_price("ETH/BTC", "0.1")
    remote.set_balances({"BTC": "2"})
    client.create_order("ETH/BTC", "market", "buy", 1.0, params={"newClientOrderId": "r-1"})
    assert remote.orders("r-1")[0]["status"] == "FILLED"
    assert remote.balances()["ETH"]["free"] == "0.99900000"  # 0.1% commission in ETH
    assert remote.stats(60)["max_requests"] == len(remote.requests())
    assert [r.status for r in remote.requests("/api/v3/account")] == [500]
    remote.reset()
    assert remote.orders() == [] and remote.requests() == []


def test_concurrent_clients(fx: FakeExchange) -> None:
    from botbox_dagster.fake_exchange import make_binance_client

    errors: list[BaseException] = []

    def work() -> None:
        try:
            c = make_binance_client(fx.base_url)
            c.load_markets()
            for _ in range(3):
                c.fetch_ohlcv("UNITTEST/BTC", "1m", limit=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(fx.requests("/api/v3/klines")) == 12
