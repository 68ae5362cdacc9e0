"""The execution model: queued trades, venue answers, positions and their P&L.

Pure data and arithmetic: which side an order takes, what a fill does to a position, what a
closed position earned. The store applies these in one transaction per fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

QUEUE_COLUMNS = (
    "id, bot_id, signal_id, exchange, symbol, direction, entry_price, stop_loss, take_profit, "
    "position_size, status, attempts, client_order_id, order_id, reason, created_at, "
    "expires_at, next_attempt_at, run_id, updated_at, sent_at, send_mode, trigger_price"
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
    # Set just before the order request leaves: from then on the order may be at the venue,
    # so the row is settled from the venue's records (in ``send_mode``), never sent blindly again.
    sent_at: datetime | None = None
    send_mode: str | None = None
    # A stop loss or take profit the position monitor found: the price the exit triggered at
    # (a simulated venue fills there; a live one sends a market order). None for signals.
    trigger_price: float | None = None

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
    note: str | None = None  # why a simulated order filled less (the paper volume cap)


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


TERMINAL_ORDER_STATUSES = frozenset({"FILLED", "EXPIRED", "CANCELED", "REJECTED"})


def base_and_quote(symbol: str) -> tuple[str, str]:
    """``BTC/USDT`` → (``BTC``, ``USDT``); a ccxt settle suffix (``:USDT``) is ignored."""
    base, _, rest = symbol.partition("/")
    return base, rest.split(":")[0]


@dataclass(frozen=True)
class FillDelta:
    """What an order filled since the ledger last applied it to the position.

    An order followed from NEW through PARTIALLY_FILLED to a terminal state is read several
    times; each read applies only the part not applied before, so a position never counts a
    fill twice.
    """

    amount: float  # gross base amount traded
    cost: float  # quote amount traded
    fee: float  # in ``fee_currency``

    @property
    def price(self) -> float:
        return self.cost / self.amount


def fill_delta(
    result: OrderResult, applied_filled: float, applied_cost: float, applied_fee: float
) -> FillDelta | None:
    """The not-yet-applied part of an order, or None when nothing new filled."""
    amount = result.filled - applied_filled
    if amount <= 1e-12 or not result.average_price:
        return None
    cost = result.filled * result.average_price - applied_cost
    return FillDelta(amount, max(cost, 0.0), max(result.fee - applied_fee, 0.0))


def fee_in_quote(
    fee: float, fee_currency: str | None, symbol: str, price: float
) -> tuple[float, str | None]:
    """A fee in the market's quote currency, converted at the fill price when paid in base.

    Returns (fee in quote, note): a fee in a third currency (BNB) cannot be converted from
    this market's price; it is left out of quote P&L and the note says so.
    """
    base, quote = base_and_quote(symbol)
    if fee == 0 or fee_currency in (None, quote):
        return fee, None
    if fee_currency == base:
        return fee * price, None
    return 0.0, f"fee of {fee:.8g} {fee_currency} not in {quote} P&L"


def decimal_sum(a: float, b: float) -> float:
    """``a + b`` added in decimal, from each float's shortest repr.

    Amounts are decimal quantities on the venue's grid: in binary floats 0.4995 − 0.1998 is
    0.29969999999999997, which rounds down a whole step when sized for the next order (the
    position would leave one step of dust per partial CLOSE)."""
    return float(Decimal(repr(float(a))) + Decimal(repr(float(b))))


def base_received(
    side: Side, amount: float, fee: float, fee_currency: str | None, symbol: str
) -> float:
    """Base asset the account gained (buy) or gave up (sell) for ``amount`` traded.

    A spot buy without BNB pays its commission in the asset bought (Binance commission FAQ,
    docs/venue-contract.md): buy 1.0, hold 0.999. That held amount is the position.
    """
    base, _ = base_and_quote(symbol)
    if side is Side.BUY and fee_currency == base:
        return decimal_sum(amount, -fee)
    return amount


def closed_part_pnl(
    position: OpenPosition, amount: float, exit_price: float, exit_fee_quote: float
) -> tuple[float, float]:
    """(realized P&L, entry fees used) of closing ``amount`` of a position.

    The position's entry fees are charged pro rata to the part closed, so a position closed in
    two parts realizes in total exactly what one close would.
    """
    share = min(amount / position.amount, 1.0) if position.amount > 0 else 1.0
    entry_fees = position.fees * share
    pnl = realized_pnl(
        position.direction, amount, position.entry_price, exit_price, entry_fees + exit_fee_quote
    )
    return pnl, entry_fees
