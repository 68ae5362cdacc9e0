"""Fixtures for market-data tests: a ledger file, a replay folder, a fake exchange."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.fake_exchange import FakeExchange, MarketSpec


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    """A migrated DuckDB ledger in a temporary file."""
    return LedgerStore(tmp_path / "ledger.duckdb")


@pytest.fixture
def replay_dir(tmp_path: Path, shared_data: Path) -> Path:
    """Recordings named as the replay source expects (UNITTEST/BTC 1m, ETH/BTC 5m only)."""
    folder = tmp_path / "replay"
    folder.mkdir()
    for name in ("UNITTEST_BTC-1m.csv", "ETH_BTC-5m.csv", "XRP_USDT_USDT-5m-futures.csv"):
        shutil.copy(shared_data / "candles" / name, folder / name)
    return folder


@pytest.fixture
def fx(shared_data: Path) -> Iterator[FakeExchange]:
    """A started fake exchange serving UNITTEST/BTC and XRP/ETH on 1-minute candles."""
    candles = shared_data / "candles"
    exchange = FakeExchange(
        [
            MarketSpec("UNITTEST/BTC", csv_path=candles / "UNITTEST_BTC-1m.csv"),
            MarketSpec("XRP/ETH", csv_path=candles / "XRP_ETH-1m.csv"),
        ]
    )
    with exchange:
        yield exchange
