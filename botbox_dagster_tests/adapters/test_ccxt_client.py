"""Real ccxt clients pointed at the loopback fake, and ccxt errors translated to BotBox's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest

from botbox_dagster.adapters.ccxt_client import build_client, rebase_urls, translate, used_weight
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.fake_exchange import FakeExchange, LimitConfig, MarketSpec


@pytest.fixture
def fx(shared_data: Path) -> Iterator[FakeExchange]:
    spec = MarketSpec("UNITTEST/BTC", csv_path=shared_data / "candles" / "UNITTEST_BTC-1m.csv")
    with FakeExchange([spec], limits=LimitConfig(ban_seconds=2)) as exchange:
        yield exchange


def test_every_api_url_points_at_the_test_server() -> None:
    client = build_client("binance", api_url="http://127.0.0.1:9")
    urls: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            urls.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(client.urls["api"])
    assert urls and all(u.startswith("http://127.0.0.1:9/") for u in urls)
    assert client.enableRateLimit is False  # the ledger limiter budgets, not ccxt
    assert rebase_urls("https://api.binance.com/api/v3", "http://h:1/") == "http://h:1/api/v3"


def test_unknown_venue() -> None:
    with pytest.raises(ee.UnknownSymbolError, match="no exchange 'nosuchvenue'"):
        build_client("nosuchvenue")


def test_load_markets_and_klines_through_the_fake(fx: FakeExchange) -> None:
    client = build_client("binance", api_url=fx.base_url, timeout_ms=3000)
    client.load_markets()
    assert "UNITTEST/BTC" in client.markets
    rows = client.fetch_ohlcv("UNITTEST/BTC", "1m", limit=3)
    assert len(rows) == 3
    assert used_weight(client, "X-MBX-USED-WEIGHT-1M") == 20 + 2
    assert used_weight(client, None) is None
    assert [r.path for r in fx.requests()] == ["/api/v3/exchangeInfo", "/api/v3/klines"]


def call_error(client: ccxt.Exchange, fn: str, *args: object) -> ee.ExchangeError:
    with pytest.raises(ccxt.BaseError) as caught:
        getattr(client, fn)(*args)
    return translate(caught.value, client, "fake")


def test_errors_are_classified(fx: FakeExchange) -> None:
    client = build_client("binance", api_url=fx.base_url, timeout_ms=3000)
    client.load_markets()
    fx.add_fault("error", path="/api/v3/klines", status=502)
    error = call_error(client, "fetch_ohlcv", "UNITTEST/BTC", "1m")
    assert isinstance(error, ee.TransientExchangeError) and error.retryable
    fx.maintenance(0.3)
    assert isinstance(
        call_error(client, "fetch_ohlcv", "UNITTEST/BTC", "1m"), ee.ExchangeUnavailableError
    )
    fx.faults.clear()
    fx.set_limits(LimitConfig(weight_per_minute=2, ban_seconds=2))
    client.fetch_ohlcv("UNITTEST/BTC", "1m", limit=2)
    limited = call_error(client, "fetch_ohlcv", "UNITTEST/BTC", "1m")
    assert isinstance(limited, ee.RateLimitedError)
    assert limited.status == 429 and limited.retry_after_seconds and limited.retry_after_seconds > 0
    banned = call_error(client, "fetch_ohlcv", "UNITTEST/BTC", "1m")
    assert isinstance(banned, ee.RateLimitedError) and banned.status == 418
    assert banned.retry_after_seconds == 2
    with pytest.raises(ccxt.BadSymbol) as caught:
        client.fetch_ohlcv("NOPE/BTC", "1m")
    assert isinstance(translate(caught.value, client, "fake"), ee.UnknownSymbolError)
