"""The weight bucket: the sliding-window guarantee, venue feedback, backoff, serialisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botbox_dagster.domain.rate_limit import (
    BINANCE_SPOT,
    BucketLimit,
    BucketState,
    VenueLimits,
    backoff_after_rate_limit,
    backoff_all,
    observe_venue_usage,
    refill,
    take_request,
    try_take,
)

WEIGHT = BINANCE_SPOT.bucket("weight")
ORDERS = BINANCE_SPOT.bucket("orders")
T0 = 1_700_000_000.0


def approx(expected: float) -> object:
    """Waits are stepped past the exact instant by one float ulp of epoch time (~0.2 us)."""
    return pytest.approx(expected, abs=1e-6)


def max_in_any_window(grants: list[tuple[float, float]], length: float) -> float:
    """Largest total cost granted in any closed interval of ``length`` seconds.

    The maximum is reached by an interval starting at some grant, so those are all checked.
    """
    best, total, end = 0.0, 0.0, 0
    for start in range(len(grants)):
        while end < len(grants) and grants[end][0] <= grants[start][0] + length:
            total += grants[end][1]
            end += 1
        best = max(best, total)
        total -= grants[start][1]
    return best


def test_binance_spot_sizes() -> None:
    assert WEIGHT.budget == 4800  # 80% of 6,000 per minute
    assert WEIGHT.capacity == 480
    assert WEIGHT.refill_per_second == 72
    assert WEIGHT.max_in(60) == 4800
    assert WEIGHT.max_per_second == 552
    assert ORDERS.budget == 80  # 80% of 100 per 10 s
    assert ORDERS.max_in(10) == approx(80)
    assert BINANCE_SPOT.cost_of("fetch_ohlcv") == {"weight": 2}
    assert BINANCE_SPOT.cost_of("create_order") == {"weight": 1, "orders": 1}
    assert BINANCE_SPOT.used_weight_header == "X-MBX-USED-WEIGHT-1M"


def test_limit_validation() -> None:
    with pytest.raises(ValueError):
        BucketLimit("w", limit=0, window_seconds=60)
    with pytest.raises(ValueError):
        BucketLimit("w", limit=10, window_seconds=60, budget_fraction=1.5)
    with pytest.raises(ValueError):
        BucketLimit("w", limit=10, window_seconds=60, burst_fraction=1.0)


def test_take_until_empty_then_wait_exactly() -> None:
    state = BucketState.full(WEIGHT, T0)
    for _ in range(240):  # 480 tokens at 2 weight per klines call
        state, granted, wait = try_take(state, 2, T0, WEIGHT)
        assert granted and wait == 0
    state, granted, wait = try_take(state, 2, T0, WEIGHT)
    assert not granted
    assert wait == approx(2 / 72)
    _, granted, _ = try_take(state, 2, T0 + wait, WEIGHT)
    assert granted


def test_refill_caps_at_capacity_and_never_counts_time_twice() -> None:
    empty = BucketState(tokens=0.0, updated_at=T0)
    assert refill(empty, T0 + 1, WEIGHT).tokens == 72
    assert refill(empty, T0 + 3600, WEIGHT).tokens == WEIGHT.capacity
    assert refill(empty, T0 - 5, WEIGHT) == empty  # a clock behind ours accrues nothing


def test_costs_that_can_never_pass_are_configuration_errors() -> None:
    state = BucketState.full(WEIGHT, T0)
    with pytest.raises(ValueError, match="exceeds capacity"):
        try_take(state, 481, T0, WEIGHT)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            try_take(state, bad, T0, WEIGHT)


def test_observe_lowers_tokens_to_what_the_venue_leaves_us() -> None:
    state = BucketState.full(WEIGHT, T0)
    assert observe_venue_usage(state, 100, T0, WEIGHT) == state  # plenty left
    assert observe_venue_usage(state, 4500, T0, WEIGHT).tokens == 300
    in_debt = observe_venue_usage(state, 5520, T0, WEIGHT)
    assert in_debt.tokens == -720
    _, granted, wait = try_take(in_debt, 2, T0, WEIGHT)
    assert not granted and wait == approx(722 / 72)


def test_observe_never_adds_tokens_and_ignores_garbage() -> None:
    low = BucketState(tokens=10.0, updated_at=T0)
    assert observe_venue_usage(low, 0, T0, WEIGHT) == low
    assert observe_venue_usage(low, -5, T0, WEIGHT) == low
    assert observe_venue_usage(low, math.nan, T0, WEIGHT) == low
    assert observe_venue_usage(low, 10**9, T0, WEIGHT).tokens == -WEIGHT.budget


def test_backoff_blocks_until_retry_after_then_refills_from_empty() -> None:
    state = backoff_after_rate_limit(BucketState.full(WEIGHT, T0), 30, T0)
    assert state.blocked_until(T0) == T0 + 30
    _, granted, wait = try_take(state, 2, T0 + 10, WEIGHT)
    assert not granted and wait == approx(20 + 2 / 72)
    _, granted, wait = try_take(state, 2, T0 + 30, WEIGHT)
    assert not granted and wait == approx(2 / 72)
    _, granted, _ = try_take(state, 2, T0 + 30 + wait, WEIGHT)
    assert granted
    assert state.blocked_until(T0 + 31) is None


def test_backoff_without_usable_retry_after_uses_default_and_never_shortens() -> None:
    state = BucketState.full(WEIGHT, T0)
    assert backoff_after_rate_limit(state, None, T0).updated_at == T0 + 60
    assert backoff_after_rate_limit(state, math.nan, T0).updated_at == T0 + 60
    assert backoff_after_rate_limit(state, -3, T0).updated_at == T0
    long = backoff_after_rate_limit(state, 120, T0)
    assert backoff_after_rate_limit(long, 5, T0 + 1).updated_at == T0 + 120


def test_row_round_trip() -> None:
    state = BucketState(tokens=12.5, updated_at=T0)
    assert state.to_row() == {"tokens": 12.5, "updated_at": T0}
    assert BucketState.from_row({"tokens": "12.5", "updated_at": T0}) == state


def test_take_request_charges_every_bucket_or_none() -> None:
    states = {"weight": BucketState.full(WEIGHT, T0), "orders": BucketState(0.5, T0)}
    after, granted, wait = take_request(states, "create_order", T0, BINANCE_SPOT)
    assert not granted
    assert after == states  # the weight bucket was not charged either
    assert wait == approx(0.5 / ORDERS.refill_per_second)
    after, granted, _ = take_request(states, "fetch_ohlcv", T0, BINANCE_SPOT)
    assert granted
    assert after["weight"].tokens == 478 and after["orders"] == states["orders"]


def test_take_request_starts_missing_buckets_full_and_refuses_unknown_calls() -> None:
    after, granted, _ = take_request({}, "create_order", T0, BINANCE_SPOT)
    assert granted
    assert after["weight"].tokens == 479 and after["orders"].tokens == approx(7)
    with pytest.raises(KeyError, match="declare the cost"):
        take_request({}, "withdraw", T0, BINANCE_SPOT)
    with pytest.raises(KeyError, match="no bucket"):
        take_request({}, "x", T0, VenueLimits("v", (WEIGHT,), {"x": {"nope": 1}}))


def test_backoff_all_blocks_every_bucket() -> None:
    blocked = backoff_all(
        {"weight": BucketState.full(WEIGHT, T0), "orders": BucketState(3, T0)}, 9, T0
    )
    assert {s.updated_at for s in blocked.values()} == {T0 + 9}
    assert all(s.tokens <= 0 for s in blocked.values())


def test_a_greedy_client_gets_close_to_the_budget_but_never_over() -> None:
    """Sustained throughput is the point of the bucket: the guarantee must not starve us."""
    state, now, grants = BucketState.full(WEIGHT, T0), T0, []
    while now < T0 + 600:
        state, granted, wait = try_take(state, 2, now, WEIGHT)
        if granted:
            grants.append((now, 2.0))
        else:
            now += wait
    assert max_in_any_window(grants, 60) <= WEIGHT.budget + 1e-6
    assert max_in_any_window(grants, 1) <= WEIGHT.max_per_second + 1e-6
    assert sum(c for _, c in grants) >= WEIGHT.max_in(600) - 4  # within two calls of the bound


# --- the guarantee on arbitrary request sequences -------------------------------------


@dataclass(frozen=True)
class Event:
    delay: float  # seconds after the previous event
    kind: str  # "take", "observe" or "backoff"
    value: float  # cost as a share of capacity, used weight, or Retry-After


limits = st.builds(
    BucketLimit,
    name=st.just("w"),
    limit=st.floats(min_value=1, max_value=100_000),
    window_seconds=st.floats(min_value=0.5, max_value=600),
    budget_fraction=st.floats(min_value=0.05, max_value=1.0),
    burst_fraction=st.floats(min_value=0.01, max_value=0.99),
)
events = st.lists(
    st.one_of(
        st.builds(
            Event,
            delay=st.one_of(st.just(0.0), st.floats(min_value=0, max_value=5)),
            kind=st.just("take"),
            value=st.floats(min_value=0, max_value=1),
        ),
        st.builds(
            Event,
            delay=st.floats(min_value=0, max_value=30),
            kind=st.sampled_from(["observe", "backoff"]),
            value=st.floats(min_value=0, max_value=200_000),
        ),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(limit=limits, sequence=events, start_full=st.booleans(), greedy=st.booleans())
def test_no_sliding_window_ever_exceeds_the_budget(
    limit: BucketLimit, sequence: list[Event], start_full: bool, greedy: bool
) -> None:
    """Whatever the timing, costs, venue reports and 429s: every window holds the bound.

    ``greedy`` clients retry exactly when told to, the worst case for the bound; the state
    goes through a row between calls as it does in the ledger.
    """
    now = T0
    state = BucketState.full(limit, now) if start_full else BucketState(0.0, now)
    grants: list[tuple[float, float]] = []
    for event in sequence:
        now += event.delay
        state = BucketState.from_row(state.to_row())
        if event.kind == "take":
            cost = event.value * limit.capacity
            state, granted, wait = try_take(state, cost, now, limit)
            if granted:
                grants.append((now, cost))
            elif greedy:
                now += wait
                state, granted, _ = try_take(state, cost, now, limit)
                if granted:
                    grants.append((now, cost))
        elif event.kind == "observe":
            state = observe_venue_usage(state, event.value, now, limit)
        else:
            state = backoff_after_rate_limit(state, event.value % 120, now)
        assert state.tokens <= limit.capacity + 1e-9

    slack = 1e-6 * max(1.0, limit.budget)
    assert max_in_any_window(grants, limit.window_seconds) <= limit.budget + slack
    assert max_in_any_window(grants, 1.0) <= limit.max_per_second + slack
    assert max_in_any_window(grants, 0.0) <= limit.capacity + slack


@given(tokens=st.floats(allow_nan=False, allow_infinity=False), at=st.floats(0, 4e9))
def test_any_state_survives_its_row(tokens: float, at: float) -> None:
    state = BucketState(tokens, at)
    assert BucketState.from_row(state.to_row()) == state
