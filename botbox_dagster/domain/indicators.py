"""Indicator computation, once per (market, timeframe) per tick, shared by every bot on it.

Why one frame per market: strategies differ in weights and thresholds but mostly ask for the
same handful of indicators (RSI 14, EMA 9/21, ATR 14...). The caller unions the requirements
of every strategy on a market (``required_indicators`` in ``strategy.py`` plus
``REGIME_INDICATORS``), calls :func:`compute_indicators` once, and every bot scores on the
result. pandas-ta runs with ``talib=False`` so results do not depend on whether the TA-Lib C
library happens to be installed; they agree with TA-Lib within 1e-8 relative after warm-up
(tested against ``reference/ETH_BTC-5m.talib.csv``).

Column names are deterministic (``rsi_14``, ``macd_hist_12_26_9``, ``bb_lower_20_2``) so a
factor can find its inputs from its parameters alone. The returned frame also carries the
OHLCV columns: factors need the close (price), the open (candle direction) and the volume.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

OHLCV = ("open", "high", "low", "close", "volume")


class IndicatorKind(StrEnum):
    """The indicators the factor library and the regime classifier can ask for."""

    RSI = "rsi"  # params: (length,)
    EMA = "ema"  # (length,) on close
    SMA = "sma"  # (length,) on close: grid reference price, breakout mean
    MACD = "macd"  # (fast, slow, signal)
    ATR = "atr"  # (length,), Wilder smoothing
    ADX = "adx"  # (length,): also yields +DI (dmp) and -DI (dmn)
    BBANDS = "bb"  # (length, std), population deviation (ddof=0) like TA-Lib
    VOLUME_SMA = "volume_sma"  # (length,) on volume


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True, order=True)
class Indicator:
    """One indicator requirement; hashable so requirements union as a set."""

    kind: IndicatorKind
    params: tuple[float, ...]

    @property
    def suffix(self) -> str:
        return "_".join(_fmt(p) for p in self.params)

    @property
    def columns(self) -> tuple[str, ...]:
        """Output column names, in the order they are produced."""
        s = self.suffix
        match self.kind:
            case IndicatorKind.MACD:
                return (f"macd_{s}", f"macd_signal_{s}", f"macd_hist_{s}")
            case IndicatorKind.ADX:
                return (f"adx_{s}", f"dmp_{s}", f"dmn_{s}")
            case IndicatorKind.BBANDS:
                return (f"bb_upper_{s}", f"bb_mid_{s}", f"bb_lower_{s}")
            case _:
                return (f"{self.kind.value}_{s}",)

    @property
    def column(self) -> str:
        """The main column (first of :attr:`columns`)."""
        return self.columns[0]

    @property
    def warmup_bars(self) -> int:
        """Bars before values are usable (a lower bound; recursive ones keep converging)."""
        match self.kind:
            case IndicatorKind.MACD:
                return int(self.params[1] + self.params[2])
            case IndicatorKind.ADX:
                return int(2 * self.params[0])
            case _:
                return int(self.params[0])


def rsi(length: int = 14) -> Indicator:
    return Indicator(IndicatorKind.RSI, (int(length),))


def ema(length: int) -> Indicator:
    return Indicator(IndicatorKind.EMA, (int(length),))


def sma(length: int) -> Indicator:
    return Indicator(IndicatorKind.SMA, (int(length),))


def macd(fast: int = 12, slow: int = 26, signal: int = 9) -> Indicator:
    return Indicator(IndicatorKind.MACD, (int(fast), int(slow), int(signal)))


def atr(length: int = 14) -> Indicator:
    return Indicator(IndicatorKind.ATR, (int(length),))


def adx(length: int = 14) -> Indicator:
    return Indicator(IndicatorKind.ADX, (int(length),))


def bbands(length: int = 20, std: float = 2.0) -> Indicator:
    return Indicator(IndicatorKind.BBANDS, (int(length), float(std)))


def volume_sma(length: int = 20) -> Indicator:
    return Indicator(IndicatorKind.VOLUME_SMA, (int(length),))


def _nan(index: pd.Index) -> np.ndarray:
    return np.full(len(index), np.nan)


def _values(result: pd.DataFrame | pd.Series | None, prefix: str, index: pd.Index) -> np.ndarray:
    """Column of a pandas-ta result by name prefix; NaN when the series is too short.

    pandas-ta returns ``None`` (not NaNs) when the input is shorter than the length.
    """
    if result is None:
        return _nan(index)
    if isinstance(result, pd.Series):
        return result.to_numpy(dtype=float)
    for name in result.columns:
        if str(name).startswith(prefix):
            return result[name].to_numpy(dtype=float)
    raise KeyError(f"pandas-ta result has no column starting with {prefix!r}")


def _compute_one(ind: Indicator, df: pd.DataFrame) -> dict[str, np.ndarray]:
    # Imported here: pandas-ta (with numba) costs ~0.8 s to import, and most BotBox processes
    # (execution runs, sensors, the CLI) never compute an indicator.
    import pandas_ta as ta

    close, high, low = df["close"], df["high"], df["low"]
    p = ind.params
    idx = df.index
    cols = ind.columns
    match ind.kind:
        case IndicatorKind.RSI:
            out = [_values(ta.rsi(close, length=int(p[0]), talib=False), "", idx)]
        case IndicatorKind.EMA:
            out = [_values(ta.ema(close, length=int(p[0]), talib=False), "", idx)]
        case IndicatorKind.SMA:
            out = [_values(ta.sma(close, length=int(p[0]), talib=False), "", idx)]
        case IndicatorKind.VOLUME_SMA:
            out = [_values(ta.sma(df["volume"], length=int(p[0]), talib=False), "", idx)]
        case IndicatorKind.ATR:
            out = [_values(ta.atr(high, low, close, length=int(p[0]), talib=False), "", idx)]
        case IndicatorKind.MACD:
            r = ta.macd(close, fast=int(p[0]), slow=int(p[1]), signal=int(p[2]), talib=False)
            out = [_values(r, "MACD_", idx), _values(r, "MACDs_", idx), _values(r, "MACDh_", idx)]
        case IndicatorKind.ADX:
            r = ta.adx(high, low, close, length=int(p[0]), talib=False)
            out = [_values(r, "ADX_", idx), _values(r, "DMP_", idx), _values(r, "DMN_", idx)]
        case IndicatorKind.BBANDS:
            r = ta.bbands(
                close, length=int(p[0]), lower_std=p[1], upper_std=p[1], ddof=0, talib=False
            )
            out = [_values(r, "BBU_", idx), _values(r, "BBM_", idx), _values(r, "BBL_", idx)]
    return dict(zip(cols, out, strict=True))


def validate_candles(candles: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless the frame is OHLCV on a sorted, unique UTC index."""
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing:
        raise ValueError(f"candles lack columns {missing}")
    if not isinstance(candles.index, pd.DatetimeIndex) or candles.index.tz is None:
        raise ValueError("candles need a timezone-aware DatetimeIndex of open times")
    if not candles.index.is_monotonic_increasing or not candles.index.is_unique:
        raise ValueError("candle open times must be sorted and unique")


