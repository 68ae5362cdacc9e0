"""Bots: who trades what, how often, with how much.

A bot is configuration (declared in YAML, validated here) plus a little state kept by the ledger
(status, last check). Validation collects precise, operator-readable errors naming the file, the
bot and the field; nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botbox_dagster.domain.errors import ConfigError

CHECK_INTERVALS = (1, 5, 15, 60)
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
# A single bot holding more than this is a typo, not a strategy (it protects against "1e12").
MAX_CAPITAL = 1e9


class BotStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    DELETED = "DELETED"


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


@dataclass(frozen=True)
class BotLimits:
    """Per-bot risk limits (account-wide limits live on the exchange account)."""

    max_open_positions: int = 1
    max_position_value: float | None = None
    max_correlated_positions: int = 2


@dataclass(frozen=True)
class Bot:
    """A bot's configuration as the signal tick snapshots it."""

    id: str
    name: str
    strategy: str
    exchange: str
    symbol: str
    check_interval_minutes: int
    status: BotStatus = BotStatus.ACTIVE
    mode: TradingMode = TradingMode.PAPER
    capital: float = 1000.0
    limits: BotLimits = field(default_factory=BotLimits)

    @property
    def timeframe(self) -> str:
        return {1: "1m", 5: "5m", 15: "15m", 60: "1h"}[self.check_interval_minutes]


_BOT_KEYS = {
    "id",
    "name",
    "strategy",
    "exchange",
    "symbol",
    "check_interval_minutes",
    "status",
    "mode",
    "capital",
    "limits",
}
_LIMIT_KEYS = {"max_open_positions", "max_position_value", "max_correlated_positions"}


class _Errors:
    """Collects errors for one object so the operator sees all of them at once."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[ConfigError] = []

    def add(self, field_name: str | None, message: str) -> None:
        self.items.append(ConfigError(self.where, message, field=field_name))


def _number(errs: _Errors, name: str, value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errs.add(name, f"must be a number, got {value!r}")
        return math.nan
    if math.isnan(value) or math.isinf(value):
        errs.add(name, f"must be a finite number, got {value!r}")
        return math.nan
    if not minimum <= value <= maximum:
        errs.add(name, f"must be between {minimum:g} and {maximum:g}, got {value!r}")
    return float(value)


def _integer(errs: _Errors, name: str, value: Any, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(name, f"must be an integer, got {value!r}")
        return 0
    if not minimum <= value <= maximum:
        errs.add(name, f"must be between {minimum} and {maximum}, got {value!r}")
    return value


def _text(errs: _Errors, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        errs.add(name, f"must be a non-empty string, got {value!r}")
        return ""
    return value.strip()


def _choice(errs: _Errors, name: str, value: Any, enum: type[StrEnum]) -> Any:
    options = [m.value for m in enum]
    if not isinstance(value, str) or value not in options:
        upper = value.upper() if isinstance(value, str) else value
        lower = value.lower() if isinstance(value, str) else value
        for candidate in (upper, lower):
            if candidate in options:
                return enum(candidate)
        errs.add(name, f"must be one of {', '.join(options)}, got {value!r}")
        return None
    return enum(value)


def _one_position(errs: _Errors, value: Any) -> int:
    """A bot trades one symbol and holds at most one position in it (the ledger keeps one open
    position per bot and symbol), so any other value would be a limit that never binds."""
    count = _integer(errs, "limits.max_open_positions", value, minimum=1, maximum=100)
    if count > 1:
        errs.add(
            "limits.max_open_positions",
            f"must be 1, got {count}: a bot holds at most one position, in its one symbol; "
            "run one bot per position (the account's max_open_positions caps them together)",
        )
    return count


def parse_limits(errs: _Errors, raw: Any) -> BotLimits:
    if raw is None:
        return BotLimits()
    if not isinstance(raw, dict):
        errs.add("limits", f"must be a mapping, got {raw!r}")
        return BotLimits()
    for key in sorted(set(raw) - _LIMIT_KEYS):
        errs.add(f"limits.{key}", f"is not a known limit (known: {', '.join(sorted(_LIMIT_KEYS))})")
    defaults = BotLimits()
    mop = raw.get("max_open_positions", defaults.max_open_positions)
    mcp = raw.get("max_correlated_positions", defaults.max_correlated_positions)
    mpv = raw.get("max_position_value")
    return BotLimits(
        max_open_positions=_one_position(errs, mop),
        max_position_value=None
        if mpv is None
        else _number(errs, "limits.max_position_value", mpv, minimum=1e-9, maximum=MAX_CAPITAL),
        max_correlated_positions=_integer(
            errs, "limits.max_correlated_positions", mcp, minimum=1, maximum=100
        ),
    )


def parse_bot(raw: Any, where: str) -> tuple[Bot | None, list[ConfigError]]:
    """Validate one bot mapping; return the bot, or None and every error found."""
    if not isinstance(raw, dict):
        return None, [ConfigError(where, f"a bot must be a mapping, got {raw!r}")]
    bot_id = raw.get("id")
    label = f"{where}: bot {bot_id!r}" if isinstance(bot_id, str) else where
    errs = _Errors(label)
    for key in sorted(set(raw) - _BOT_KEYS):
        errs.add(key, f"is not a known bot field (known: {', '.join(sorted(_BOT_KEYS))})")
    if not isinstance(bot_id, str) or not ID_PATTERN.match(bot_id):
        errs.add("id", f"must be 1-48 lowercase letters, digits, '-' or '_', got {bot_id!r}")
    interval = raw.get("check_interval_minutes")
    # An int, not merely equal to one: 1.0 or True would slip through ``in`` as 1.
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int)
        or interval not in CHECK_INTERVALS
    ):
        allowed = ", ".join(str(i) for i in CHECK_INTERVALS)
        errs.add("check_interval_minutes", f"must be one of {allowed}, got {interval!r}")
    for required in ("strategy", "exchange", "symbol"):
        if required not in raw:
            errs.add(required, "is required")
    strategy = _text(errs, "strategy", raw.get("strategy")) if "strategy" in raw else ""
    exchange = _text(errs, "exchange", raw.get("exchange")) if "exchange" in raw else ""
    symbol = _text(errs, "symbol", raw.get("symbol")) if "symbol" in raw else ""
    if symbol and "/" not in symbol:
        errs.add("symbol", f"must be a market symbol like 'ETH/BTC', got {symbol!r}")
    status = _choice(errs, "status", raw.get("status", "ACTIVE"), BotStatus)
    mode = _choice(errs, "mode", raw.get("mode", "paper"), TradingMode)
    capital = _number(
        errs, "capital", raw.get("capital", 1000.0), minimum=1e-9, maximum=MAX_CAPITAL
    )
    limits = parse_limits(errs, raw.get("limits"))
    name = raw.get("name", bot_id)
    if not isinstance(name, str) or not name.strip():
        errs.add("name", f"must be a non-empty string, got {name!r}")
    if errs.items:
        return None, errs.items
    assert isinstance(bot_id, str) and isinstance(name, str) and isinstance(interval, int)
    return (
        Bot(
            id=bot_id,
            name=name.strip(),
            strategy=strategy,
            exchange=exchange,
            symbol=symbol,
            check_interval_minutes=interval,
            status=status,
            mode=mode,
            capital=capital,
            limits=limits,
        ),
        [],
    )
