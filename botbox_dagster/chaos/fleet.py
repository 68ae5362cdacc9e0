"""The generated world of a chaos run: markets, candles for the fake, a fleet of live bots."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

ACCOUNT = "fake"
KEY_ENV, SECRET_ENV = "BOTBOX_CHAOS_KEY", "BOTBOX_CHAOS_SECRET"
QUOTE = "USDT"
BASES = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LTC", "LINK", "AVAX")
PRICE = 100.0  # every market's fill price is pinned here, so sizes and notionals are predictable
TRADE_SIZE = 0.5  # base units per entry: notional 50 USDT


def markets(count: int = 10) -> list[str]:
    """``count`` spot symbols (at most 10)."""
    return [f"{base}/{QUOTE}" for base in BASES[:count]]


def write_candles(folder: Path, symbols: list[str], bars: int = 120) -> dict[str, Path]:
    """A flat 1-minute recording per symbol (the fake needs a feed; fills use the pinned price)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = (int(time.time()) // 60 - bars) * 60_000
    files = {}
    for symbol in symbols:
        path = folder / f"{symbol.replace('/', '_')}-1m.csv"
        with path.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["timestamp", "open", "high", "low", "close", "volume"])
            for i in range(bars):
                out.writerow([start + i * 60_000, PRICE, PRICE * 1.001, PRICE * 0.999, PRICE, 10])
        files[symbol] = path
    return files


def bot_ids(count: int) -> list[str]:
    """Stable bot ids ``chaos-000``..."""
    return [f"chaos-{i:03d}" for i in range(count)]


def fleet_doc(
    api_url: str,
    bots: int,
    symbols: list[str],
    *,
    weight_per_minute: int,
    orders_per_10s: int,
) -> dict[str, Any]:
    """``bots`` live scalping bots spread over ``symbols``, on one ccxt account at ``api_url``."""
    return {
        "exchanges": {
            ACCOUNT: {
                "venue": "binance",
                "execution": "ccxt",
                "market_data": "ccxt",
                "api_url": api_url,
                "markets": symbols,
                "api_key_env": KEY_ENV,
                "secret_env": SECRET_ENV,
                "weight_per_minute": weight_per_minute,
                "orders_per_10s": orders_per_10s,
                "max_open_positions": 10_000,
            }
        },
        "bots": [
            {
                "id": bot_id,
                "strategy": "scalping",
                "exchange": ACCOUNT,
                "symbol": symbols[i % len(symbols)],
                "check_interval_minutes": 1,
                "mode": "live",
                "capital": 1000.0,
            }
            for i, bot_id in enumerate(bot_ids(bots))
        ],
    }
