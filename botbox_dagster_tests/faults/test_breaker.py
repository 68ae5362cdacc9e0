"""The circuit breaker through real execution processes sharing one ledger.

Phase 1 (a Dagster run): 4 consecutive 503s on order creation do not open the breaker.
Phase 2 (a Dagster run): the 5th consecutive failure opens it and the run stops sending.
Phase 3 (a process with a long cooldown): while open, nothing is sent; rows are released.
Phase 4 (a process after the cooldown): the first row is the probe (half-open); it fails
  against a still-broken venue, so the breaker reopens after exactly one request.
Phase 5 (the next runs, as the sensor launches them): the venue is back, the probe succeeds,
  the breaker closes and every queued trade fills with no operator action.
"""

from __future__ import annotations

import time

import pytest

from botbox_dagster.chaos import runs
from botbox_dagster.chaos.queue import queue_counts, rows, seed_burst
from botbox_dagster.chaos.report import ORDER_PATH
from botbox_dagster.chaos.world import World, chaos_world
from botbox_dagster.domain.circuit_breaker import BreakerStatus
from botbox_dagster.settings import BREAKER_OPEN_ENV


def _sends(w: World) -> int:
    return len(w.fake.remote.requests(ORDER_PATH, "POST"))


def _worker(w: World, name: str, cooldown_s: float) -> None:
    env = {**w.env, BREAKER_OPEN_ENV: str(cooldown_s)}
    proc = runs.start_worker(env, w.log_path(name), name)
    assert proc.wait(timeout=120) == 0


@pytest.mark.integration
def test_five_failures_open_the_breaker_four_do_not_and_trading_resumes() -> None:
    with chaos_world(bots=12, breaker_open_seconds=2.0) as w:
        remote = w.fake.remote
        # Phase 1: four failures, then successes: still CLOSED, nothing released.
        seed_burst(w.store, w.bots, 0, 6, w.rng)
        remote.add_fault("error", path=ORDER_PATH, method="POST", count=4, status=503)
        assert w.dagster_run("phase1") == 0
        state = w.breaker_state()
        assert state.status is BreakerStatus.CLOSED and state.consecutive_failures == 0
        assert remote.call("GET", "faults") == []  # all four failures were served
        # A 5xx to an order request leaves its outcome unknown (docs/venue-contract.md §2):
        # each row is sent once, never again; the four never shown fail for the operator.
        assert _sends(w) == 6
        assert not rows(w.store, "SELECT id FROM trade_queue WHERE reason LIKE 'circuit%'")
        w.drain(120)
        assert queue_counts(w.store) == {"FILLED": 2, "FAILED": 4}
        failed = rows(w.store, "SELECT reason FROM trade_queue WHERE status = 'FAILED'")
        assert all(r["reason"].startswith("operator:") for r in failed), failed

        # Phase 2: five failures open it; the run stops sending at once.
        before = _sends(w)
        seed_burst(w.store, w.bots, 1, 12, w.rng)
        remote.add_fault("error", path=ORDER_PATH, method="POST", count=5, status=503)
        assert w.dagster_run("phase2") == 0
        state = w.breaker_state()
        assert state.status is BreakerStatus.OPEN and state.consecutive_failures == 5
        assert _sends(w) - before == 5, "the run kept sending after the breaker opened"
        released = rows(w.store, "SELECT id FROM trade_queue WHERE reason LIKE 'circuit open%'")
        assert released, "rows behind the open breaker were not released"

        # Phase 3: within the cooldown nothing is sent.
        before = _sends(w)
        _worker(w, "phase3", cooldown_s=3600)
        assert _sends(w) == before
        assert w.breaker_state().status is BreakerStatus.OPEN

        # Phase 4: after the cooldown one probe goes out; it fails; the breaker reopens.
        time.sleep(2.5)
        remote.add_fault("error", path=ORDER_PATH, method="POST", count=1, status=503)
        _worker(w, "phase4", cooldown_s=2.0)
        assert _sends(w) - before == 1, "half-open must let exactly one probe through"
        assert w.breaker_state().status is BreakerStatus.OPEN

        # Phase 5: the venue is back; the next runs resume trading by themselves.
        time.sleep(2.5)
        w.drain(180)
        assert w.breaker_state().status is BreakerStatus.CLOSED
        counts = queue_counts(w.store)
        assert set(counts) == {"FILLED", "FAILED"}, counts
        failed = rows(w.store, "SELECT reason FROM trade_queue WHERE status = 'FAILED'")
        assert all(r["reason"].startswith("operator:") for r in failed), failed
        report = w.report("breaker")
        assert report.violations() == [], report.format()
