"""Signals and trade intents: identity, due-bot timing, sizing and queue ordering.

A signal's identity is (bot, market, direction, candle time): :func:`signal_hash` turns it into
the unique key of the ``signals`` table, so a repeated evaluation of the same closed candle can
never log a second signal, and :func:`~botbox_dagster.domain.client_order_id.client_order_id`
turns the same identity into the order's client id.

A bot checked every N minutes is due once per N-minute slot, slots aligned to the candle close
(a 15-minute bot is due at :00, :15, :30 and :45, when its 15m candle has just closed). The
ledger claims a due bot by moving ``last_check_at`` into the current slot with an optimistic
lock, so two overlapping ticks never evaluate a bot twice in one slot.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botbox_dagster.domain.bots import Bot
from botbox_dagster.domain.client_order_id import ClientOrderIdFormat, client_order_id
from botbox_dagster.domain.scoring import Direction
from botbox_dagster.domain.strategy import Sizing, StrategySpec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Signals that could not name a direction (no funding data) are still logged, under this name.
NO_DIRECTION = "NONE"
# trade_queue.priority: lower is taken first; CLOSE rows go before any new entry.
PRIORITY_CLOSE = 0
PRIORITY_OPEN = 100
QUEUE_TTL = timedelta(minutes=5)


class SignalStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXECUTED = "EXECUTED"


def _ms(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError("candle_time must be timezone-aware (UTC)")
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def signal_hash(
    bot_id: str, exchange: str, symbol: str, direction: str, candle_time: datetime
) -> str:
    """The unique key of a signal: SHA-256 hex of its identity, stable across processes."""
    identity = ["v1", bot_id, exchange, symbol, str(direction), _ms(candle_time)]
    text = json.dumps(identity, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slot_start(now: datetime, interval_minutes: int) -> datetime:
    """Start of the ``interval_minutes`` slot containing ``now`` (aligned to the UTC epoch)."""
    step = interval_minutes * 60
    seconds = int((now - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % step)


def is_due(last_check_at: datetime | None, interval_minutes: int, now: datetime) -> bool:
    """A bot is due when it has not been checked since its current slot began."""
    return last_check_at is None or last_check_at < slot_start(now, interval_minutes)


def pending_key(bot_id: str, symbol: str, direction: str) -> str:
    """The trade_queue key that the database keeps unique while a row is PENDING."""
    return f"{bot_id}|{symbol}|{direction}"


def priority(direction: str) -> int:
    return PRIORITY_CLOSE if direction == Direction.CLOSE else PRIORITY_OPEN


@dataclass(frozen=True)
class ClaimedBot:
    """A bot's configuration as snapshot when the tick claimed it; later edits are ignored."""

    bot: Bot
    spec: StrategySpec
    config_hash: str
    venue: str = ""  # the account's ccxt exchange id: its orders use that venue's id format


def position_value(capital: float, sizing: Sizing, bot_cap: float | None) -> float:
    """Quote value of a new position: fraction × capital, capped by the strategy and the bot."""
    value = capital * sizing.fraction
    for cap in (sizing.max_position_value, bot_cap):
        if cap is not None:
            value = min(value, cap)
    return value


@dataclass(frozen=True)
class TradeIntent:
    """What a signal asks the execution layer to do; one ``trade_queue`` row."""

    bot_id: str
    exchange: str
    symbol: str
    direction: str
    entry_price: float
    position_size: float  # base-currency amount
    stop_loss: float | None
    take_profit: float | None
    client_order_id: str
    priority: int
    pending_key: str

    @property
    def value(self) -> float:
        return self.position_size * self.entry_price


def trade_intent(
    bot: Bot,
    spec: StrategySpec,
    direction: str,
    candle_time: datetime,
    price: float,
    *,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    close_amount: float | None = None,
    fmt: ClientOrderIdFormat | None = None,
) -> TradeIntent:
    """Size a signal into a trade intent (CLOSE takes the open position's amount)."""
    if direction == Direction.CLOSE:
        amount = float(close_amount or 0.0)
    else:
        value = position_value(bot.capital, spec.sizing, bot.limits.max_position_value)
        amount = value / price if price > 0 else 0.0
    kwargs: dict[str, Any] = {} if fmt is None else {"fmt": fmt}
    return TradeIntent(
        bot_id=bot.id,
        exchange=bot.exchange,
        symbol=bot.symbol,
        direction=str(direction),
        entry_price=price,
        position_size=amount,
        stop_loss=stop_loss,
        take_profit=take_profit,
        client_order_id=client_order_id(bot.id, bot.symbol, str(direction), candle_time, **kwargs),
        priority=priority(direction),
        pending_key=pending_key(bot.id, bot.symbol, str(direction)),
    )


@dataclass(frozen=True)
class Signal:
    """One evaluation that produced a signal, as logged in ``signals`` (before its verdict)."""

    bot_id: str
    strategy_id: str
    exchange: str
    symbol: str
    timeframe: str
    direction: str
    candle_time: datetime
    price: float | None
    score: float | None
    contributions: dict[str, dict[str, float]]
    regime: str | None
    reason: str
    intent: TradeIntent | None = None

    @property
    def hash(self) -> str:
        return signal_hash(
            self.bot_id, self.exchange, self.symbol, self.direction, self.candle_time
        )

    def contributions_json(self) -> str:
        """JSON for ``signals.contributions``; non-finite numbers become null."""
        clean = {
            name: {k: (v if math.isfinite(v) else None) for k, v in parts.items()}
            for name, parts in self.contributions.items()
        }
        return json.dumps(clean, sort_keys=True)


@dataclass(frozen=True)
class Verdict:
    """A signal's fate: ACCEPTED (with the intent queued) or REJECTED with the reason."""

    signal: Signal
    status: SignalStatus
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.status is SignalStatus.ACCEPTED
