"""A deterministic synthetic recording for the demo, so ``make demo`` needs no data download.

Each market is a seeded random walk with regime switches (quiet range, trend up, trend down,
volatile) so every strategy template meets conditions it trades in, written in the CSV format of
``shared/data/candles``. The same seed always gives the same files. To replay real candles
instead, point an exchange's ``replay_dir`` at any folder of such CSVs (README, "Market data").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from botbox_dagster.adapters.market_data.replay import symbol_to_stem


@dataclass(frozen=True)
class SyntheticMarket:
    symbol: str
    start_price: float
    volatility: float  # per-minute log-return standard deviation in a quiet regime
    volume: float


DEMO_MARKETS = (
    SyntheticMarket("BTC/USDT", 64_000.0, 0.0007, 12.0),
    SyntheticMarket("ETH/USDT", 3_100.0, 0.0009, 180.0),
    SyntheticMarket("SOL/USDT", 145.0, 0.0013, 2_400.0),
    SyntheticMarket("XRP/USDT", 0.52, 0.0012, 350_000.0),
    SyntheticMarket("DOGE/USDT", 0.12, 0.0015, 1_500_000.0),
    SyntheticMarket("ETH/BTC", 0.048, 0.0006, 90.0),
)

# (drift per minute, volatility multiplier): range, up, down, volatile
_REGIMES = np.array([[0.0, 1.0], [0.00025, 1.1], [-0.00025, 1.1], [0.0, 2.6]])


def generate(market: SyntheticMarket, bars: int, seed: int = 7) -> pd.DataFrame:
    """``bars`` one-minute candles starting 2024-01-01 00:00 UTC."""
    rng = np.random.default_rng(seed + zlib.crc32(market.symbol.encode()))
    regime = np.zeros(bars, dtype=int)
    current = 0
    for i in range(bars):
        if i % 90 == 0 and rng.random() < 0.45:
            current = int(rng.integers(0, len(_REGIMES)))
        regime[i] = current
    drift = _REGIMES[regime, 0]
    vol = market.volatility * _REGIMES[regime, 1]
    returns = drift + vol * rng.standard_normal(bars)
    close = market.start_price * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[market.start_price], close[:-1]])
    wick = np.abs(rng.standard_normal((2, bars))) * vol * close * 0.6
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = market.volume * np.exp(0.5 * rng.standard_normal(bars)) * (1 + 3 * (regime == 3))
    start_ms = 1_704_067_200_000  # 2024-01-01T00:00Z
    return pd.DataFrame(
        {
            "timestamp": start_ms + np.arange(bars, dtype=np.int64) * 60_000,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


FUNDING_MARKETS = ("XRP/USDT",)


def generate_funding(symbol: str, periods: int = 90, seed: int = 7) -> pd.DataFrame:
    """8-hourly funding rates that swing between paying longs, neutral and paying shorts."""
    rng = np.random.default_rng(seed + zlib.crc32(symbol.encode()) + 1)
    level = np.repeat(rng.choice([-0.0004, 0.0001, 0.0006], size=periods // 6 + 1), 6)[:periods]
    rates = level + rng.normal(0, 0.00005, periods)
    start_ms = 1_704_067_200_000
    return pd.DataFrame(
        {
            "timestamp": start_ms + np.arange(periods, dtype=np.int64) * 8 * 3_600_000,
            "funding_rate": rates,
        }
    )


def write_recording(folder: Path, *, days: int = 3, seed: int = 7) -> list[Path]:
    """Write one ``<MARKET>-1m.csv`` per demo market and funding rates for the perpetual-style
    market of the funding-arbitrage bot (skips files that already exist)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for symbol in FUNDING_MARKETS:
        path = folder / f"{symbol_to_stem(symbol)}-8h-funding_rate.csv"
        if not path.exists():
            generate_funding(symbol, seed=seed).to_csv(path, index=False, float_format="%.8g")
            written.append(path)
    for market in DEMO_MARKETS:
        path = folder / f"{symbol_to_stem(market.symbol)}-1m.csv"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            generate(market, days * 1440, seed).to_csv(tmp, index=False, float_format="%.10g")
            tmp.replace(path)
            written.append(path)
    return written
