"""A loopback fake of Binance's spot REST API for the real ccxt client.

In process::

    with FakeExchange([MarketSpec("ETH/BTC", csv_path=...)], balances={"BTC": "1"}) as fx:
        client = make_binance_client(fx.base_url)
        client.load_markets()

As a process: ``python -m botbox_dagster.fake_exchange --port 0 --candles-dir DIR
--symbol ETH/BTC=ETH_BTC-5m.csv`` prints ``{"base_url": ..., "port": ...}`` once listening;
script it over ``/_fake/*`` (see ``control.py``) or with ``RemoteFakeExchange``.
"""

from __future__ import annotations

from botbox_dagster.fake_exchange.candles import TimeShift
from botbox_dagster.fake_exchange.client import make_binance_client
from botbox_dagster.fake_exchange.clock import FakeClock
from botbox_dagster.fake_exchange.faults import Fault
from botbox_dagster.fake_exchange.limits import LimitConfig
from botbox_dagster.fake_exchange.markets import MarketSpec
from botbox_dagster.fake_exchange.remote import RemoteFakeExchange
from botbox_dagster.fake_exchange.requests_log import RequestRecord, max_in_window
from botbox_dagster.fake_exchange.server import FakeExchange

__all__ = [
    "FakeClock",
    "FakeExchange",
    "Fault",
    "LimitConfig",
    "MarketSpec",
    "RemoteFakeExchange",
    "RequestRecord",
    "TimeShift",
    "make_binance_client",
    "max_in_window",
]
