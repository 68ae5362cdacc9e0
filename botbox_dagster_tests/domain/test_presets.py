"""The five presets: they parse, and each signals both ways on real (or real + synthetic) data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.errors import ConfigError
from botbox_dagster.domain.presets import PRESET_NAMES, load_preset, preset_mapping
from botbox_dagster.domain.regime import REGIME_INDICATORS, classify_regimes
from botbox_dagster.domain.scoring import Direction, evaluate
from botbox_dagster.domain.strategy import StrategySpec, Template, required_indicators
from botbox_dagster_tests.domain.test_indicators import load_candles

EXPECTED_TIMEFRAMES = {
    "scalping": "1m",
    "mean_reversion": "5m",
    "trend_following": "15m",
    "grid": "5m",
    "funding_arbitrage": "1h",
}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_parses(name: str) -> None:
    spec = load_preset(name)
    assert spec.name == name and spec.template is Template(name)
    assert spec.timeframe == EXPECTED_TIMEFRAMES[name]
    assert spec.description and spec.stop_loss and spec.take_profit
    assert required_indicators(spec)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="is not a preset"):
        preset_mapping("moonshot")


def directions(
    spec: StrategySpec, candles: pd.DataFrame, funding: pd.Series | None = None
) -> set[Direction]:
    """Directions the spec signals walking bar by bar through the candles, regime included."""
    f = ind.compute_indicators(candles, required_indicators(spec) | set(REGIME_INDICATORS))
    regimes = classify_regimes(f)
    bar = pd.Timedelta(minutes=spec.timeframe_minutes)
    seen: set[Direction] = set()
    for i in range(len(f)):
        ts = f.index[i]
        result = evaluate(spec, f, regimes.iat[i], funding=funding, now=ts + bar)
        if result.direction is not None:
            seen.add(result.direction)
            if len(seen) == 2:
                break
    return seen


@pytest.mark.parametrize(
    ("name", "csv", "resample"),
    [
        ("scalping", "UNITTEST_BTC-1m.csv", None),
        ("mean_reversion", "ETH_BTC-5m.csv", None),
        ("trend_following", "ETH_BTC-5m.csv", "15min"),
        ("grid", "ETH_BTC-5m.csv", None),
    ],
)
def test_preset_signals_long_and_short_on_real_data(
    shared_data: Path, name: str, csv: str, resample: str | None
) -> None:
    candles = load_candles(shared_data / "candles" / csv)
    if resample:
        candles = candles.resample(resample, label="left", closed="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
    assert directions(load_preset(name), candles) == {Direction.LONG, Direction.SHORT}


@pytest.fixture
def xrp(shared_data: Path) -> tuple[pd.DataFrame, pd.Series]:
    candles = load_candles(shared_data / "candles" / "XRP_USDT_USDT-1h-futures.csv")
    raw = pd.read_csv(shared_data / "candles" / "XRP_USDT_USDT-8h-funding_rate.csv")
    funding = pd.Series(
        raw["funding_rate"].to_numpy(), index=pd.to_datetime(raw["timestamp"], unit="ms", utc=True)
    )
    return candles, funding


def test_funding_arbitrage_on_real_funding(xrp: tuple[pd.DataFrame, pd.Series]) -> None:
    candles, funding = xrp
    spec = load_preset("funding_arbitrage")
    f = ind.compute_indicators(candles, required_indicators(spec))
    result = evaluate(spec, f, None, funding=funding)
    # The last 1h candle opens 2021-11-21 04:00; the rate in force was published at 00:00.
    assert result.contributions["funding_rate"].value == pytest.approx(0.00013862)
    assert result.score is not None
    # Before the first rate given there is no funding score (no lookahead, no silent 0).
    early = evaluate(spec, f.loc[:"2021-11-17 20:00"], None, funding=funding.loc["2021-11-18":])
    assert early.score is None and "funding_rate" in early.reason


def test_funding_arbitrage_signals_both_ways(xrp: tuple[pd.DataFrame, pd.Series]) -> None:
    """The real window only has near-baseline rates (0.0001-0.00014): stress them."""
    candles, funding = xrp
    spec = load_preset("funding_arbitrage")
    stressed = funding.copy()
    window = stressed.loc["2021-11-18":]
    stressed.loc[window.index[::2]] = 0.0006  # crowded longs pay 0.06% per 8 h
    stressed.loc[window.index[1::2]] = -0.0003  # crowded shorts
    assert directions(spec, candles, stressed) == {Direction.LONG, Direction.SHORT}
    assert directions(spec, candles, funding) == set()
