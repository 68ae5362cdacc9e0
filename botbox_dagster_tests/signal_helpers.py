"""Builders shared by the signal tests: a real ledger file with a fleet and stored candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.fleet import parse_fleet

TICK = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # a boundary of every interval

# RSI is always below 98, so this strategy always scores +1: a LONG on every check.
ALWAYS_LONG: dict[str, Any] = {
    "template": "scalping",
    "timeframe": "1m",
    "factors": {"rsi": {"weight": 1.0, "params": {"length": 14, "oversold": 98, "overbought": 99}}},
    "entry": {"long_above": 0.5, "short_below": None},
    "exit": {"threshold": 0.0, "on_opposite_signal": True},
    "stop_loss": {"pct": 1.0},
    "take_profit": {"pct": 2.0},
    "sizing": {"fraction": 0.1},
}


def bot(bot_id: str, symbol: str = "BTC/USDT", strategy: str = "always-long", **kw: Any) -> dict:
    return {
        "id": bot_id,
        "strategy": strategy,
        "exchange": "paper",
        "symbol": symbol,
        "check_interval_minutes": kw.pop("interval", 1),
        "capital": kw.pop("capital", 1000.0),
        **kw,
    }


def fleet_doc(
    bots: list[dict], strategies: dict[str, Any] | None = None, max_open: int = 50
) -> dict:
    return {
        "exchanges": {
            "paper": {
                "venue": "binance",
                "execution": "paper",
                "market_data": "replay",
                "replay_dir": "/nonexistent",
                "max_open_positions": max_open,
            }
        },
        "strategies": {"always-long": ALWAYS_LONG, **(strategies or {})},
        "bots": bots,
    }


def random_walk(
    end: datetime, timeframe: str, bars: int, seed: int, start_price: float
) -> pd.DataFrame:
    """``bars`` closed bars of ``timeframe`` whose last one closes at ``end``."""
    rng = np.random.default_rng(seed)
    step = timeframes.delta(timeframe)
    index = pd.date_range(end - step * bars, periods=bars, freq=step, tz="UTC")
    close = start_price * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    open_ = np.concatenate([[start_price], close[:-1]])
    wick = np.abs(rng.normal(0, 0.001, bars)) * close
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick,
            "low": np.minimum(open_, close) - wick,
            "close": close,
            "volume": rng.uniform(1.0, 10.0, bars),
        },
        index=index,
    )


def store_candles(
    store: LedgerStore,
    symbol: str,
    end: datetime = TICK,
    *,
    timeframes_: tuple[str, ...] = ("1m", "5m", "15m", "1h"),
    bars: int = 320,
    seed: int = 1,
    price: float = 100.0,
) -> None:
    for i, tf in enumerate(timeframes_):
        frame = random_walk(end, tf, bars, seed + i, price)
        store.upsert_candles("paper", symbol, tf, frame, source="test", now=end)


def make_ledger(
    path: Path,
    bots: list[dict],
    *,
    strategies: dict[str, Any] | None = None,
    symbols: tuple[str, ...] = ("BTC/USDT",),
    max_open: int = 50,
    end: datetime = TICK,
) -> LedgerStore:
    store = LedgerStore(path)
    store.load_fleet(parse_fleet(fleet_doc(bots, strategies, max_open), "test fleet"), now=end)
    for i, symbol in enumerate(symbols):
        store_candles(store, symbol, end, seed=10 * i + 1)
    return store


def open_position(
    store: LedgerStore,
    bot_id: str,
    direction: str,
    *,
    symbol: str = "BTC/USDT",
    amount: float = 1.0,
    price: float = 100.0,
    opened_at: datetime = TICK - timedelta(hours=1),
) -> None:
    store.run(
        lambda c: c.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "status, open_key, opened_at) VALUES (?, 'paper', ?, ?, ?, ?, 'OPEN', ?, ?)",
            [bot_id, symbol, direction, amount, price, f"{bot_id}|{symbol}", opened_at],
        )
    )
