"""The execution model: queued trades, venue answers, positions and their P&L.

Pure data and arithmetic: which side an order takes, what a fill does to a position, what a
closed position earned. The store applies these in one transaction per fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

QUEUE_COLUMNS = (
    "id, bot_id, signal_id, exchange, symbol, direction, entry_price, stop_loss, take_profit, "
    "position_size, status, attempts, client_order_id, order_id, reason, created_at, "
    "expires_at, next_attempt_at, run_id, updated_at"
)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True)
class QueueRow:
    """One ``trade_queue`` row as the execution run sees it."""

    id: int
    bot_id: str
    signal_id: int | None
    exchange: str
    symbol: str
    direction: str  # LONG, SHORT or CLOSE
    entry_price: float | None
    stop_loss: float | None
    take_profit: float | None
    position_size: float
    status: str
    attempts: int
    client_order_id: str
    order_id: str | None
    reason: str | None
    created_at: datetime
    expires_at: datetime
    next_attempt_at: datetime | None
    run_id: str | None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> QueueRow:
        return cls(*row)

    @property
    def is_close(self) -> bool:
        return self.direction == "CLOSE"


@dataclass(frozen=True)
class OpenPosition:
    id: int
    bot_id: str
    symbol: str
    direction: str
    amount: float
    entry_price: float
    stop_loss: float | None
    take_profit: float | None
    fees: float


@dataclass(frozen=True)
class Fill:
    amount: float
    price: float
    fee: float
    trade_key: str


@dataclass(frozen=True)
class OrderResult:
    """What the venue says about an order (paper or live)."""

    client_order_id: str
    exchange_order_id: str
    side: Side
    amount: float
    status: str  # OrderStatus value: FILLED, PARTIALLY_FILLED, NEW, ...
    filled: float
    average_price: float | None
    fee: float
    fee_currency: str | None
    fills: tuple[Fill, ...] = field(default_factory=tuple)


def entry_side(direction: str) -> Side:
    return Side.BUY if direction == "LONG" else Side.SELL


def exit_side(position_direction: str) -> Side:
    return Side.SELL if position_direction == "LONG" else Side.BUY


def realized_pnl(
    direction: str, amount: float, entry: float, exit_price: float, fees: float
) -> float:
    """Quote-currency profit of a closed position, after every fee paid on both legs."""
    sign = 1.0 if direction == "LONG" else -1.0
    return sign * (exit_price - entry) * amount - fees


def unrealized_pnl(direction: str, amount: float, entry: float, mark: float) -> float:
    sign = 1.0 if direction == "LONG" else -1.0
    return sign * (mark - entry) * amount


def stop_or_target_hit(position: OpenPosition, low: float, high: float) -> tuple[str, float] | None:
    """Whether a bar's range touched the stop loss or take profit: (reason, trigger price).

    When one bar touches both, the stop wins: the bar's path is unknown and assuming the worse
    outcome keeps paper results honest.
    """
    long = position.direction == "LONG"
    stop, target = position.stop_loss, position.take_profit
    if stop is not None and (low <= stop if long else high >= stop):
        return "stop loss", stop
    if target is not None and (high >= target if long else low <= target):
        return "take profit", target
    return None
