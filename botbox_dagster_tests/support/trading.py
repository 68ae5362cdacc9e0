"""Builders for the execution tests: a real ledger with a fleet, queue rows, venues, a fake.

Everything is real: a DuckDB file in ``tmp_path``, the fleet loaded through ``parse_fleet`` and
``LedgerStore.load_fleet``, the real ccxt client against the loopback fake exchange. Helpers are
plain functions (imported by the Dagster tests too); fixtures only start the fake exchange.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.exchanges.base import Exchange
from botbox_dagster.adapters.exchanges.ccxt_live import LiveExchange
from botbox_dagster.adapters.exchanges.paper import PaperExchange, PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.venues import live_venue
from botbox_dagster.domain import circuit_breaker as cb
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.fleet import parse_fleet
from botbox_dagster.fake_exchange import FakeExchange, MarketSpec
from botbox_dagster.services.executor import ExecutionSettings, Executor
from botbox_dagster_tests.signal_helpers import ALWAYS_LONG

PRICE = 100.0  # close of the newest paper bar of BTC/USDT
LIVE_PRICE = Decimal("0.05")  # the fake's ETH/BTC fill price
KEY_ENV, SECRET_ENV = "BOTBOX_TEST_KEY", "BOTBOX_TEST_SECRET"
_ids = itertools.count(1)


def paper_bot(bot_id: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": bot_id,
        "strategy": "always-long",
        "exchange": kw.pop("exchange", "paper"),
        "symbol": kw.pop("symbol", "BTC/USDT"),
        "check_interval_minutes": 1,
        "capital": kw.pop("capital", 1000.0),
        **kw,
    }


def live_bot(bot_id: str, **kw: Any) -> dict[str, Any]:
    return paper_bot(bot_id, exchange="live", symbol="ETH/BTC", mode="live", **kw)


def fleet_doc(bots: list[dict[str, Any]], live_url: str | None = None) -> dict[str, Any]:
    exchanges: dict[str, Any] = {
        "paper": {
            "venue": "binance",
            "execution": "paper",
            "market_data": "replay",
            "replay_dir": "/nonexistent",
        }
    }
    if live_url is not None:
        exchanges["live"] = {
            "venue": "binance",
            "execution": "ccxt",
            "market_data": "replay",
            "replay_dir": "/nonexistent",
            "api_url": live_url,
            "api_key_env": KEY_ENV,
            "secret_env": SECRET_ENV,
        }
    return {"exchanges": exchanges, "strategies": {"always-long": ALWAYS_LONG}, "bots": bots}


def flat_bars(end: datetime, closes: list[float], lows=None, highs=None) -> pd.DataFrame:
    """1-minute bars, the last one opening at ``end``."""
    n = len(closes)
    index = pd.date_range(end - timedelta(minutes=n - 1), periods=n, freq="1min", tz="UTC")
    return pd.DataFrame(
        {
            "open": closes,
            "high": highs or [c * 1.001 for c in closes],
            "low": lows or [c * 0.999 for c in closes],
            "close": closes,
            "volume": [1.0] * n,
        },
        index=index,
    )


def set_market(store: LedgerStore, price: float, symbol: str = "BTC/USDT") -> None:
    """The market trades at ``price`` now: a 1m bar in the current minute closing there."""
    start = timeframes.floor(datetime.now(UTC), "1m")
    store.upsert_candles("paper", symbol, "1m", flat_bars(start, [price]), source="test")


def make_store(
    tmp_path: Path,
    bots: list[dict[str, Any]],
    *,
    live_url: str | None = None,
    price: float = PRICE,
    name: str = "ledger.duckdb",
) -> LedgerStore:
    """A ledger with the fleet loaded and a few flat 1m BTC/USDT bars at ``price``."""
    store = LedgerStore(tmp_path / name)
    store.load_fleet(parse_fleet(fleet_doc(bots, live_url), "test fleet"))
    end = timeframes.floor(datetime.now(UTC), "1m") - timedelta(minutes=1)
    store.upsert_candles("paper", "BTC/USDT", "1m", flat_bars(end, [price] * 5), source="test")
    return store


def enqueue(
    store: LedgerStore,
    bot_id: str,
    direction: str = "LONG",
    *,
    exchange: str = "paper",
    symbol: str = "BTC/USDT",
    size: float = 1.0,
    entry: float | None = None,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    created_at: datetime | None = None,
    ttl_seconds: float = 300.0,
    cid: str | None = None,
    status: str = "PENDING",
    run_id: str | None = None,
) -> int:
    """Insert a trade_queue row as the signal tick would; return its id."""
    created = created_at or datetime.now(UTC)
    cid = cid or f"bb-test-{next(_ids):05d}-{bot_id}"[:36]
    pending_key = f"{bot_id}|{symbol}|{direction}" if status == "PENDING" else None
    row = store.run(
        lambda c: c.execute(
            "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, entry_price, "
            "stop_loss, take_profit, position_size, status, attempts, client_order_id, "
            "pending_key, priority, run_id, created_at, updated_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                bot_id,
                exchange,
                symbol,
                direction,
                entry,
                stop_loss,
                take_profit,
                size,
                status,
                cid,
                pending_key,
                0 if direction == "CLOSE" else 100,
                run_id,
                created,
                created,
                created + timedelta(seconds=ttl_seconds),
            ],
        ).fetchone()
    )
    return int(row[0])


def rows_of(store: LedgerStore, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The result of a query as dicts."""

    def work(conn: Any) -> list[dict[str, Any]]:
        cur = conn.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    return store.run(work)


