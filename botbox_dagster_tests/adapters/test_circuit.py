"""The ledger-backed circuit breaker: one state per exchange shared by every process."""

import json
from pathlib import Path

import pytest

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import circuit_breaker as cb

CONFIG = cb.BreakerConfig(failure_threshold=5, open_seconds=60.0, probe_timeout_seconds=20.0)


class Clock:
    def __init__(self) -> None:
        self.t = 5_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    return LedgerStore(tmp_path / "ledger.duckdb")


def breakers(store: LedgerStore, clock: Clock, n: int = 2) -> list[LedgerCircuitBreaker]:
    """Several breakers on one file, as several processes would hold them."""
    return [LedgerCircuitBreaker(store, "acct", CONFIG, clock) for _ in range(n)]


def test_four_failures_keep_it_closed_the_fifth_opens_it_for_everyone(
    store: LedgerStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    a, b = breakers(store, clock)
    for i in range(4):
        (a if i % 2 else b).failure("HTTP 502")
    assert a.allow() == (True, "closed")
    assert b.state() == cb.BreakerState(cb.BreakerStatus.CLOSED, 4)
    b.failure("HTTP 502")
    assert a.state().status is cb.BreakerStatus.OPEN
    allowed, reason = a.allow()
    assert not allowed and reason == (
        "circuit open after 5 consecutive failures; next probe in 60.0 s"
    )
    assert "circuit OPEN after 5 consecutive failures" in caplog.text
    [(state,)] = store.run(lambda c: c.execute("SELECT state FROM circuit_breakers").fetchall())
    assert json.loads(state)["status"] == "OPEN"  # what `botbox status` and checks read


def test_a_success_resets_the_count(store: LedgerStore) -> None:
    clock = Clock()
    [a] = breakers(store, clock, 1)
    for _ in range(4):
        a.failure("timeout")
    a.success()
    for _ in range(4):
        a.failure("timeout")
    assert a.state().status is cb.BreakerStatus.CLOSED


def test_after_the_hold_exactly_one_probe_goes_out_and_its_success_closes(
    store: LedgerStore,
) -> None:
    clock = Clock()
    a, b = breakers(store, clock)
    for _ in range(5):
        a.failure("down")
    clock.t += 59.9
    assert not b.allow()[0]
    clock.t += 0.2
    assert b.allow() == (True, "half-open: this call is the probe")
    assert a.allow() == (False, "half-open: a probe is already in flight")
    assert a.state().status is cb.BreakerStatus.HALF_OPEN
    b.success()
    assert a.state() == cb.BreakerState()
    assert a.allow() == (True, "closed")


def test_a_failed_probe_reopens_for_a_full_hold(store: LedgerStore) -> None:
    clock = Clock()
    a, b = breakers(store, clock)
    for _ in range(5):
        a.failure("down")
    clock.t += 61
    assert a.allow()[0]
    a.failure("still down")
    state = b.state()
    assert state.status is cb.BreakerStatus.OPEN and state.opened_at == clock.t
    clock.t += 59
    assert not b.allow()[0]
    clock.t += 2
    assert b.allow()[0]


def test_a_probe_whose_process_died_does_not_wedge_the_breaker(store: LedgerStore) -> None:
    clock = Clock()
    a, b = breakers(store, clock)
    for _ in range(5):
        a.failure("down")
    clock.t += 61
    assert a.allow()[0]  # ...and a never reports back
    clock.t += CONFIG.probe_timeout_seconds + 1
    assert b.allow() == (True, "half-open: this call is the probe")


def test_breakers_are_per_exchange(store: LedgerStore) -> None:
    clock = Clock()
    one = LedgerCircuitBreaker(store, "one", CONFIG, clock)
    other = LedgerCircuitBreaker(store, "other", CONFIG, clock)
    for _ in range(5):
        one.failure("down")
    assert not one.allow()[0] and other.allow()[0]
