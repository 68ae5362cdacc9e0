"""Signal validation: each rule returns a denial reason, or None to let the signal pass.

Rules run in a fixed order (:data:`RULES`) and the first denial is the reason logged on the
REJECTED signal, so an operator reads one precise cause per signal. Validation is about the
signal itself (is it sane to act now?); :mod:`botbox_dagster.domain.risk` is about exposure.

CLOSE signals reduce risk: the regime, pause-all, duplicate-entry and short-selling rules never
block them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.domain.circuit_breaker import DEFAULT_CONFIG, BreakerConfig, BreakerStatus
from botbox_dagster.domain.regime import Regime
from botbox_dagster.domain.scoring import Direction
from botbox_dagster.domain.timeframes import candle_age, freshness_limit

CIRCUIT_OPEN = "circuit open"
FLEET_PAUSED = "fleet paused"
NO_FUNDING = "no funding data"


def _is_close(direction: str) -> bool:
    return direction == Direction.CLOSE


def regime_favourable(
    direction: str, regime: Regime | None, allowed: frozenset[Regime]
) -> str | None:
    """An entry needs the market's regime to be one the strategy trades in (empty: any)."""
    if _is_close(direction) or not allowed:
        return None
    if regime is None:
        return "regime unknown (indicator warm-up)"
    if regime not in allowed:
        return f"regime {regime} not favourable (trades in {', '.join(sorted(allowed))})"
    return None


def no_duplicate_position(
    direction: str, open_directions: frozenset[str], pending_directions: frozenset[str]
) -> str | None:
    """No second entry while the bot holds or has queued a position in the same direction, and
    no entry beside a position held the other way (a bot holds one position on its market: the
    opposite signal must close it first; execution would refuse it anyway).

    A CLOSE is a duplicate only while another CLOSE for the bot is still pending.
    """
    if _is_close(direction):
        return "duplicate: CLOSE already pending" if direction in pending_directions else None
    if direction in open_directions:
        return f"duplicate: {direction} position already open"
    if open_directions:
        held = ", ".join(sorted(open_directions))
        return f"a {held} position is open: it must close before a {direction} entry"
    if direction in pending_directions:
        return f"duplicate: {direction} order already pending"
    return None


def bot_still_active(status: BotStatus | str | None) -> str | None:
    """The bot must still be ACTIVE right before queuing (paused or deleted meanwhile: no trade)."""
    if status is None:
        return "bot no longer exists"
    if str(status) != BotStatus.ACTIVE:
        return f"bot {status} since evaluation"
    return None


def data_fresh(
    candle_time: datetime, timeframe: str, now: datetime, limit: timedelta | None = None
) -> str | None:
    """The signal's candle closed no longer ago than the freshness limit (2 min on 1m)."""
    limit = freshness_limit(timeframe) if limit is None else limit
    age = candle_age(candle_time, timeframe, now)
    if age > limit:
        return f"data too old: candle closed {age.total_seconds():.0f}s ago (limit {limit.total_seconds():.0f}s)"
    return None


def breaker_is_open(
    row: Mapping[str, Any] | None, now: datetime, config: BreakerConfig = DEFAULT_CONFIG
) -> bool:
    """Read a stored circuit-breaker row (``BreakerState.to_row``): open while OPEN and within
    its hold. Past the hold the next exchange call probes it, so signals flow again; HALF_OPEN
    counts as closed here (the probe is the execution layer's business)."""
    if not row:
        return False
    status = str(row.get("status", row.get("state", "CLOSED"))).upper()
    if status != BreakerStatus.OPEN:
        return False
    opened_at = row.get("opened_at")
    if opened_at is None:
        return True
    return now.timestamp() < float(opened_at) + config.open_seconds


def circuit_closed(direction: str, breaker_open: bool) -> str | None:
    """While an exchange's breaker is open its bots open no new positions. Exits are queued:
    CLOSE rows never expire and the executor sends nothing while the breaker is open, so the
    exit waits in the queue for the probe. Rejected here, it could not be queued again until
    the bot's next candle (a signal is logged once per candle)."""
    return CIRCUIT_OPEN if breaker_open and not _is_close(direction) else None


def pause_active(pause: Mapping[str, Any] | None, now: datetime) -> bool:
    """Read the ``pause_all`` control: paused unless its ``until`` has passed."""
    if not pause or not pause.get("paused"):
        return False
    until = pause.get("until")
    if until:
        try:
            return datetime.fromisoformat(str(until)) > now
        except ValueError:
            return True
    return True


def fleet_not_paused(direction: str, paused: bool) -> str | None:
    """Pause-all blocks new entries; exits still go through to protect capital."""
    return FLEET_PAUSED if paused and not _is_close(direction) else None


def short_allowed(direction: str, account: str, market_type: MarketType | str) -> str | None:
    """A SHORT entry needs an account that can sell what it does not hold (margin or futures).

    A spot account's SELL needs the base balance (docs/venue-contract.md §8), so the short would
    only fail at execution; rejecting it here logs the reason on the signal instead. Paper
    accounts have the market type they declare. LONG entries and CLOSE signals always pass.
    """
    if direction != Direction.SHORT or MarketType(market_type).can_short:
        return None
    return f"short selling needs a margin or futures account; {account} is {market_type}"


def funding_available(needs_funding: bool, has_funding: bool) -> str | None:
    """Strategies that score funding need a funding-rate series for their market."""
    return NO_FUNDING if needs_funding and not has_funding else None


@dataclass(frozen=True)
class ValidationContext:
    """Everything the rules read about one signal, gathered right before queuing."""

    now: datetime
    candle_time: datetime
    timeframe: str
    regime: Regime | None
    allowed_regimes: frozenset[Regime]
    bot_status: BotStatus | str | None
    open_directions: frozenset[str] = frozenset()
    pending_directions: frozenset[str] = frozenset()
    breaker_open: bool = False
    paused: bool = False
    needs_funding: bool = False
    has_funding: bool = True
    max_data_age: timedelta | None = None
    # The bot's exchange account and its market type (spot unless the fleet file says otherwise).
    account: str = ""
    market_type: MarketType = MarketType.SPOT


Rule = Callable[[str, ValidationContext], str | None]

RULES: tuple[tuple[str, Rule], ...] = (
    ("bot_active", lambda d, c: bot_still_active(c.bot_status)),
    ("fleet_paused", lambda d, c: fleet_not_paused(d, c.paused)),
    ("circuit", lambda d, c: circuit_closed(d, c.breaker_open)),
    ("short_selling", lambda d, c: short_allowed(d, c.account, c.market_type)),
    ("funding", lambda d, c: funding_available(c.needs_funding, c.has_funding)),
    ("data_age", lambda d, c: data_fresh(c.candle_time, c.timeframe, c.now, c.max_data_age)),
    ("regime", lambda d, c: regime_favourable(d, c.regime, c.allowed_regimes)),
    (
        "duplicate",
        lambda d, c: no_duplicate_position(d, c.open_directions, c.pending_directions),
    ),
)


def validate(direction: str, ctx: ValidationContext) -> str | None:
    """The first denial among :data:`RULES`, or None when the signal is valid."""
    for _name, rule in RULES:
        reason = rule(direction, ctx)
        if reason is not None:
            return reason
    return None
