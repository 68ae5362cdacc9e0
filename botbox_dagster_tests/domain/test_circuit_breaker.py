"""The per-exchange breaker: opens on the 5th failure, holds, lets one probe through."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from botbox_dagster.domain.circuit_breaker import (
    BreakerConfig,
    BreakerState,
    BreakerStatus,
    allow,
    record_failure,
    record_success,
)

T0 = 1_700_000_000.0
CLOSED, OPEN, HALF_OPEN = BreakerStatus.CLOSED, BreakerStatus.OPEN, BreakerStatus.HALF_OPEN


def fail(state: BreakerState, times: int, now: float = T0) -> BreakerState:
    for _ in range(times):
        state = record_failure(state, now)
    return state


def opened(now: float = T0) -> BreakerState:
    return fail(BreakerState(), 5, now)


def test_four_failures_keep_it_closed_the_fifth_opens_it() -> None:
    four = fail(BreakerState(), 4)
    assert four.status is CLOSED and four.consecutive_failures == 4
    assert allow(four, T0)[1]
    five = record_failure(four, T0 + 1)
    assert five.status is OPEN and five.opened_at == T0 + 1
    state, allowed, reason = allow(five, T0 + 2)
    assert not allowed and state == five
    assert reason == "circuit open after 5 consecutive failures; next probe in 59.0 s"


def test_success_resets_the_count() -> None:
    state = record_success(fail(BreakerState(), 4), T0)
    assert state == BreakerState()
    assert fail(state, 4).status is CLOSED


def test_half_open_after_the_hold_lets_exactly_one_probe_through() -> None:
    state = opened()
    assert not allow(state, T0 + 59.999)[1]
    probing, allowed, reason = allow(state, T0 + 60)
    assert allowed and probing.status is HALF_OPEN and "probe" in reason
    for later in (T0 + 60, T0 + 61, T0 + 119):
        again, allowed, reason = allow(probing, later)
        assert not allowed and again == probing
        assert reason == "half-open: a probe is already in flight"


def test_probe_success_closes_probe_failure_reopens_for_a_full_hold() -> None:
    probing, _, _ = allow(opened(), T0 + 60)
    assert record_success(probing, T0 + 61) == BreakerState()
    reopened = record_failure(probing, T0 + 61)
    assert reopened.status is OPEN and reopened.opened_at == T0 + 61
    assert not allow(reopened, T0 + 120)[1]
    assert allow(reopened, T0 + 121)[1]


def test_a_probe_that_never_reports_is_replaced_after_its_timeout() -> None:
    probing, _, _ = allow(opened(), T0 + 60)
    replaced, allowed, _ = allow(probing, T0 + 120)
    assert allowed and replaced.probe_started_at == T0 + 120
    assert not allow(replaced, T0 + 121)[1]


def test_late_results_while_open_do_not_close_or_extend_it() -> None:
    state = opened()
    assert record_success(state, T0 + 1) == state
    later = record_failure(state, T0 + 30)
    assert later.opened_at == T0 and later.consecutive_failures == 6


def test_configurable_threshold_and_hold() -> None:
    config = BreakerConfig(failure_threshold=2, open_seconds=5, probe_timeout_seconds=3)
    state = record_failure(record_failure(BreakerState(), T0, config), T0, config)
    assert state.status is OPEN
    assert not allow(state, T0 + 4.9, config)[1]
    probing, allowed, _ = allow(state, T0 + 5, config)
    assert allowed
    assert allow(probing, T0 + 8, config)[1]  # probe timed out after 3 s


def test_row_round_trip() -> None:
    probing, _, _ = allow(opened(), T0 + 60)
    row = probing.to_row()
    assert row == {
        "status": "HALF_OPEN",
        "consecutive_failures": 5,
        "opened_at": T0,
        "probe_started_at": T0 + 60,
    }
    assert BreakerState.from_row(row) == probing
    assert BreakerState.from_row(BreakerState().to_row()) == BreakerState()


# --- properties over arbitrary call sequences ------------------------------------------

configs = st.builds(
    BreakerConfig,
    failure_threshold=st.integers(min_value=1, max_value=8),
    open_seconds=st.floats(min_value=0, max_value=120),
    probe_timeout_seconds=st.floats(min_value=0.1, max_value=120),
)
steps = st.lists(
    st.tuples(st.floats(min_value=0, max_value=90), st.sampled_from(["allow", "ok", "fail"])),
    max_size=120,
)


@settings(max_examples=300)
@given(config=configs, sequence=steps)
def test_breaker_invariants_hold_for_any_sequence(
    config: BreakerConfig, sequence: list[tuple[float, str]]
) -> None:
    state, now = BreakerState(), T0
    run = 0  # consecutive failures seen while closed, per an independent count
    for delay, op in sequence:
        now += delay
        before = state
        if op == "allow":
            state, allowed, reason = allow(state, now, config)
            assert reason
            if before.status is OPEN:
                hold_over = now >= (before.opened_at or 0) + config.open_seconds
                assert allowed == hold_over
                assert state.status is (HALF_OPEN if allowed else OPEN)
            if before.status is HALF_OPEN:
                probe_out = now < (before.probe_started_at or 0) + config.probe_timeout_seconds
                assert allowed != probe_out  # one probe at a time
            if before.status is CLOSED:
                assert allowed and state == before
        elif op == "ok":
            state = record_success(state, now)
            if before.status is not OPEN:
                assert state == BreakerState()
                run = 0
            else:
                assert state == before
        else:
            state = record_failure(state, now, config)
            if before.status is CLOSED:
                run += 1
                # Opens exactly on the threshold-th consecutive failure, not before.
                assert (state.status is OPEN) == (run >= config.failure_threshold)
            else:
                assert state.status is OPEN
            if before.status is HALF_OPEN:
                assert state.opened_at == now
        if state.status is CLOSED:
            assert state.consecutive_failures < config.failure_threshold
            assert state.opened_at is None and state.probe_started_at is None
        else:
            assert state.opened_at is not None
        if state.status is OPEN:
            run = 0
        assert (state.status is HALF_OPEN) == (state.probe_started_at is not None)
        assert BreakerState.from_row(state.to_row()) == state


@given(config=configs, start=st.floats(min_value=0, max_value=1e9), callers=st.integers(2, 50))
def test_many_callers_at_the_reopening_instant_get_one_probe(
    config: BreakerConfig, start: float, callers: int
) -> None:
    """Processes share the row: each reads the state the previous caller stored."""
    state = BreakerState()
    for _ in range(config.failure_threshold):
        state = record_failure(state, start, config)
    now = start + config.open_seconds
    granted = 0
    for _ in range(callers):
        state, allowed, _ = allow(state, now, config)
        granted += allowed
    assert granted == 1