def queue(store: LedgerStore) -> dict[int, dict[str, Any]]:
    """Every trade_queue row by id."""
    return {r["id"]: r for r in rows_of(store, "SELECT * FROM trade_queue ORDER BY id")}


def table(store: LedgerStore, name: str) -> list[dict[str, Any]]:
    """Every row of a ledger table."""
    return rows_of(store, f"SELECT * FROM {name}")


def make_executor(
    store: LedgerStore,
    account: str = "paper",
    *,
    paper: PaperSettings | None = None,
    live: Exchange | None = None,
    breaker: LedgerCircuitBreaker | None = None,
    settings: ExecutionSettings | None = None,
    run_id: str = "run-1",
    alive: Callable[[str], bool] = lambda _r: False,
) -> Executor:
    return Executor(
        store,
        account,
        PaperExchange(store, account, paper or PaperSettings()),
        live,
        breaker or LedgerCircuitBreaker(store, account),
        settings or ExecutionSettings(retry_base_seconds=0.0),
        run_id,
        alive,
    )


def live_exchange(store: LedgerStore, timeout_ms: int = 1500) -> LiveExchange:
    """The live venue exactly as a run builds it (keys from the environment)."""
    venue = live_venue(store, store.exchange_accounts()["live"], timeout_ms=timeout_ms)
    assert isinstance(venue, LiveExchange)
    venue.limiter.max_wait_seconds = 2.0
    return venue


def fast_breaker(store: LedgerStore, account: str, clock: Callable[[], float]):
    return LedgerCircuitBreaker(
        store, account, cb.BreakerConfig(open_seconds=30.0, probe_timeout_seconds=30.0), clock
    )


@pytest.fixture
def fx(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExchange]:
    """A started fake Binance listing ETH/BTC at a pinned price; 10 BTC; fee 0.1%."""
    monkeypatch.setenv(KEY_ENV, "fake-key")
    monkeypatch.setenv(SECRET_ENV, "fake-secret")
    exchange = FakeExchange(
        [
            MarketSpec(
                "ETH/BTC",
                csv_path=shared_data / "candles" / "ETH_BTC-5m.csv",
                tick_size=Decimal("0.00001"),
                step_size=Decimal("0.001"),
                min_qty=Decimal("0.01"),
                min_notional=Decimal("0.002"),
            )
        ],
        balances={"BTC": "10", "ETH": "0"},
        fee_rate="0.001",
    )
    with exchange:
        exchange.set_price("ETH/BTC", LIVE_PRICE)
        yield exchange
