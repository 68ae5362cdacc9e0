"""Market regime per (market, timeframe), computed once per tick from the shared indicators.

Strategies declare the regimes they trade in (trend following in trends, mean reversion and
grid in ranges); the signal validation step compares a bot's allowed regimes with this one.

Rules, in order (thresholds in :class:`RegimeThresholds`):

1. VOLATILE when ATR as a fraction of price is at least ``volatile_ratio`` times its median
   over the last ``volatility_window`` bars: a volatility burst, whatever the direction,
   where stops and fills misbehave.
2. TRENDING_UP / TRENDING_DOWN when ADX is at least ``trend_adx`` (a trend is present) and
   the slow EMA moved at least ``min_slope_atr`` ATRs over ``slope_bars`` bars in that
   direction (the trend has a direction that price confirms).
3. RANGING otherwise.

Rows without enough history (NaN indicators) have no regime (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.indicators import Indicator


class Regime(StrEnum):
    TRENDING_UP = "TRENDING_UP"
    TRENDING_DOWN = "TRENDING_DOWN"
    RANGING = "RANGING"
    VOLATILE = "VOLATILE"


@dataclass(frozen=True)
class RegimeThresholds:
    """Documented defaults: ADX 25 is the classic "trend present" line (Wilder)."""

    adx_length: int = 14
    atr_length: int = 14
    ema_length: int = 50
    trend_adx: float = 25.0
    slope_bars: int = 10
    min_slope_atr: float = 0.5
    volatility_window: int = 100
    volatile_ratio: float = 1.8

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return (ind.adx(self.adx_length), ind.atr(self.atr_length), ind.ema(self.ema_length))


DEFAULT_THRESHOLDS = RegimeThresholds()
REGIME_INDICATORS: tuple[Indicator, ...] = DEFAULT_THRESHOLDS.indicators

_CODES = (None, Regime.TRENDING_UP, Regime.TRENDING_DOWN, Regime.RANGING, Regime.VOLATILE)


def _codes(frame: pd.DataFrame, t: RegimeThresholds) -> np.ndarray:
    """Regime codes per row (index into ``_CODES``), vectorised over the frame."""
    adx = frame[ind.adx(t.adx_length).column].to_numpy(dtype=float)
    atr = frame[ind.atr(t.atr_length).column]
    ema = frame[ind.ema(t.ema_length).column]
    atr_pct = atr / frame["close"]
    median = atr_pct.rolling(t.volatility_window, min_periods=t.volatility_window // 2).median()
    vol_ratio = (atr_pct / median).to_numpy(dtype=float)
    slope = ((ema - ema.shift(t.slope_bars)) / atr).to_numpy(dtype=float)

    codes = np.full(len(frame), 3, dtype=np.int8)  # RANGING
    trending = adx >= t.trend_adx
    codes[trending & (slope >= t.min_slope_atr)] = 1
    codes[trending & (slope <= -t.min_slope_atr)] = 2
    codes[vol_ratio >= t.volatile_ratio] = 4
    codes[np.isnan(adx) | np.isnan(slope) | np.isnan(vol_ratio)] = 0
    return codes


def classify_regimes(
    frame: pd.DataFrame, thresholds: RegimeThresholds = DEFAULT_THRESHOLDS
) -> pd.Series:
    """The regime of every row (``None`` in warm-up): for backtests, charts and tests."""
    codes = _codes(frame, thresholds)
    return pd.Series([_CODES[c] for c in codes], index=frame.index, dtype=object)


def current_regime(
    frame: pd.DataFrame, thresholds: RegimeThresholds = DEFAULT_THRESHOLDS
) -> Regime | None:
    """The regime at the frame's last row, computing only the tail it depends on."""
    tail = frame.iloc[-(thresholds.volatility_window + thresholds.slope_bars) :]
    if tail.empty:
        return None
    return _CODES[_codes(tail, thresholds)[-1]]
