"""Rate: 200 bots on 10 markets, bursts of signals, concurrent Dagster execution processes.

The fake's limits are small (300 weight a minute, 50 orders per 10 s) so that the shared budget
binds; peaks are counted at the fake exchange, not by BotBox.
"""

from __future__ import annotations

import pytest

from botbox_dagster.chaos.scenarios import Options, run_bursts
from botbox_dagster.chaos.world import chaos_world


@pytest.mark.integration
@pytest.mark.slow
def test_bursts_from_200_bots_stay_within_80_percent_and_never_see_429() -> None:
    options = Options(minutes=10, minute_seconds=2.0, processes=3, deadline_s=150)
    with chaos_world(bots=200, weight_limit=300, orders_per_10s=50, seed=3) as w:
        report = run_bursts(w, options, per_burst=25)

    rate = report.rate
    assert rate is not None
    assert report.violations() == [], report.format()
    assert rate.rate_limited == 0
    assert rate.max_weight_60s <= 0.8 * 300
    assert rate.max_orders_10s <= 0.8 * 50
    assert rate.max_weight_1s <= rate.bound_1s <= 0.8 * 300
    # The budget really bound: demand pushed some window close to its bound.
    closest = max(
        rate.max_weight_60s / rate.budget_60s,
        rate.max_orders_10s / rate.budget_orders_10s,
        rate.max_weight_1s / rate.bound_1s,
    )
    assert closest >= 0.7, report.format()
    assert report.filled >= 100 and report.lost == 0 and report.duplicates == 0
