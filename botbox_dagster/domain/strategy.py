"""Strategy specifications: the frozen model and the indicators a strategy needs.

A strategy is data, not code: a template name, weighted factors with parameters, entry and
exit thresholds on the combined score, stop loss / take profit, sizing, a timeframe and the
regimes it trades in. Operators write it in YAML; ``strategy_config.parse_strategy`` turns a
mapping into a :class:`StrategySpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.factors import FACTORS
from botbox_dagster.domain.indicators import Indicator
from botbox_dagster.domain.regime import Regime

TIMEFRAMES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}
_TIMEFRAME_ALIASES = {"60m": "1h"}
FACTOR_ALIASES = {"trend": "ema_cross", "volatility": "atr_breakout"}


class Template(StrEnum):
    SCALPING = "scalping"
    MEAN_REVERSION = "mean_reversion"
    TREND_FOLLOWING = "trend_following"
    GRID = "grid"
    FUNDING_ARBITRAGE = "funding_arbitrage"


class StopKind(StrEnum):
    ATR = "atr"  # distance = value × ATR(atr_length) at entry
    PCT = "pct"  # distance = value % of the entry price


@dataclass(frozen=True)
class FactorConfig:
    name: str
    weight: float
    params: Any  # the factor's params dataclass (factors.RsiParams, ...)


@dataclass(frozen=True)
class EntryRule:
    """LONG when score >= long_above; SHORT when score <= short_below; None disables a side."""

    long_above: float | None = 0.5
    short_below: float | None = -0.5


@dataclass(frozen=True)
class ExitRule:
    """When an open position closes (any rule firing closes it).

    ``threshold``: a LONG closes once the score is below it, a SHORT once above its negative
    (a level, not an edge, so a missed tick still exits). ``on_opposite_signal``: close when
    the opposite entry fires. ``max_holding_bars``: close after that many closed candles.
    """

    threshold: float | None = 0.0
    on_opposite_signal: bool = True
    max_holding_bars: int | None = None


@dataclass(frozen=True)
class StopRule:
    kind: StopKind
    value: float
    atr_length: int = 14


@dataclass(frozen=True)
class Sizing:
    """Position value = fraction × the bot's capital, capped by max_position_value."""

    fraction: float = 0.1
    max_position_value: float | None = None


@dataclass(frozen=True)
class GridConfig:
    """Levels at reference × (1 ± k × spacing_pct %), k = 1..levels; the reference is the
    ``reference_bars``-bar mean close. Crossing down through a lower level → LONG, up through
    an upper level → SHORT."""

    levels: int = 5
    spacing_pct: float = 0.5
    reference_bars: int = 50


@dataclass(frozen=True)
class StrategySpec:
    name: str
    template: Template
    timeframe: str
    factors: tuple[FactorConfig, ...]
    entry: EntryRule = EntryRule()
    exit: ExitRule = ExitRule()
    stop_loss: StopRule | None = None
    take_profit: StopRule | None = None
    sizing: Sizing = Sizing()
    regimes: frozenset[Regime] = field(default_factory=frozenset)  # empty: every regime
    grid: GridConfig | None = None
    description: str = ""

    @property
    def timeframe_minutes(self) -> int:
        return TIMEFRAMES[self.timeframe]

    @property
    def active_factors(self) -> tuple[FactorConfig, ...]:
        return tuple(f for f in self.factors if f.weight > 0)

    @property
    def total_weight(self) -> float:
        return sum(f.weight for f in self.active_factors)

    @property
    def needs_funding(self) -> bool:
        return any(FACTORS[f.name].needs_funding for f in self.active_factors)


def required_indicators(spec: StrategySpec) -> frozenset[Indicator]:
    """Every indicator the spec reads; union these per market (plus REGIME_INDICATORS)."""
    out: set[Indicator] = set()
    for f in spec.active_factors:
        out.update(FACTORS[f.name].indicators(f.params))
    for stop in (spec.stop_loss, spec.take_profit):
        if stop is not None and stop.kind is StopKind.ATR:
            out.add(ind.atr(stop.atr_length))
    if spec.grid is not None:
        out.add(ind.sma(spec.grid.reference_bars))
    return frozenset(out)
