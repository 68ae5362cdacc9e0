"""Regime classification on real stretches of ETH/BTC and on synthetic frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.regime import (
    REGIME_INDICATORS,
    Regime,
    classify_regimes,
    current_regime,
)
from botbox_dagster_tests.domain.test_indicators import load_candles


@pytest.fixture(scope="module")
def eth_btc(shared_data: Path) -> pd.DataFrame:
    candles = load_candles(shared_data / "candles" / "ETH_BTC-5m.csv")
    return ind.compute_indicators(candles, REGIME_INDICATORS)


def share(regimes: pd.Series, regime: Regime) -> float:
    return float((regimes == regime).mean())


@pytest.mark.parametrize(
    ("start", "end", "regime"),
    [
        # ETH/BTC climbed from 0.0925 to 0.0938 in the 4 hours before 01-13 10:05.
        ("2018-01-13 06:10", "2018-01-13 10:05", Regime.TRENDING_UP),
        # and slid from 0.0875 to 0.0836 in the 4 hours before 01-17 15:50.
        ("2018-01-17 11:55", "2018-01-17 15:50", Regime.TRENDING_DOWN),
        # 33 quiet hours from 01-21 12:10.
        ("2018-01-21 12:10", "2018-01-22 21:35", Regime.RANGING),
    ],
)
def test_real_stretches(eth_btc: pd.DataFrame, start: str, end: str, regime: Regime) -> None:
    regimes = classify_regimes(eth_btc).loc[start:end]
    assert share(regimes, regime) > 0.95
    assert current_regime(eth_btc.loc[:end]) is regime


def test_real_data_visits_every_regime(eth_btc: pd.DataFrame) -> None:
    regimes = classify_regimes(eth_btc)
    assert set(regimes.dropna()) == set(Regime)
    assert regimes.iloc[:50].isna().all()  # warm-up: no regime rather than a guess


def synthetic(
    drift: float, noise: float, rows: int = 400, seed: int = 1, choppy: bool = False
) -> pd.DataFrame:
    """A random walk with drift, or (``choppy``) noise around a fixed level."""
    rng = np.random.default_rng(seed)
    steps = drift + rng.normal(0, noise, rows)
    close = 100 * np.exp(steps if choppy else np.cumsum(steps))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = close * noise * 0.5
    candles = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick,
            "low": np.minimum(open_, close) - wick,
            "close": close,
            "volume": np.ones(rows),
        },
        index=pd.date_range("2024-01-01", periods=rows, freq="5min", tz="UTC"),
    )
    return ind.compute_indicators(candles, REGIME_INDICATORS)


@pytest.mark.parametrize(
    ("drift", "choppy", "regime"),
    [
        (0.002, False, Regime.TRENDING_UP),
        (-0.002, False, Regime.TRENDING_DOWN),
        (0.0, True, Regime.RANGING),  # a random walk trends by chance: chop around a level
    ],
)
def test_synthetic_trends_and_range(drift: float, choppy: bool, regime: Regime) -> None:
    f = synthetic(drift, 0.001, choppy=choppy)
    assert share(classify_regimes(f).iloc[100:], regime) > 0.9
    assert current_regime(f) is regime


def test_volatility_burst_is_volatile() -> None:
    quiet = synthetic(0.0, 0.001, rows=300)
    wild = synthetic(0.0, 0.01, rows=300, seed=2)  # ten times the noise
    candles = pd.concat([quiet.iloc[:, :5], wild.iloc[:10, :5] * quiet["close"].iat[-1] / 100])
    candles.index = pd.date_range("2024-01-01", periods=len(candles), freq="5min", tz="UTC")
    f = ind.compute_indicators(candles, REGIME_INDICATORS)
    assert current_regime(f) is Regime.VOLATILE


def test_empty_frame_has_no_regime() -> None:
    assert current_regime(synthetic(0.0, 0.001).iloc[:0]) is None
