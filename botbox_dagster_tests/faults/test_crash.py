"""Crash recovery: execution processes SIGKILLed at random points, then one recovery path."""

from __future__ import annotations

import pytest

from botbox_dagster.chaos.queue import queue_counts
from botbox_dagster.chaos.scenarios import crash_trials
from botbox_dagster.chaos.world import chaos_world

TRIALS = 20


@pytest.mark.integration
def test_kill_9_at_random_points_loses_and_duplicates_nothing() -> None:
    with chaos_world(bots=30, seed=7) as w:
        mid_order = crash_trials(w, TRIALS, per_trial=6)
        w.drain(120, dagster=False)
        report = w.report("crash", with_rate=False)

        assert report.violations() == [], report.format()
        counts = queue_counts(w.store)
        assert set(counts) <= {"FILLED", "FAILED", "EXPIRED", "CANCELLED"}, counts
        assert report.attempted >= TRIALS  # the trials really queued work
        assert report.filled >= report.attempted // 2, report.format()
        assert report.duplicates == 0 and report.lost == 0 and not report.position_mismatches
        # Some kills must have landed between "order sent" and "fill recorded", or the test
        # proved nothing about reconciliation.
        assert mid_order >= 1, "no kill landed while an order was in flight"
