"""The five strategy templates as YAML presets shipped with the package.

Each preset in ``botbox_dagster/strategies/<name>.yaml`` is a complete, documented strategy
with sensible defaults; operators use one as is (``load_preset("trend_following")``) or
``extends:`` it from their own strategy file and override a few fields.

The raw mappings are read by :mod:`botbox_dagster.domain.strategy_config` (``extends:`` needs
them) and re-exported here; this module only adds the parsed presets, so the import goes one
way: presets -> strategy_config.
"""

from __future__ import annotations

from functools import cache

from botbox_dagster.domain.strategy import StrategySpec
from botbox_dagster.domain.strategy_config import PRESET_NAMES, parse_strategy, preset_mapping

__all__ = ["PRESET_NAMES", "load_preset", "preset_mapping"]


@cache
def load_preset(name: str) -> StrategySpec:
    """The parsed preset ``name`` (one of :data:`PRESET_NAMES`)."""
    return parse_strategy(preset_mapping(name), f"strategies/{name}.yaml")
