"""Rounding to the market's grid: amounts never round up, bad inputs are denied with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botbox_dagster.domain.precision import (
    MarketPrecision,
    PriceRounding,
    check_limits,
    fit_order,
    invalid_reason,
    is_multiple,
    round_amount_down,
    round_price,
    to_decimal,
)

D = Decimal
ETH_USDT = MarketPrecision(
    amount_step=D("0.0001"),
    price_tick=D("0.01"),
    min_amount=D("0.0001"),
    max_amount=D("9000"),
    min_notional=D("5"),
)

steps = st.sampled_from(
    [D("1"), D("0.1"), D("0.001"), D("0.00001"), D("1e-8"), D("0.5"), D("0.25"), D("5"), D("10")]
)
amounts = st.decimals(
    min_value=0, max_value=10**9, allow_nan=False, allow_infinity=False, places=10
)


def test_floats_become_the_decimal_they_print_as() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal("2.50") == D("2.50")
    assert to_decimal(3) == D(3)
    with pytest.raises(ValueError):
        to_decimal(True)
    with pytest.raises(ValueError):
        to_decimal("ten")


def test_amount_rounds_down_never_up() -> None:
    assert round_amount_down(D("0.12349"), D("0.0001")) == D("0.1234")
    assert round_amount_down(0.99999, "0.001") == D("0.999")
    assert round_amount_down("17", "5") == D("15")
    assert round_amount_down("0.0009", "0.001") == 0
    assert str(round_amount_down("1.5", "0.001")) == "1.500"


def test_price_rounds_to_tick_in_the_chosen_direction() -> None:
    assert round_price("4200.125", "0.01") == D("4200.12")  # half-even
    assert round_price("4200.127", "0.01") == D("4200.13")
    assert round_price("4200.129", "0.01", PriceRounding.DOWN) == D("4200.12")
    assert round_price("4200.121", "0.01", PriceRounding.UP) == D("4200.13")
    assert round_price("7.3", "0.5") == D("7.5")
    assert str(round_price(4200, "0.01")) == "4200.00"


def test_rounding_refuses_nonsense() -> None:
    for amount, step in [("-1", "0.1"), ("nan", "0.1"), ("1", "0"), ("inf", "1")]:
        with pytest.raises(ValueError):
            round_amount_down(amount, step)
    with pytest.raises(ValueError):
        round_price("0", "0.01")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -1, 0, "x", "NaN"])
def test_invalid_inputs_have_a_reason(value: object) -> None:
    reason = invalid_reason("amount", value)  # type: ignore[arg-type]
    assert reason is not None and reason.startswith("amount ")
    fitted = fit_order(value, 4200, ETH_USDT)  # type: ignore[arg-type]
    assert not fitted.ok and fitted.denial == reason
    assert not fit_order(1, value, ETH_USDT).ok  # type: ignore[arg-type]


def test_fit_order_accepts_a_valid_order() -> None:
    fitted = fit_order(0.123456, 4200.129, ETH_USDT, PriceRounding.DOWN)
    assert fitted.ok
    assert fitted.amount == D("0.1234")
    assert fitted.price == D("4200.12")


def test_denials_name_the_requested_and_rounded_amounts() -> None:
    market = MarketPrecision(amount_step=D("0.001"), price_tick=D("0.01"), min_amount=D("0.001"))
    assert fit_order("0.0001", 10, market).denial == (
        "amount 0.0001 below market minimum 0.001 after rounding to step 0.001 (0.000)"
    )
    no_min = MarketPrecision(amount_step=D("0.001"), price_tick=D("0.01"))
    assert fit_order("0.0005", 10, no_min).denial == "amount 0.0005 rounds down to 0 at step 0.001"
    assert fit_order("9001", 1, ETH_USDT).denial == "amount 9001 above market maximum 9000"
    assert fit_order("0.001", 4200, ETH_USDT).denial == (
        "notional 4.2 (0.0010 x 4200.00) below market minimum 5"
    )


def test_check_limits_on_rounded_values() -> None:
    assert check_limits(D("0.01"), D("4200"), ETH_USDT) is None
    assert check_limits(D("0"), D("4200"), ETH_USDT) == "amount 0 below market minimum 0.0001"


def test_from_ccxt_market() -> None:
    market = {
        "symbol": "ETH/USDT",
        "precision": {"amount": 0.0001, "price": 0.01},
        "limits": {
            "amount": {"min": 0.0001, "max": 9000.0},
            "price": {"min": 0.01, "max": 1000000.0},
            "cost": {"min": 5.0, "max": None},
        },
    }
    assert MarketPrecision.from_ccxt_market(market) == ETH_USDT
    bare = MarketPrecision.from_ccxt_market({"precision": {"amount": 1, "price": "0.5"}})
    assert bare.min_amount is None and bare.min_notional is None


def test_market_refuses_bad_steps() -> None:
    with pytest.raises(ValueError, match="amount_step"):
        MarketPrecision(amount_step=D(0), price_tick=D("0.01"))
    with pytest.raises(ValueError, match="price_tick"):
        MarketPrecision(amount_step=D("0.1"), price_tick=D("NaN"))


@given(amount=amounts, step=steps)
def test_rounded_amount_is_on_grid_below_request_within_one_step(
    amount: Decimal, step: Decimal
) -> None:
    rounded = round_amount_down(amount, step)
    assert is_multiple(rounded, step)
    assert D(0) <= rounded <= amount
    assert rounded > amount - step


@given(amount=st.floats(min_value=0, max_value=1e9, allow_nan=False), step=steps)
def test_float_amounts_round_like_their_decimal(amount: float, step: Decimal) -> None:
    rounded = round_amount_down(amount, step)
    assert is_multiple(rounded, step)
    assert rounded <= to_decimal(amount) < rounded + step


@given(price=amounts.filter(lambda p: p > 0), tick=steps, rounding=st.sampled_from(PriceRounding))
def test_rounded_price_is_on_grid_within_one_tick(
    price: Decimal, tick: Decimal, rounding: PriceRounding
) -> None:
    rounded = round_price(price, tick, rounding)
    assert is_multiple(rounded, tick)
    assert abs(rounded - price) < tick
    if rounding is PriceRounding.DOWN:
        assert rounded <= price
    if rounding is PriceRounding.UP:
        assert rounded >= price
    if rounding is PriceRounding.NEAREST:
        assert abs(rounded - price) <= tick / 2


@given(
    amount=st.one_of(st.floats(), amounts, st.integers(min_value=-(10**6), max_value=10**6)),
    price=st.one_of(st.floats(), amounts),
)
def test_fit_order_never_raises_and_never_exceeds_request(amount: object, price: object) -> None:
    fitted = fit_order(amount, price, ETH_USDT)  # type: ignore[arg-type]
    assert fitted.amount >= 0
    if fitted.ok:
        assert fitted.amount <= to_decimal(amount)  # type: ignore[arg-type]
        assert is_multiple(fitted.amount, ETH_USDT.amount_step)
        assert is_multiple(fitted.price, ETH_USDT.price_tick)
        assert fitted.amount * fitted.price >= ETH_USDT.min_notional  # type: ignore[operator]
    else:
        assert fitted.denial
