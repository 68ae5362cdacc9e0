"""Benchmark: shared indicator computation per market and strategy evaluation per bot.

Usage: .venv/bin/python scripts/bench_scoring.py [path/to/candles.csv]

Prints the one-off pandas-ta warm-up (numba compilation), the first computation after it (wall
time: ``test_warm_up_pays_compilation_once`` checks it compiles nothing), the indicator
computation for one market (union of the five presets' requirements plus the regime's, on the last 500 candles),
the regime classification, and the CPU time of one bot's evaluation on that shared frame
(target: at most 5 ms).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.presets import PRESET_NAMES, load_preset
from botbox_dagster.domain.regime import REGIME_INDICATORS, current_regime
from botbox_dagster.domain.scoring import evaluate
from botbox_dagster.domain.strategy import required_indicators

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared/data/candles/ETH_BTC-5m.csv"


def per_call(fn, repeat: int) -> float:
    """CPU seconds per call, best of three rounds."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(repeat):
            fn()
        best = min(best, (time.process_time() - started) / repeat)
    return best


def main() -> None:
    csv = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV
    raw = pd.read_csv(csv, float_precision="round_trip")
    raw.index = pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True)
    candles = raw.astype(float).iloc[-500:]

    print(f"warm-up (numba compile, once per process): {ind.warm_up() * 1000:8.1f} ms")
    specs = [load_preset(name) for name in PRESET_NAMES]
    requirements = set(REGIME_INDICATORS).union(*(required_indicators(s) for s in specs))
    started = time.perf_counter()
    ind.compute_indicators(candles, requirements)
    ms = (time.perf_counter() - started) * 1000
    # The test checks that this call compiles nothing; how long it takes is this figure.
    print(f"first computation after the warm-up (wall): {ms:8.1f} ms")
    ms = per_call(lambda: ind.compute_indicators(candles, requirements), 20) * 1000
    print(f"indicators, one market ({len(requirements)} indicators, 500 rows): {ms:6.2f} ms")
    frame = ind.compute_indicators(candles, requirements)
    ms = per_call(lambda: current_regime(frame), 200) * 1000
    print(f"regime, one market: {ms:6.3f} ms")
    regime = current_regime(frame)
    funding = pd.Series([0.0003], index=[frame.index[0]])
    for spec in specs:
        us = per_call(lambda s=spec: evaluate(s, frame, regime, funding=funding), 500) * 1e6
        print(f"evaluate {spec.name:<18} {us:8.1f} µs per bot")


if __name__ == "__main__":
    main()
