"""Evaluation: thresholds, contributions, insufficient data, exits, stops, grid, funding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.regime import Regime
from botbox_dagster.domain.scoring import (
    Direction,
    PositionState,
    align_funding,
    evaluate,
    score_frame,
)
from botbox_dagster.domain.strategy import StrategySpec
from botbox_dagster.domain.strategy_config import parse_strategy

T0 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)


def spec(**overrides: Any) -> StrategySpec:
    data: dict[str, Any] = {
        "name": "t",
        "template": "mean_reversion",
        "timeframe": "5m",
        "factors": {"rsi": {"weight": 3.0}, "bollinger": {"weight": 1.0}},
        "entry": {"long_above": 0.5, "short_below": -0.5},
        "exit": {"threshold": 0.0, "on_opposite_signal": True, "max_holding_bars": 6},
        "stop_loss": {"atr": 2.0},
        "take_profit": {"pct": 3.0},
    }
    data.update(overrides)
    return parse_strategy(data, "test")


def frame(rsi: list[float], close: float = 100.0, **cols: list[float]) -> pd.DataFrame:
    """A hand-built indicator frame; Bollinger bands centred on the close (score 0)."""
    n = len(rsi)
    index = pd.date_range(T0, periods=n, freq="5min")
    base = {
        "open": [close] * n,
        "high": [close + 1] * n,
        "low": [close - 1] * n,
        "close": [close] * n,
        "volume": [1.0] * n,
        "rsi_14": rsi,
        "bb_upper_20_2": [close + 5] * n,
        "bb_mid_20_2": [close] * n,
        "bb_lower_20_2": [close - 5] * n,
        "atr_14": [2.0] * n,
    }
    base.update(cols)
    return pd.DataFrame(base, index=index, dtype=float)


@pytest.mark.parametrize(
    ("rsi", "direction"),
    [(20.0, Direction.LONG), (80.0, Direction.SHORT), (45.0, None)],
)
def test_thresholds_give_direction(rsi: float, direction: Direction | None) -> None:
    result = evaluate(spec(), frame([50, rsi]), Regime.RANGING)
    assert result.direction is direction
    assert result.timestamp == pd.Timestamp(T0) + pd.Timedelta(minutes=5)
    if direction is None:
        assert "inside entry thresholds" in result.reason


def test_contributions_sum_to_normalised_score() -> None:
    result = evaluate(spec(), frame([50, 20], close=100, bb_lower_20_2=[99, 99]), None)
    rsi, boll = result.contributions["rsi"], result.contributions["bollinger"]
    assert rsi.value == 20 and rsi.score == 1.0 and rsi.weight == 3.0
    assert rsi.contribution == pytest.approx(0.75)
    assert result.score == pytest.approx(rsi.contribution + boll.contribution)
    assert result.contributions_dict()["rsi"] == {
        "value": 20.0,
        "score": 1.0,
        "weight": 3.0,
        "contribution": 0.75,
    }


def test_warm_up_is_insufficient_data_not_zero() -> None:
    result = evaluate(spec(), frame([np.nan, np.nan]), Regime.RANGING)
    assert result.direction is None and result.score is None
    assert result.reason.startswith("insufficient data (warm-up)")
    assert "rsi" in result.reason


def test_forming_candle_is_ignored() -> None:
    f = frame([50, 20, 80])  # candles open 10:00, 10:05, 10:10
    now = datetime(2024, 1, 1, 10, 14, tzinfo=UTC)
    result = evaluate(spec(), f, None, now=now)
    assert result.timestamp == pd.Timestamp("2024-01-01 10:05", tz="UTC")
    assert result.direction is Direction.LONG
    early = evaluate(spec(), f, None, now=datetime(2024, 1, 1, 10, 4, tzinfo=UTC))
    assert early.timestamp is None and "no closed candle" in early.reason


def test_regime_filter_blocks_but_keeps_candidate() -> None:
    s = spec(regimes=["RANGING"])
    blocked = evaluate(s, frame([50, 20]), Regime.TRENDING_DOWN)
    assert blocked.direction is None and blocked.candidate is Direction.LONG
    assert "regime TRENDING_DOWN" in blocked.reason
    assert evaluate(s, frame([50, 20]), Regime.RANGING).direction is Direction.LONG
    assert evaluate(s, frame([50, 20]), None).direction is None  # unknown regime: no entry


def test_stop_loss_and_take_profit_prices() -> None:
    long = evaluate(spec(), frame([50, 20]), None)
    assert (long.price, long.stop_loss, long.take_profit) == (100.0, 96.0, 103.0)
    short = evaluate(spec(), frame([50, 80]), None)
    assert short.stop_loss == 104.0 and short.take_profit == pytest.approx(97.0)


def test_open_position_closes_on_exit_threshold() -> None:
    long = PositionState(Direction.LONG, T0)
    assert evaluate(spec(), frame([50, 55]), None, long).direction is Direction.CLOSE
    holding = evaluate(spec(), frame([50, 40]), None, long)
    assert holding.direction is None and holding.reason.startswith("holding LONG")
    short = PositionState(Direction.SHORT, T0)
    assert evaluate(spec(), frame([50, 45]), None, short).direction is Direction.CLOSE
    # never stacks a second position, whatever the score says
    assert evaluate(spec(), frame([50, 10]), None, long).direction is None


def test_open_position_closes_on_opposite_signal_and_max_bars() -> None:
    s = spec(exit={"threshold": None, "on_opposite_signal": True, "max_holding_bars": 3})
    long = PositionState(Direction.LONG, T0)
    opposite = evaluate(s, frame([50, 90]), None, long)
    assert opposite.direction is Direction.CLOSE and "opposite signal SHORT" in opposite.reason
    assert evaluate(s, frame([40, 40]), None, long).direction is None  # 2 bars held
    aged = evaluate(s, frame([40, 40, 40]), None, long)
    assert aged.direction is Direction.CLOSE and "held 3 bars" in aged.reason


def test_position_direction_may_be_a_plain_string() -> None:
    pos = PositionState("LONG", T0)  # type: ignore[arg-type]
    assert evaluate(spec(), frame([50, 60]), None, pos).direction is Direction.CLOSE


def grid_spec(**overrides: Any) -> StrategySpec:
    data = {
        "template": "grid",
        "factors": {"rsi": {"weight": 1.0}},
        "entry": {"long_above": 0.9, "short_below": -0.9},
        "exit": {"threshold": None},
        "grid": {"levels": 3, "spacing_pct": 1.0, "reference_bars": 50},
        "stop_loss": {"pct": 3.0},
        "take_profit": {"pct": 1.0},
    }
    data.update(overrides)
    return spec(**data)


def test_grid_level_crossings() -> None:
    ref = [100.0, 100.0]
    down = frame([50, 50], close=100, sma_50=ref)
    down["close"] = [98.5, 97.9]  # crosses level -2 (98.0), not -3 (97.0)
    result = evaluate(grid_spec(), down, None)
    assert result.direction is Direction.LONG and "level -2" in result.reason
    assert result.take_profit == pytest.approx(97.9 * 1.01)
    up = frame([50, 50], close=100, sma_50=ref)
    up["close"] = [100.5, 101.2]
    assert evaluate(grid_spec(), up, None).direction is Direction.SHORT
    flat = frame([50, 50], close=100, sma_50=ref)
    assert "no level crossed" in evaluate(grid_spec(), flat, None).reason


def test_grid_factor_veto() -> None:
    down = frame([50, 90], close=100, sma_50=[100.0, 100.0])  # strongly overbought
    down["close"] = [99.5, 98.9]
    result = evaluate(grid_spec(), down, None)
    assert result.direction is None and "vetoed" in result.reason


def funding_spec() -> StrategySpec:
    return spec(
        template="funding_arbitrage",
        timeframe="1h",
        factors={"funding_rate": {"weight": 1.0}},
    )


def test_funding_required_and_aligned_backwards() -> None:
    f = frame([50, 50, 50])
    f.index = pd.date_range(T0, periods=3, freq="1h")
    missing = evaluate(funding_spec(), f, None)
    assert missing.score is None and "no funding rate" in missing.reason
    rates = pd.Series([0.0001, 0.0005], index=[f.index[0], f.index[2] + pd.Timedelta(seconds=1)])
    np.testing.assert_allclose(align_funding(rates, f.index), [0.0001, 0.0001, 0.0001])
    assert evaluate(funding_spec(), f, None, funding=rates).direction is None
    rates.iloc[0] = 0.0005
    assert evaluate(funding_spec(), f, None, funding=rates).direction is Direction.SHORT


def test_score_frame_matches_evaluate_row_by_row() -> None:
    candles = ind.synthetic_candles(200, seed=3)
    s = spec()
    f = ind.compute_indicators(candles, [ind.rsi(14), ind.bbands(20, 2.0), ind.atr(14)])
    scores = score_frame(s, f)
    for i in (30, 120, 199):
        assert evaluate(s, f.iloc[: i + 1], None).score == pytest.approx(scores["score"].iat[i])
    assert scores["score"].iloc[:13].isna().all()
