"""The five strategy templates as YAML presets shipped with the package.

Each preset in ``botbox_dagster/strategies/<name>.yaml`` is a complete, documented strategy
with sensible defaults; operators use one as is (``load_preset("trend_following")``) or
``extends:`` it from their own strategy file and override a few fields.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from botbox_dagster.domain.errors import ConfigError
from botbox_dagster.domain.strategy import StrategySpec
from botbox_dagster.domain.strategy_config import parse_strategy

PRESET_NAMES: tuple[str, ...] = (
    "scalping",
    "mean_reversion",
    "trend_following",
    "grid",
    "funding_arbitrage",
)


@cache
def _text(name: str) -> str:
    return (resources.files("botbox_dagster") / "strategies" / f"{name}.yaml").read_text("utf-8")


def preset_mapping(name: str) -> dict[str, Any]:
    """The raw mapping of a preset (a fresh copy: callers may merge into it)."""
    if name not in PRESET_NAMES:
        raise ConfigError("presets", f"is not a preset (known: {', '.join(PRESET_NAMES)})", name)
    data = yaml.safe_load(_text(name))
    if not isinstance(data, dict):
        raise ConfigError(f"strategies/{name}.yaml", "must hold one strategy mapping")
    return data


@cache
def load_preset(name: str) -> StrategySpec:
    """The parsed preset ``name`` (one of :data:`PRESET_NAMES`)."""
    return parse_strategy(preset_mapping(name), f"strategies/{name}.yaml")
