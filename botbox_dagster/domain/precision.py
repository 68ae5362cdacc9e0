"""Fitting an order to a market's precision and limits, at the edge before it is sent.

Sizing upstream works in plain numbers; here they become ``Decimal`` and are rounded the
way the venue will check them. The amount always rounds DOWN to the step: rounding up could
spend more than risk allowed or more than the balance holds. Every check returns a denial
reason an operator can read, or ``None``, like the risk checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

type Number = Decimal | float | int | str

# 60 digits hold any value up to _MAX_VALUE at a 1e-30 step exactly: rounding never rounds
# silently. Larger inputs are denied rather than approximated.
_CTX = Context(prec=60)
_MAX_VALUE = Decimal("1e24")
_MIN_STEP = Decimal("1e-30")


class PriceRounding(StrEnum):
    """Which way a price goes to the tick: a buy limit rounds DOWN (never pay more), a sell
    limit UP (never sell for less); NEAREST for prices that only need to be on the grid."""

    NEAREST = "NEAREST"
    DOWN = "DOWN"
    UP = "UP"


_ROUNDING = {
    PriceRounding.NEAREST: ROUND_HALF_EVEN,
    PriceRounding.DOWN: ROUND_FLOOR,
    PriceRounding.UP: ROUND_CEILING,
}


def to_decimal(value: Number) -> Decimal:
    """A Decimal for ``value``; floats go through ``repr`` so 0.1 becomes 0.1, not 0.1000…055.

    Raises ``ValueError`` for anything that is not a number (NaN and infinities pass: the
    checks below turn them into denial reasons).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def invalid_reason(name: str, value: Number) -> str | None:
    """Why ``value`` cannot be a quantity or price (NaN, infinite, zero, negative), or None."""
    try:
        number = to_decimal(value)
    except ValueError:
        return f"{name} {value!r} is not a number"
    if not number.is_finite():
        return f"{name} {value} is not a finite number"
    if number <= 0:
        return f"{name} {value} must be positive"
    if number > _MAX_VALUE:
        return f"{name} {value} is beyond any market's range (above {_MAX_VALUE})"
    return None


def _grid_args(
    value: Number, step: Number, what: str, *, allow_zero: bool
) -> tuple[Decimal, Decimal]:
    v, s = to_decimal(value), to_decimal(step)
    in_range = v.is_finite() and (v >= 0 if allow_zero else v > 0) and v <= _MAX_VALUE
    if not (in_range and s.is_finite() and _MIN_STEP <= s <= _MAX_VALUE):
        raise ValueError(f"cannot round {what} {value} to step {step}")
    return v, s


def _on_grid(value: Decimal, step: Decimal) -> Decimal:
    # Written with the step's decimals ("4200.00" at tick 0.01), the way venues echo them.
    exponent = step.as_tuple().exponent
    return (
        value.quantize(step, context=_CTX) if isinstance(exponent, int) and exponent < 0 else value
    )


def round_amount_down(amount: Number, step: Number) -> Decimal:
    """The largest multiple of ``step`` not above ``amount`` (a non-negative amount)."""
    a, s = _grid_args(amount, step, "amount", allow_zero=True)
    steps = _CTX.divide(a, s).to_integral_value(rounding=ROUND_FLOOR)
    return _on_grid(_CTX.multiply(steps, s), s)


def round_price(
    price: Number, tick: Number, rounding: PriceRounding = PriceRounding.NEAREST
) -> Decimal:
    """``price`` on the tick grid, rounded the way ``rounding`` says."""
    p, t = _grid_args(price, tick, "price", allow_zero=False)
    ticks = _CTX.divide(p, t).to_integral_value(rounding=_ROUNDING[rounding])
    return _on_grid(_CTX.multiply(ticks, t), t)


@dataclass(frozen=True)
class MarketPrecision:
    """A market's grid and limits, as the venue declares them (ccxt ``market`` data)."""

    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_notional: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("amount_step", "price_tick"):
            reason = invalid_reason(name, getattr(self, name))
            if reason:
                raise ValueError(f"market precision: {reason}")

    @classmethod
    def from_ccxt_market(cls, market: Mapping[str, Any]) -> MarketPrecision:
        """From a ccxt market dict in TICK_SIZE precision mode (ccxt 4's default for Binance).

        Exchanges in DECIMAL_PLACES mode give digit counts instead: convert those first.
        """
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}

        def limit(kind: str, end: str) -> Decimal | None:
            value = (limits.get(kind) or {}).get(end)
            return None if value is None else to_decimal(value)

        return cls(
            amount_step=to_decimal(precision["amount"]),
            price_tick=to_decimal(precision["price"]),
            min_amount=limit("amount", "min"),
            max_amount=limit("amount", "max"),
            min_notional=limit("cost", "min"),
        )


@dataclass(frozen=True)
class FittedOrder:
    """The order as it will be sent, or the reason it will not be (``denial``)."""

    amount: Decimal
    price: Decimal
    denial: str | None = None

    @property
    def ok(self) -> bool:
        return self.denial is None


def check_limits(
    amount: Decimal, price: Decimal, market: MarketPrecision, requested: Number | None = None
) -> str | None:
    """Why an already-rounded order breaks the market's limits, or None.

    With ``requested`` (the amount before rounding) the reason names it too: the operator
    sized that amount and needs to see that rounding is what pushed it under a minimum.
    """
    rounded_note = ""
    if requested is not None and to_decimal(requested) != amount:
        rounded_note = f" after rounding to step {market.amount_step} ({amount})"
    shown = amount if requested is None else requested
    if market.min_amount is not None and amount < market.min_amount:
        return f"amount {shown} below market minimum {market.min_amount}{rounded_note}"
    if amount <= 0:
        return f"amount {shown} rounds down to 0 at step {market.amount_step}"
    if market.max_amount is not None and amount > market.max_amount:
        return f"amount {shown} above market maximum {market.max_amount}{rounded_note}"
    notional = _CTX.multiply(amount, price)
    if market.min_notional is not None and notional < market.min_notional:
        return f"notional {notional.normalize():f} ({amount} x {price}) below market minimum {market.min_notional}"
    return None


def fit_order(
    amount: Number,
    price: Number,
    market: MarketPrecision,
    rounding: PriceRounding = PriceRounding.NEAREST,
) -> FittedOrder:
    """Round ``amount`` down to the step and ``price`` to the tick, then check the limits.

    ``price`` is the limit price, or for a market order the reference price the notional is
    judged at. ``rounding`` applies to the price only; the amount always rounds down.
    """
    for name, value in (("amount", amount), ("price", price)):
        reason = invalid_reason(name, value)
        if reason:
            return FittedOrder(Decimal(0), Decimal(0), reason)
    rounded_amount = round_amount_down(amount, market.amount_step)
    rounded_price = round_price(price, market.price_tick, rounding)
    denial = check_limits(rounded_amount, rounded_price, market, requested=amount)
    return FittedOrder(rounded_amount, rounded_price, denial)


def is_dust(denial: str) -> bool:
    """Whether a ``check_limits`` denial means the amount is too small for the market (below
    its minimum amount or notional, or under one step): what is left can never be sold."""
    return "below market minimum" in denial or "rounds down to 0" in denial


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` lies on the grid of ``step`` (for checks and tests)."""
    if not step.is_finite() or step <= 0:
        return False
    return _CTX.remainder(value, step) == 0
