"""Strategy parsing: valid specs, precise errors, extends, required indicators."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from botbox_dagster.domain import indicators as ind
from botbox_dagster.domain.errors import ConfigError
from botbox_dagster.domain.factors import RsiParams
from botbox_dagster.domain.regime import Regime
from botbox_dagster.domain.strategy import StopKind, Template, required_indicators
from botbox_dagster.domain.strategy_config import parse_strategy

BASE: dict[str, Any] = {
    "name": "x",
    "template": "trend_following",
    "timeframe": "15m",
    "factors": {
        "rsi": {"weight": 1.0, "params": {"length": 10}},
        "ema_cross": {"weight": 2},
    },
    "entry": {"long_above": 0.4, "short_below": -0.4},
    "exit": {"threshold": 0.0, "max_holding_bars": 20},
    "stop_loss": {"atr": 2.0},
    "take_profit": {"pct": 3},
    "sizing": {"fraction": 0.2, "max_position_value": 1000},
    "regimes": ["TRENDING_UP", "TRENDING_DOWN"],
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """BASE with ``path`` (dotted) set to ``value``; ``...`` deletes it."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def test_parses_a_full_strategy() -> None:
    spec = parse_strategy(BASE, "strategies.yaml")
    assert spec.template is Template.TREND_FOLLOWING
    assert spec.timeframe_minutes == 15
    assert [f.name for f in spec.factors] == ["rsi", "ema_cross"]
    assert spec.factors[0].params == RsiParams(length=10)
    assert spec.total_weight == 3.0
    assert spec.stop_loss is not None and spec.stop_loss.kind is StopKind.ATR
    assert spec.take_profit is not None and spec.take_profit.value == 3.0
    assert spec.regimes == {Regime.TRENDING_UP, Regime.TRENDING_DOWN}
    assert spec.exit.max_holding_bars == 20
    assert spec.sizing.max_position_value == 1000


def test_required_indicators_cover_factors_and_stops() -> None:
    spec = parse_strategy(BASE, "strategies.yaml")
    assert required_indicators(spec) == {ind.rsi(10), ind.ema(9), ind.ema(21), ind.atr(14)}


def test_zero_weight_factor_is_off() -> None:
    spec = parse_strategy(with_("factors.rsi.weight", 0), "s.yaml")
    assert [f.name for f in spec.active_factors] == ["ema_cross"]
    assert ind.rsi(10) not in required_indicators(spec)


def test_timeframe_alias_and_factor_alias() -> None:
    spec = parse_strategy(with_("timeframe", "60m"), "s.yaml")
    assert spec.timeframe == "1h"
    spec = parse_strategy(with_("factors", {"trend": {"weight": 1}}), "s.yaml")
    assert spec.factors[0].name == "ema_cross"


def test_error_message_names_file_strategy_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_strategy(with_("factors.rsi.weight", "abc"), "strategies.yaml")
    assert str(info.value) == (
        "strategies.yaml: strategy 'x': factors.rsi.weight must be a number, got 'abc'"
    )
    assert info.value.field == "factors.rsi.weight"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("colour", "red", "colour is not a known key"),
        ("factors.magic", {"weight": 1}, "factors.magic is not a known key"),
        ("factors.rsi.wieght", 1, "factors.rsi.wieght is not a known key"),
        ("factors.rsi.weight", -1, "factors.rsi.weight must be in [0.0, inf]"),
        ("factors.rsi.weight", float("nan"), "factors.rsi.weight must be a finite number"),
        ("factors.rsi.weight", True, "factors.rsi.weight must be a number"),
        ("factors.rsi.weight", ..., "factors.rsi.weight is required"),
        ("factors.rsi.params.lenght", 3, "factors.rsi.params.lenght is not a known key"),
        ("factors.rsi.params.length", 2.5, "factors.rsi.params.length must be an integer"),
        ("factors.rsi.params.oversold", 90, "factors.rsi.params.oversold must satisfy"),
        ("factors", {"rsi": {"weight": 0}}, "factors need at least one factor"),
        ("entry.long_above", 1.5, "entry.long_above must be in (0.0, 1.0]"),
        ("entry.short_below", 0.2, "entry.short_below must be in [-1.0, 0.0)"),
        ("exit.threshold", 0.5, "exit.threshold must be below entry.long_above"),
        ("exit.max_holding_bars", 0, "exit.max_holding_bars must be at least 1"),
        ("exit.on_opposite_signal", "yes", "exit.on_opposite_signal must be true or false"),
        ("stop_loss", {"atr": 2, "pct": 1}, "stop_loss must give exactly one of"),
        ("stop_loss", {"pct": 0}, "stop_loss.pct must be in (0.0, 100.0)"),
        ("sizing.fraction", 1.5, "sizing.fraction must be in (0.0, 1.0]"),
        ("sizing.max_position_value", -5, "sizing.max_position_value must be in (0.0, inf]"),
        ("timeframe", "3m", "timeframe must be one of 1m, 5m, 15m, 1h"),
        ("template", "yolo", "template must be one of"),
        ("regimes", ["SIDEWAYS"], "regimes must be one of"),
        ("grid", {"levels": 3}, "grid only applies to template grid"),
        ("name", ..., "name is required"),
    ],
)
def test_rejections(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_strategy(with_(path, value), "strategies.yaml")


def test_template_rules() -> None:
    grid = with_("template", "grid")
    with pytest.raises(ConfigError, match="grid is required by template grid"):
        parse_strategy(grid, "s.yaml")
    grid["grid"] = {"levels": 4, "spacing_pct": 1.0, "reference_bars": 30}
    assert parse_strategy(grid, "s.yaml").grid is not None
    with pytest.raises(ConfigError, match="must weigh funding_rate"):
        parse_strategy(with_("template", "funding_arbitrage"), "s.yaml")


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_strategy(["x"], "s.yaml")


def test_extends_a_preset_and_overrides() -> None:
    spec = parse_strategy(
        {
            "name": "my-trend",
            "extends": "trend_following",
            "timeframe": "1h",
            "factors": {"adx_trend": {"weight": 0}, "rsi": {"weight": 0.5}},
            "entry": {"long_above": 0.6},
        },
        "strategies.yaml",
    )
    assert spec.name == "my-trend"
    assert spec.template is Template.TREND_FOLLOWING
    assert spec.timeframe == "1h"
    assert [f.name for f in spec.active_factors] == ["ema_cross", "macd", "rsi"]
    assert spec.entry.long_above == 0.6 and spec.entry.short_below == -0.5


def test_extends_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="strategy 'y': extends must be one of"):
        parse_strategy({"name": "y", "extends": "moonshot"}, "strategies.yaml")
