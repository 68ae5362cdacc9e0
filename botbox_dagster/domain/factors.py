"""The factor library: each factor maps indicator values to a score in [-1, 1].

+1 means "as bullish as this factor gets", -1 as bearish, 0 neutral. A strategy is a weighted
sum of factor scores, so every factor must be bounded and comparable: scores are clipped to
[-1, 1], and price distances are normalised by ATR (or by the price) so that one set of
parameters works on 1-minute BTC and on 1-hour altcoins alike.

Scoring functions are plain numpy: they take a mapping of column name to array (one row for a
live evaluation, the whole frame for a backtest or a test) and return ``(value, score)``
arrays. NaN inputs (indicator warm-up, missing funding) give NaN scores, never a silent 0:
the evaluation turns them into "insufficient data".

Each factor's parameters are a frozen dataclass with documented defaults; ``problems()``
reports cross-field constraints so that strategy parsing can say exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.indicators import Indicator

FUNDING_COLUMN = "funding_rate"
Columns = Mapping[str, np.ndarray]
Problems = list[tuple[str, str]]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den where a zero denominator (flat market) gives 0 for 0 and ±inf otherwise."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = num / den
    return np.where((den == 0) & (num == 0), 0.0, out)


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -1.0, 1.0)  # NaN passes through np.clip unchanged


def _lengths(**lengths: int) -> Problems:
    return [(k, f"must be at least 2, got {v}") for k, v in lengths.items() if v < 2]


@dataclass(frozen=True)
class RsiParams:
    """RSI mean reversion: +1 at or below ``oversold``, -1 at or above ``overbought``.

    Linear in between, 0 at the midpoint of the two levels.
    """

    length: int = 14
    oversold: float = 30.0
    overbought: float = 70.0

    def problems(self) -> Problems:
        out = _lengths(length=self.length)
        if not 0 < self.oversold < self.overbought < 100:
            out.append(("oversold", "must satisfy 0 < oversold < overbought < 100"))
        return out


def score_rsi(c: Columns, p: RsiParams) -> tuple[np.ndarray, np.ndarray]:
    value = c[ind.rsi(p.length).column]
    mid = (p.oversold + p.overbought) / 2
    return value, _clip((mid - value) / (mid - p.oversold))


@dataclass(frozen=True)
class EmaCrossParams:
    """Trend by EMA cross: fast EMA above slow is bullish; a gap of ``scale`` ATRs scores ±1."""

    fast: int = 9
    slow: int = 21
    atr_length: int = 14
    scale: float = 1.0

    def problems(self) -> Problems:
        out = _lengths(fast=self.fast, slow=self.slow, atr_length=self.atr_length)
        if self.fast >= self.slow:
            out.append(("fast", f"must be below slow ({self.slow}), got {self.fast}"))
        return out


def score_ema_cross(c: Columns, p: EmaCrossParams) -> tuple[np.ndarray, np.ndarray]:
    gap = c[ind.ema(p.fast).column] - c[ind.ema(p.slow).column]
    value = _ratio(gap, c[ind.atr(p.atr_length).column])  # gap in ATRs
    return value, _clip(value / p.scale)


@dataclass(frozen=True)
class MacdParams:
    """MACD momentum: the histogram in ATRs; ``scale`` ATRs of histogram score ±1."""

    fast: int = 12
    slow: int = 26
    signal: int = 9
    atr_length: int = 14
    scale: float = 0.25

    def problems(self) -> Problems:
        out = _lengths(fast=self.fast, slow=self.slow, signal=self.signal)
        out += _lengths(atr_length=self.atr_length)
        if self.fast >= self.slow:
            out.append(("fast", f"must be below slow ({self.slow}), got {self.fast}"))
        return out


def score_macd(c: Columns, p: MacdParams) -> tuple[np.ndarray, np.ndarray]:
    hist = c[ind.macd(p.fast, p.slow, p.signal).columns[2]]
    value = _ratio(hist, c[ind.atr(p.atr_length).column])
    return value, _clip(value / p.scale)


@dataclass(frozen=True)
class BollingerParams:
    """Bollinger %B mean reversion: +1 at the lower band, 0 at the middle, -1 at the upper.

    The value reported is %B (0 at the lower band, 1 at the upper).
    """

    length: int = 20
    std: float = 2.0

    def problems(self) -> Problems:
        return _lengths(length=self.length)


def score_bollinger(c: Columns, p: BollingerParams) -> tuple[np.ndarray, np.ndarray]:
    upper, _, lower = ind.bbands(p.length, p.std).columns
    width = c[upper] - c[lower]
    pct_b = 0.5 + _ratio(c["close"] - (c[upper] + c[lower]) / 2, width)
    return pct_b, _clip(1.0 - 2.0 * pct_b)


@dataclass(frozen=True)
class AtrBreakoutParams:
    """Volatility breakout: close beyond its ``length``-bar mean by ``multiplier`` ATRs → ±1.

    Follows the move (a Keltner-channel breakout); the value is the distance in ATRs.
    """

    length: int = 20
    atr_length: int = 14
    multiplier: float = 2.0

    def problems(self) -> Problems:
        return _lengths(length=self.length, atr_length=self.atr_length)


def score_atr_breakout(c: Columns, p: AtrBreakoutParams) -> tuple[np.ndarray, np.ndarray]:
    dist = c["close"] - c[ind.sma(p.length).column]
    value = _ratio(dist, c[ind.atr(p.atr_length).column])
    return value, _clip(value / p.multiplier)


@dataclass(frozen=True)
class VolumeSpikeParams:
    """Volume spike signed by the candle: volume at ``threshold``× its mean (or more) → ±1.

    Strength grows linearly from 1× (0) to ``threshold``× (1); the sign is the candle's
    direction (close above open → +), a doji scores 0. The value is the volume ratio.
    """

    length: int = 20
    threshold: float = 2.0

    def problems(self) -> Problems:
        out = _lengths(length=self.length)
        if self.threshold <= 1:
            out.append(("threshold", f"must be above 1, got {self.threshold}"))
        return out


def score_volume_spike(c: Columns, p: VolumeSpikeParams) -> tuple[np.ndarray, np.ndarray]:
    ratio = _ratio(c["volume"], c[ind.volume_sma(p.length).column])
    strength = np.clip((ratio - 1.0) / (p.threshold - 1.0), 0.0, 1.0)
    return ratio, strength * np.sign(c["close"] - c["open"])


@dataclass(frozen=True)
class AdxTrendParams:
    """ADX trend: strength × direction; 0 below ``min_adx``, full at ``full_adx``.

    Direction is +DI versus -DI. The value is the ADX.
    """

    length: int = 14
    min_adx: float = 20.0
    full_adx: float = 40.0

    def problems(self) -> Problems:
        out = _lengths(length=self.length)
        if not 0 <= self.min_adx < self.full_adx <= 100:
            out.append(("min_adx", "must satisfy 0 <= min_adx < full_adx <= 100"))
        return out


def score_adx_trend(c: Columns, p: AdxTrendParams) -> tuple[np.ndarray, np.ndarray]:
    adx_col, dmp, dmn = ind.adx(p.length).columns
    value = c[adx_col]
    strength = np.clip((value - p.min_adx) / (p.full_adx - p.min_adx), 0.0, 1.0)
    return value, strength * np.sign(c[dmp] - c[dmn])


@dataclass(frozen=True)
class FundingRateParams:
    """Perpetual funding: longs pay shorts when the rate is positive, so positive favours short.

    Score is ``-(rate - neutral) / scale`` clipped: ``neutral`` is the venue's baseline rate
    per funding interval (0.01% per 8 h on Binance), ``scale`` the excess that scores ±1.
    """

    neutral: float = 0.0001
    scale: float = 0.0002

    def problems(self) -> Problems:
        return [] if self.scale > 0 else [("scale", f"must be above 0, got {self.scale}")]


def score_funding_rate(c: Columns, p: FundingRateParams) -> tuple[np.ndarray, np.ndarray]:
    value = c[FUNDING_COLUMN]
    return value, _clip(-(value - p.neutral) / p.scale)


@dataclass(frozen=True)
class FactorDef:
    """A factor: its parameter type, the indicators it reads, and its scoring function."""

    name: str
    params_type: type
    indicators: Callable[[Any], tuple[Indicator, ...]]
    score: Callable[[Columns, Any], tuple[np.ndarray, np.ndarray]]
    needs_funding: bool = False

    def evaluate(self, cols: Columns, params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(value, score)``; overflow on absurd inputs saturates to ±1 without warnings."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self.score(cols, params)

    def columns(self, params: Any) -> tuple[str, ...]:
        """Frame columns the factor reads (besides OHLCV and funding)."""
        return tuple(col for i in self.indicators(params) for col in i.columns)


FACTORS: dict[str, FactorDef] = {
    f.name: f
    for f in (
        FactorDef("rsi", RsiParams, lambda p: (ind.rsi(p.length),), score_rsi),
        FactorDef(
            "ema_cross",
            EmaCrossParams,
            lambda p: (ind.ema(p.fast), ind.ema(p.slow), ind.atr(p.atr_length)),
            score_ema_cross,
        ),
        FactorDef(
            "macd",
            MacdParams,
            lambda p: (ind.macd(p.fast, p.slow, p.signal), ind.atr(p.atr_length)),
            score_macd,
        ),
        FactorDef(
            "bollinger", BollingerParams, lambda p: (ind.bbands(p.length, p.std),), score_bollinger
        ),
        FactorDef(
            "atr_breakout",
            AtrBreakoutParams,
            lambda p: (ind.sma(p.length), ind.atr(p.atr_length)),
            score_atr_breakout,
        ),
        FactorDef(
            "volume_spike",
            VolumeSpikeParams,
            lambda p: (ind.volume_sma(p.length),),
            score_volume_spike,
        ),
        FactorDef("adx_trend", AdxTrendParams, lambda p: (ind.adx(p.length),), score_adx_trend),
        FactorDef(
            "funding_rate", FundingRateParams, lambda p: (), score_funding_rate, needs_funding=True
        ),
    )
}
