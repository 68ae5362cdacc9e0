"""Evaluation of one strategy on the shared indicator frame of its market.

The evaluation is a pure function of (spec, indicators, regime, open position, funding), so a
repeated tick on the same closed candle gives the same answer and the signal hash dedups it.
It only reads the last closed candle (and the one before for the grid's level crossing):
the per-bot cost stays a few dozen microseconds once the market's indicators exist.
:func:`score_frame` runs the same factor code over a whole frame, for backtests and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import pandas as pd

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.factors import FACTORS, FUNDING_COLUMN
from botbox_dagster.domain.regime import Regime
from botbox_dagster.domain.strategy import StopKind, StopRule, StrategySpec, Template


class Direction(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"
    CLOSE = "CLOSE"


class OpenPosition(Protocol):
    """What evaluation needs of an open position (the ledger's position model fits)."""

    @property
    def direction(self) -> Any: ...  # Direction, or anything whose str/value is LONG/SHORT

    @property
    def opened_at(self) -> datetime: ...


@dataclass(frozen=True)
class PositionState:
    """A minimal :class:`OpenPosition` for callers and tests without a ledger model."""

    direction: Direction
    opened_at: datetime


@dataclass(frozen=True)
class FactorContribution:
    value: float  # the factor's input, e.g. the RSI or %B
    score: float  # in [-1, 1]
    weight: float
    contribution: float  # weight × score / total weight: contributions sum to the score


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation; ``direction`` None means no signal (see ``reason``).

    ``candidate`` is what the score alone pointed to, before the regime filter, so a signal
    blocked by regime can still be logged as rejected. ``timestamp`` is the open time of the
    last closed candle used (the signal's candle time).
    """

    strategy: str
    timestamp: pd.Timestamp | None
    direction: Direction | None
    score: float | None
    reason: str
    contributions: dict[str, FactorContribution] = field(default_factory=dict)
    regime: Regime | None = None
    candidate: Direction | None = None
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None

    def contributions_dict(self) -> dict[str, dict[str, float]]:
        """JSON-ready ``{factor: {value, score, weight, contribution}}`` for the ledger."""
        return {k: vars(v).copy() for k, v in self.contributions.items()}


def align_funding(funding: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """Funding rate in force at each candle: the last one published at or before its open.

    Backward-looking only (no lookahead); candles before the first rate get NaN.
    """
    funding = funding.dropna().sort_index()
    pos = funding.index.searchsorted(index, side="right") - 1
    values = funding.to_numpy(dtype=float)
    return np.where(pos >= 0, values[np.clip(pos, 0, None)] if len(values) else np.nan, np.nan)


def _columns(
    spec: StrategySpec, frame: pd.DataFrame, rows: slice, funding: pd.Series | None
) -> dict[str, np.ndarray]:
    needed = {"open", "close", "volume"}
    for f in spec.active_factors:
        needed.update(FACTORS[f.name].columns(f.params))
    cols = {c: frame[c].to_numpy()[rows] for c in needed}
    if spec.needs_funding:
        index = frame.index[rows]
        cols[FUNDING_COLUMN] = (
            np.full(len(index), np.nan) if funding is None else align_funding(funding, index)
        )
    return cols


def _factor_scores(spec: StrategySpec, cols: dict[str, np.ndarray]) -> dict[str, tuple]:
    return {f.name: FACTORS[f.name].evaluate(cols, f.params) for f in spec.active_factors}


def score_frame(
    spec: StrategySpec, frame: pd.DataFrame, funding: pd.Series | None = None
) -> pd.DataFrame:
    """Factor scores and the combined ``score`` for every row (NaN in warm-up)."""
    cols = _columns(spec, frame, slice(None), funding)
    out = {name: score for name, (_, score) in _factor_scores(spec, cols).items()}
    total = spec.total_weight
    combined = sum(f.weight * out[f.name] for f in spec.active_factors) / total if total else 0.0
    return pd.DataFrame({**out, "score": combined}, index=frame.index)


def _stop_price(
    rule: StopRule | None, frame: pd.DataFrame, last: int, price: float, sign: int
) -> float | None:
    """Price ``sign`` × distance away from ``price`` (sign -1: below)."""
    if rule is None:
        return None
    if rule.kind is StopKind.PCT:
        return price * (1 + sign * rule.value / 100)
    atr = float(frame[ind.atr(rule.atr_length).column].to_numpy()[last])
    return None if np.isnan(atr) else price + sign * rule.value * atr


def _closed_rows(frame: pd.DataFrame, minutes: int, now: datetime | None) -> int:
    if now is None:
        return len(frame)
    cutoff = pd.Timestamp(now) - timedelta(minutes=minutes)
    return int(frame.index.searchsorted(cutoff, side="right"))


def evaluate(
    spec: StrategySpec,
    frame: pd.DataFrame,
    regime: Regime | None,
    position: OpenPosition | None = None,
    funding: pd.Series | None = None,
    *,
    now: datetime | None = None,
) -> Evaluation:
    """Evaluate ``spec`` on the market's indicator frame at its last closed candle.

    ``now`` (UTC): rows whose candle has not closed by then are ignored; without it every
    row is taken as closed. ``funding``: the market's funding-rate series (by time), needed
    by funding factors. With an open ``position`` the result is CLOSE or no signal: an
    evaluation never stacks a second position.
    """
    n = _closed_rows(frame, spec.timeframe_minutes, now)
    if n == 0:
        return Evaluation(
            spec.name, None, None, None, "insufficient data: no closed candle", regime=regime
        )
    last = n - 1
    ts = frame.index[last]
    first = max(0, n - 2)
    cols = _columns(spec, frame, slice(first, n), funding)
    scores = _factor_scores(spec, cols)
    missing = [name for name, (_, s) in scores.items() if np.isnan(s[-1])]
    if missing:
        why = "no funding rate" if spec.needs_funding and funding is None else "warm-up"
        return Evaluation(
            spec.name,
            ts,
            None,
            None,
            f"insufficient data ({why}): no score for {', '.join(missing)}",
            regime=regime,
        )
    total = spec.total_weight
    contributions = {
        f.name: FactorContribution(
            float(scores[f.name][0][-1]),
            float(scores[f.name][1][-1]),
            f.weight,
            f.weight * float(scores[f.name][1][-1]) / total,
        )
        for f in spec.active_factors
    }
    score = sum(c.contribution for c in contributions.values())
    price = float(cols["close"][-1])
    base = dict(
        strategy=spec.name, timestamp=ts, contributions=contributions, regime=regime, price=price
    )

    candidate, why = _entry_candidate(spec, frame, cols, first, n, score)
    if position is not None:
        return _exit_decision(spec, position, score, candidate, ts, base)
    if candidate is None:
        return Evaluation(direction=None, score=score, reason=why, **base)
    if spec.regimes and regime not in spec.regimes:
        allowed = ", ".join(sorted(spec.regimes))
        return Evaluation(
            direction=None,
            score=score,
            candidate=candidate,
            **base,
            reason=f"{candidate} blocked: regime {regime} not in ({allowed})",
        )
    sign = 1 if candidate is Direction.LONG else -1
    return Evaluation(
        direction=candidate,
        score=score,
        candidate=candidate,
        reason=why,
        stop_loss=_stop_price(spec.stop_loss, frame, last, price, -sign),
        take_profit=_stop_price(spec.take_profit, frame, last, price, sign),
        **base,
    )


def _entry_candidate(
    spec: StrategySpec,
    frame: pd.DataFrame,
    cols: dict[str, np.ndarray],
    first: int,
    n: int,
    score: float,
) -> tuple[Direction | None, str]:
    """The entry the score (or the grid crossing) points to, and why."""
    long_above, short_below = spec.entry.long_above, spec.entry.short_below
    if spec.template is Template.GRID and spec.grid is not None:
        return _grid_candidate(spec, frame, cols, first, n, score)
    if long_above is not None and score >= long_above:
        return Direction.LONG, f"score {score:.3f} >= long_above {long_above}"
    if short_below is not None and score <= short_below:
        return Direction.SHORT, f"score {score:.3f} <= short_below {short_below}"
    return None, f"score {score:.3f} inside entry thresholds ({short_below}, {long_above})"


def _grid_candidate(
    spec: StrategySpec,
    frame: pd.DataFrame,
    cols: dict[str, np.ndarray],
    first: int,
    n: int,
    score: float,
) -> tuple[Direction | None, str]:
    grid = spec.grid
    assert grid is not None
    if n - first < 2:
        return None, "grid: needs two closed candles"
    ref = float(frame[ind.sma(grid.reference_bars).column].to_numpy()[n - 1])
    if np.isnan(ref):
        return None, "insufficient data (warm-up): no grid reference price"
    prev, close = float(cols["close"][-2]), float(cols["close"][-1])
    steps = np.arange(1, grid.levels + 1) * grid.spacing_pct / 100
    lower, upper = ref * (1 - steps), ref * (1 + steps)
    down = np.flatnonzero((prev > lower) & (close <= lower))
    up = np.flatnonzero((prev < upper) & (close >= upper))
    vetoed = "grid: {0} at level {1} vetoed by factor score {2:.3f}"
    if len(down):
        k = int(down[-1]) + 1
        if (
            spec.active_factors
            and spec.entry.short_below is not None
            and (score <= spec.entry.short_below)
        ):
            return None, vetoed.format(Direction.LONG, k, score)
        return Direction.LONG, f"grid: close crossed below level -{k} ({lower[k - 1]:.8g})"
    if len(up):
        k = int(up[-1]) + 1
        if (
            spec.active_factors
            and spec.entry.long_above is not None
            and (score >= spec.entry.long_above)
        ):
            return None, vetoed.format(Direction.SHORT, k, score)
        return Direction.SHORT, f"grid: close crossed above level +{k} ({upper[k - 1]:.8g})"
    return None, f"grid: no level crossed (reference {ref:.8g})"


def _exit_decision(
    spec: StrategySpec,
    position: OpenPosition,
    score: float,
    candidate: Direction | None,
    ts: pd.Timestamp,
    base: dict,
) -> Evaluation:
    raw = position.direction
    side = Direction(str(getattr(raw, "value", raw)))
    rule = spec.exit
    sign = 1 if side is Direction.LONG else -1
    reasons = []
    if rule.threshold is not None and sign * score < rule.threshold:
        reasons.append(f"score {score:.3f} crossed exit threshold {sign * rule.threshold:+g}")
    if rule.on_opposite_signal and candidate is not None and candidate is not side:
        reasons.append(f"opposite signal {candidate}")
    if rule.max_holding_bars is not None:
        bar = timedelta(minutes=spec.timeframe_minutes)
        held = int((ts + bar - pd.Timestamp(position.opened_at)) // bar)
        if held >= rule.max_holding_bars:
            reasons.append(f"held {held} bars (max {rule.max_holding_bars})")
    if reasons:
        return Evaluation(
            direction=Direction.CLOSE,
            score=score,
            candidate=candidate,
            reason=f"close {side}: " + "; ".join(reasons),
            **base,
        )
    return Evaluation(
        direction=None,
        score=score,
        candidate=candidate,
        reason=f"holding {side}: no exit rule fired",
        **base,
    )