def compute_indicators(candles: pd.DataFrame, requirements: Iterable[Indicator]) -> pd.DataFrame:
    """One frame of OHLCV plus every requested indicator column, on the candles' index.

    ``requirements`` is the union over every strategy on the market (duplicates are free).
    Rows in warm-up hold NaN; scoring reports them as insufficient data.
    """
    validate_candles(candles)
    df = candles[list(OHLCV)].astype(float)
    columns: dict[str, np.ndarray] = {c: df[c].to_numpy() for c in OHLCV}
    for ind in sorted(set(requirements)):
        columns.update(_compute_one(ind, df))
    return pd.DataFrame(columns, index=candles.index)


ALL_KINDS_SAMPLE: tuple[Indicator, ...] = (
    rsi(14),
    ema(9),
    sma(20),
    macd(),
    atr(14),
    adx(14),
    bbands(20, 2.0),
    volume_sma(20),
)


def synthetic_candles(rows: int = 120, seed: int = 7) -> pd.DataFrame:
    """A small random-walk OHLCV frame (for warm-up and tests)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, rows)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, rows)) * close
    index = pd.date_range("2024-01-01", periods=rows, freq="1min", tz="UTC")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1.0, 10.0, rows),
        },
        index=index,
    )


def warm_up() -> float:
    """Pay pandas-ta's numba compilation (0.4–2 s on first call) once; return seconds spent.

    Every Dagster run is a fresh process: call this at process start (or in a resource's
    setup) so the first market's tick is not the one that pays.
    """
    started = time.perf_counter()
    compute_indicators(synthetic_candles(), ALL_KINDS_SAMPLE)
    return time.perf_counter() - started
