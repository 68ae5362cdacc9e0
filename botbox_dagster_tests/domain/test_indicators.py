"""Shared indicator computation: agreement with TA-Lib, naming, warm-up."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from botbox_dagster.domain import indicators as ind


def load_candles(path: Path) -> pd.DataFrame:
    """A shared-data candle CSV as an OHLCV frame on a UTC DatetimeIndex of open times.

    ``round_trip``: pandas' default fast float parser is off by one ulp on some prices, which
    flips ADX's +DM/-DM tie-breaks (a 1e-5 relative error against TA-Lib).
    """
    raw = pd.read_csv(path, float_precision="round_trip")
    raw.index = pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True)
    return raw.astype(float)


REFERENCE_COLUMNS = {
    "rsi_14": "rsi_14",
    "ema_9": "ema_9",
    "ema_21": "ema_21",
    "ema_50": "ema_50",
    "macd_12_26_9": "macd",
    "macd_signal_12_26_9": "macd_signal",
    "macd_hist_12_26_9": "macd_hist",
    "atr_14": "atr_14",
    "adx_14": "adx_14",
    "bb_upper_20_2": "bb_upper",
    "bb_mid_20_2": "bb_mid",
    "bb_lower_20_2": "bb_lower",
}


def test_matches_talib_reference_after_warmup(shared_data: Path) -> None:
    candles = load_candles(shared_data / "candles" / "ETH_BTC-5m.csv")
    reference = pd.read_csv(shared_data / "reference" / "ETH_BTC-5m.talib.csv")
    requirements = [ind.rsi(14), ind.ema(9), ind.ema(21), ind.ema(50), ind.macd(12, 26, 9)]
    requirements += [ind.atr(14), ind.adx(14), ind.bbands(20, 2.0)]

    frame = ind.compute_indicators(candles, requirements)

    assert (frame.index.asi8 // 1_000_000 == reference["timestamp"].to_numpy()).all()
    for ours, theirs in REFERENCE_COLUMNS.items():
        got = frame[ours].to_numpy()[300:]
        want = reference[theirs].to_numpy()[300:]
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=0, err_msg=ours)


def test_column_names_follow_parameters() -> None:
    assert ind.macd(12, 26, 9).columns == (
        "macd_12_26_9",
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
    )
    assert ind.bbands(20, 2.5).columns == ("bb_upper_20_2.5", "bb_mid_20_2.5", "bb_lower_20_2.5")
    assert ind.adx(14).columns == ("adx_14", "dmp_14", "dmn_14")
    assert ind.volume_sma(20).column == "volume_sma_20"


def test_requirements_union_and_ohlcv_carried() -> None:
    candles = ind.synthetic_candles(80)
    frame = ind.compute_indicators(candles, [ind.rsi(14), ind.rsi(14), ind.ema(9)])
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "ema_9", "rsi_14"]
    assert frame.index.equals(candles.index)


def test_short_history_gives_nan_not_error() -> None:
    frame = ind.compute_indicators(ind.synthetic_candles(5), ind.ALL_KINDS_SAMPLE)
    assert frame.drop(columns=list(ind.OHLCV)).isna().all().all()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda df: df.drop(columns=["volume"]),
        lambda df: df.tz_localize(None),
        lambda df: df.iloc[::-1],
    ],
)
def test_bad_candles_rejected(mutate) -> None:
    with pytest.raises(ValueError):
        ind.compute_indicators(mutate(ind.synthetic_candles(30)), [ind.rsi(14)])


def _numba_signatures() -> dict[str, int]:
    """Compiled signatures of every numba kernel pandas-ta has loaded, by kernel name."""
    from numba.core.dispatcher import Dispatcher

    return {
        f"{name}.{attr}": len(value.signatures)
        for name, module in list(sys.modules.items())
        if name.startswith("pandas_ta")
        for attr, value in vars(module).items()
        if isinstance(value, Dispatcher)
    }


def test_warm_up_pays_compilation_once() -> None:
    """After ``warm_up`` a full computation compiles nothing: every kernel it needs is built
    (how long either takes is ``scripts/bench_scoring.py``'s figure, not asserted here)."""
    ind.warm_up()
    compiled = _numba_signatures()
    assert any(compiled.values()), "warm_up compiled no numba kernel"
    ind.compute_indicators(ind.synthetic_candles(500), ind.ALL_KINDS_SAMPLE)
    assert _numba_signatures() == compiled
