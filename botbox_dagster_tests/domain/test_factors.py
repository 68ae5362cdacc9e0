"""Each factor on hand-built inputs: direction, scaling, clipping and NaN handling."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from botbox_dagster.domain import factors as fx

nan = np.nan


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def test_rsi_oversold_scores_long_overbought_short() -> None:
    _, score = fx.score_rsi({"rsi_14": a(10, 30, 40, 50, 70, 95, nan)}, fx.RsiParams())
    np.testing.assert_allclose(score, a(1, 1, 0.5, 0, -1, -1, nan))


def test_ema_cross_gap_in_atrs() -> None:
    cols = {"ema_9": a(101, 99, 100.5, nan), "ema_21": a(100, 100, 100, 100)}
    cols["atr_14"] = a(0.5, 2, 1, 1)
    value, score = fx.score_ema_cross(cols, fx.EmaCrossParams())
    np.testing.assert_allclose(value, a(2, -0.5, 0.5, nan))
    np.testing.assert_allclose(score, a(1, -0.5, 0.5, nan))


def test_macd_histogram_normalised_by_atr() -> None:
    cols = {"macd_hist_12_26_9": a(0.1, -0.5, 0.0), "atr_14": a(1.0, 1.0, 0.0)}
    _, score = fx.score_macd(cols, fx.MacdParams(scale=0.25))
    np.testing.assert_allclose(score, a(0.4, -1, 0))  # flat market (ATR 0, hist 0): neutral


def test_bollinger_percent_b_mean_reversion() -> None:
    cols = {
        "close": a(90, 100, 110, 120, 100),
        "bb_upper_20_2": a(110, 110, 110, 110, 100),
        "bb_lower_20_2": a(90, 90, 90, 90, 100),
    }
    pct_b, score = fx.score_bollinger(cols, fx.BollingerParams())
    np.testing.assert_allclose(pct_b, a(0, 0.5, 1, 1.5, 0.5))
    np.testing.assert_allclose(score, a(1, 0, -1, -1, 0))


def test_atr_breakout_follows_the_move() -> None:
    cols = {"close": a(103, 99, 95), "sma_20": a(100, 100, 100), "atr_14": a(1, 1, 1)}
    value, score = fx.score_atr_breakout(cols, fx.AtrBreakoutParams(multiplier=2.0))
    np.testing.assert_allclose(value, a(3, -1, -5))
    np.testing.assert_allclose(score, a(1, -0.5, -1))


def test_volume_spike_signed_by_candle_direction() -> None:
    cols = {
        "open": a(10, 10, 10, 10, 10),
        "close": a(11, 9, 11, 10, 11),
        "volume": a(300, 300, 150, 500, nan),
        "volume_sma_20": a(100, 100, 100, 100, 100),
    }
    ratio, score = fx.score_volume_spike(cols, fx.VolumeSpikeParams(threshold=3.0))
    np.testing.assert_allclose(ratio, a(3, 3, 1.5, 5, nan))
    np.testing.assert_allclose(score, a(1, -1, 0.25, 0, nan))  # doji: no direction


def test_adx_trend_strength_times_direction() -> None:
    cols = {"adx_14": a(10, 30, 30, 50), "dmp_14": a(30, 30, 10, 10), "dmn_14": a(10, 10, 30, 30)}
    _, score = fx.score_adx_trend(cols, fx.AdxTrendParams(min_adx=20, full_adx=40))
    np.testing.assert_allclose(score, a(0, 0.5, -0.5, -1))


def test_positive_funding_favours_short() -> None:
    cols = {fx.FUNDING_COLUMN: a(0.0001, 0.0003, 0.0006, -0.0001, nan)}
    _, score = fx.score_funding_rate(cols, fx.FundingRateParams(neutral=0.0001, scale=0.0002))
    np.testing.assert_allclose(score, a(0, -1, -1, 1, nan))


def test_params_problems_reported() -> None:
    assert fx.RsiParams(oversold=80).problems()
    assert fx.EmaCrossParams(fast=30, slow=20).problems()[0][0] == "fast"
    assert fx.VolumeSpikeParams(threshold=1.0).problems()[0][0] == "threshold"
    assert not fx.AdxTrendParams().problems()


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
positive = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(close=positive, open_=positive, level=finite, other=finite, scale=positive)
def test_every_factor_stays_in_bounds(close, open_, level, other, scale) -> None:
    cols = {
        "open": a(open_),
        "close": a(close),
        "volume": a(scale),
        fx.FUNDING_COLUMN: a(level / 1e6),
    }
    for factor in fx.FACTORS.values():
        params = factor.params_type()
        for i, col in enumerate(factor.columns(params)):
            cols.setdefault(col, a(abs(other) if "atr" in col or "sma" in col else level + i))
        _, score = factor.evaluate(cols, params)
        assert np.all((score >= -1) & (score <= 1) | np.isnan(score)), factor.name
