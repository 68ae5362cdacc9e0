"""Fixtures: an in-process fake exchange on real recorded candles, and a real ccxt client."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from botbox_dagster.fake_exchange import FakeExchange, LimitConfig, MarketSpec, make_binance_client


def eth_btc(shared_data: Path) -> MarketSpec:
    """ETH/BTC on 5-minute candles; filters chosen so tests can trip each one."""
    return MarketSpec(
        "ETH/BTC",
        csv_path=shared_data / "candles" / "ETH_BTC-5m.csv",
        tick_size=Decimal("0.00001"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.01"),
        min_notional=Decimal("0.002"),
    )


def unittest_btc(shared_data: Path) -> MarketSpec:
    """UNITTEST/BTC on 1-minute candles (with real gaps)."""
    return MarketSpec("UNITTEST/BTC", csv_path=shared_data / "candles" / "UNITTEST_BTC-1m.csv")


@pytest.fixture
def fx(shared_data: Path) -> Iterator[FakeExchange]:
    """A started fake exchange with 1 BTC, fee 0.1%, and small limits-friendly settings."""
    exchange = FakeExchange(
        [eth_btc(shared_data), unittest_btc(shared_data)],
        balances={"BTC": "1", "ETH": "0"},
        fee_rate="0.001",
        limits=LimitConfig(ban_seconds=2),
    )
    with exchange:
        yield exchange


@pytest.fixture
def client(fx: FakeExchange) -> ccxt.binance:
    """A real ccxt.binance client pointed at ``fx``, markets loaded, short timeout."""
    exchange = make_binance_client(fx.base_url, timeout_ms=1500)
    exchange.load_markets()
    return exchange
