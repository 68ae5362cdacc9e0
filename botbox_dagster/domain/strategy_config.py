"""Reading strategies from configuration: a mapping in, a :class:`StrategySpec` out.

:func:`parse_strategy` raises :class:`ConfigError` naming the file, the strategy and the field
("strategies.yaml: strategy 'x': factors.rsi.weight must be a number, got 'abc'").

A strategy may ``extends: <preset>``: the preset's mapping is deep-merged under the
strategy's own keys (mappings merge key by key, lists and scalars replace), so
``factors: {rsi: {weight: 0}}`` switches one preset factor off.

The presets' raw mappings (:data:`PRESET_NAMES`, :func:`preset_mapping`) live here because
``extends:`` needs them; :mod:`botbox_dagster.domain.presets` re-exports them next to the parsed
presets (``load_preset``). The import goes one way only, presets -> strategy_config, so the two
modules never import each other.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from botbox_dagster.domain.errors import ConfigError
from botbox_dagster.domain.factors import FACTORS
from botbox_dagster.domain.regime import Regime
from botbox_dagster.domain.strategy import (
    _TIMEFRAME_ALIASES,
    FACTOR_ALIASES,
    TIMEFRAMES,
    EntryRule,
    ExitRule,
    FactorConfig,
    GridConfig,
    Sizing,
    StopKind,
    StopRule,
    StrategySpec,
    Template,
)

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


class _Ctx:
    """Where errors point: the source plus the strategy once its name is known."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(self.where, message, field=path or None)

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be a mapping, got {value!r}")
        for key in value:
            if key not in allowed:
                name = f"{path}.{key}" if path else str(key)
                raise self.error(name, f"is not a known key (known: {', '.join(allowed)})")
        return value

    def number(
        self,
        value: Any,
        path: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(path, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise self.error(path, f"must be a finite number, got {value!r}")
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        high_bad = hi is not None and (value >= hi if hi_open else value > hi)
        if low_bad or high_bad:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            span = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
            raise self.error(path, f"must be in {span}, got {value!r}")
        return float(value)

    def integer(self, value: Any, path: str, lo: int = 1) -> int:
        number = self.number(value, path)
        if number != int(number):
            raise self.error(path, f"must be an integer, got {value!r}")
        if number < lo:
            raise self.error(path, f"must be at least {lo}, got {value!r}")
        return int(number)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"must be true or false, got {value!r}")
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.error(path, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)


_TOP_KEYS = (
    "name",
    "extends",
    "template",
    "description",
    "timeframe",
    "factors",
    "entry",
    "exit",
    "stop_loss",
    "take_profit",
    "sizing",
    "regimes",
    "grid",
)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Override merged over base: nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_strategy(mapping: Any, where: str) -> StrategySpec:
    """Validate a strategy mapping (from YAML) into a :class:`StrategySpec`.

    ``where`` names the source ("strategies.yaml"); errors add the strategy's name.
    """
    ctx = _Ctx(where)
    raw = ctx.mapping(mapping, "", _TOP_KEYS)
    name = raw.get("name")
    if "name" in raw and (not isinstance(name, str) or not name.strip()):
        raise ctx.error("name", f"must be a non-empty string, got {name!r}")
    if name:
        ctx.where = f"{where}: strategy {name!r}" if where else f"strategy {name!r}"
    if "extends" in raw:
        base = ctx.choice(raw["extends"], "extends", PRESET_NAMES)
        raw = deep_merge(preset_mapping(base), {k: v for k, v in raw.items() if k != "extends"})
        raw.pop("extends", None)
        name = raw["name"]
    if not name:
        raise ctx.error("name", "is required")
    if "template" not in raw:
        raise ctx.error("template", "is required")
    template = Template(ctx.choice(raw["template"], "template", tuple(Template)))
    timeframe = raw.get("timeframe")
    if "timeframe" not in raw:
        raise ctx.error("timeframe", "is required")
    if isinstance(timeframe, str):
        timeframe = _TIMEFRAME_ALIASES.get(timeframe, timeframe)
    timeframe = ctx.choice(timeframe, "timeframe", tuple(TIMEFRAMES))
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ctx.error("description", f"must be a string, got {description!r}")

    factors = _parse_factors(ctx, raw.get("factors", {}))
    entry = _parse_entry(ctx, raw.get("entry", {}))
    spec = StrategySpec(
        name=name,
        template=template,
        timeframe=timeframe,
        factors=factors,
        entry=entry,
        exit=_parse_exit(ctx, raw.get("exit", {}), entry),
        stop_loss=_parse_stop(ctx, raw.get("stop_loss"), "stop_loss"),
        take_profit=_parse_stop(ctx, raw.get("take_profit"), "take_profit"),
        sizing=_parse_sizing(ctx, raw.get("sizing", {})),
        regimes=_parse_regimes(ctx, raw.get("regimes", [])),
        grid=_parse_grid(ctx, raw["grid"]) if raw.get("grid") is not None else None,
        description=description.strip(),
    )
    _check_template(ctx, spec)
    return spec


def _parse_factors(ctx: _Ctx, value: Any) -> tuple[FactorConfig, ...]:
    known = (*FACTORS, *FACTOR_ALIASES)
    raw = ctx.mapping(value, "factors", known)
    out: dict[str, FactorConfig] = {}
    for given, body in raw.items():
        name = FACTOR_ALIASES.get(given, given)
        path = f"factors.{given}"
        if name in out:
            raise ctx.error(path, f"duplicates factor {name!r}")
        body = ctx.mapping(body, path, ("weight", "params"))
        if "weight" not in body:
            raise ctx.error(f"{path}.weight", "is required")
        weight = ctx.number(body["weight"], f"{path}.weight", 0.0)
        out[name] = FactorConfig(name, weight, _parse_params(ctx, name, body.get("params"), path))
    return tuple(out.values())


def _parse_params(ctx: _Ctx, factor: str, value: Any, path: str) -> Any:
    params_type = FACTORS[factor].params_type
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    raw = ctx.mapping(value if value is not None else {}, f"{path}.params", tuple(fields))
    kwargs: dict[str, Any] = {}
    for key, given in raw.items():
        where = f"{path}.params.{key}"
        default = fields[key].default
        kwargs[key] = (
            ctx.integer(given, where) if isinstance(default, int) else ctx.number(given, where)
        )
    params = params_type(**kwargs)
    for key, message in params.problems():
        raise ctx.error(f"{path}.params.{key}", message)
    return params


def _parse_entry(ctx: _Ctx, value: Any) -> EntryRule:
    raw = ctx.mapping(value, "entry", ("long_above", "short_below"))
    default = EntryRule()
    long_above = raw.get("long_above", default.long_above)
    short_below = raw.get("short_below", default.short_below)
    if long_above is not None:
        long_above = ctx.number(long_above, "entry.long_above", 0.0, 1.0, lo_open=True)
    if short_below is not None:
        short_below = ctx.number(short_below, "entry.short_below", -1.0, 0.0, hi_open=True)
    if long_above is None and short_below is None:
        raise ctx.error("entry", "must allow at least one side (long_above or short_below)")
    return EntryRule(long_above, short_below)


def _parse_exit(ctx: _Ctx, value: Any, entry: EntryRule) -> ExitRule:
    raw = ctx.mapping(value, "exit", ("threshold", "on_opposite_signal", "max_holding_bars"))
    default = ExitRule()
    threshold = raw.get("threshold", default.threshold)
    if threshold is not None:
        threshold = ctx.number(threshold, "exit.threshold", -1.0, 1.0)
        if entry.long_above is not None and threshold >= entry.long_above:
            raise ctx.error(
                "exit.threshold",
                f"must be below entry.long_above ({entry.long_above}), got {threshold}",
            )
        if entry.short_below is not None and -threshold <= entry.short_below:
            raise ctx.error(
                "exit.threshold",
                f"must be below -entry.short_below ({-entry.short_below}), got {threshold}",
            )
    opposite = ctx.boolean(raw.get("on_opposite_signal", True), "exit.on_opposite_signal")
    bars = raw.get("max_holding_bars")
    bars = ctx.integer(bars, "exit.max_holding_bars") if bars is not None else None
    return ExitRule(threshold, opposite, bars)


def _parse_stop(ctx: _Ctx, value: Any, path: str) -> StopRule | None:
    if value is None:
        return None
    raw = ctx.mapping(value, path, ("atr", "pct", "atr_length"))
    kinds = [k for k in ("atr", "pct") if k in raw]
    if len(kinds) != 1:
        raise ctx.error(path, "must give exactly one of atr (ATR multiple) or pct (percent)")
    kind = StopKind(kinds[0])
    hi = 100.0 if kind is StopKind.PCT else None
    amount = ctx.number(
        raw[kind.value], f"{path}.{kind.value}", 0.0, hi, lo_open=True, hi_open=True
    )
    if "atr_length" in raw and kind is not StopKind.ATR:
        raise ctx.error(f"{path}.atr_length", "only applies to an atr stop")
    length = ctx.integer(raw.get("atr_length", 14), f"{path}.atr_length", 2)
    return StopRule(kind, amount, length)


def _parse_sizing(ctx: _Ctx, value: Any) -> Sizing:
    raw = ctx.mapping(value, "sizing", ("fraction", "max_position_value"))
    fraction = ctx.number(
        raw.get("fraction", Sizing.fraction), "sizing.fraction", 0.0, 1.0, lo_open=True
    )
    cap = raw.get("max_position_value")
    if cap is not None:
        cap = ctx.number(cap, "sizing.max_position_value", 0.0, lo_open=True)
    return Sizing(fraction, cap)


def _parse_regimes(ctx: _Ctx, value: Any) -> frozenset[Regime]:
    if not isinstance(value, list | tuple):
        raise ctx.error("regimes", f"must be a list of regimes, got {value!r}")
    return frozenset(Regime(ctx.choice(v, "regimes", tuple(Regime))) for v in value)


def _parse_grid(ctx: _Ctx, value: Any) -> GridConfig:
    raw = ctx.mapping(value, "grid", ("levels", "spacing_pct", "reference_bars"))
    default = GridConfig()
    return GridConfig(
        levels=ctx.integer(raw.get("levels", default.levels), "grid.levels"),
        spacing_pct=ctx.number(
            raw.get("spacing_pct", default.spacing_pct),
            "grid.spacing_pct",
            0.0,
            100.0,
            lo_open=True,
            hi_open=True,
        ),
        reference_bars=ctx.integer(
            raw.get("reference_bars", default.reference_bars), "grid.reference_bars", 2
        ),
    )


def _check_template(ctx: _Ctx, spec: StrategySpec) -> None:
    """Cross-field rules that depend on the template."""
    if spec.template is Template.GRID:
        if spec.grid is None:
            raise ctx.error("grid", "is required by template grid")
        if spec.grid.levels * spec.grid.spacing_pct >= 100:
            raise ctx.error("grid", "levels × spacing_pct must stay below 100%")
    else:
        if spec.grid is not None:
            raise ctx.error("grid", f"only applies to template grid, not {spec.template}")
        if spec.total_weight <= 0:
            raise ctx.error("factors", "need at least one factor with a weight above 0")
    if spec.template is Template.FUNDING_ARBITRAGE and not spec.needs_funding:
        raise ctx.error("factors", "of template funding_arbitrage must weigh funding_rate above 0")
