"""Ambiguous create through a real Dagster run: the venue accepts, the connection resets."""

from __future__ import annotations

import pytest

from botbox_dagster.chaos.queue import queue_counts, rows, seed_burst
from botbox_dagster.chaos.report import ORDER_PATH
from botbox_dagster.chaos.world import chaos_world


@pytest.mark.integration
def test_reset_after_accept_gives_one_order_and_a_filled_row() -> None:
    with chaos_world(bots=2) as w:
        seed_burst(w.store, w.bots, 0, 2, w.rng)
        w.fake.remote.add_fault("reset_after_accept", path=ORDER_PATH, method="POST", count=1)
        assert w.dagster_run("ambiguous") == 0

        assert queue_counts(w.store) == {"FILLED": 2}
        for row in rows(w.store, "SELECT client_order_id, reason FROM trade_queue"):
            cid = row["client_order_id"]
            assert len(w.fake.remote.orders(cid)) == 1, cid
            sends = [
                r
                for r in w.fake.remote.requests(ORDER_PATH, "POST")
                if r.params.get("newClientOrderId") == cid
            ]
            assert len(sends) == 1, f"{cid} was sent {len(sends)} times"
        # The reset order was found by its client order id, not sent again.
        lookups = w.fake.remote.requests(ORDER_PATH, "GET")
        assert len(lookups) == 1 and "origClientOrderId" in lookups[0].params
        report = w.report("ambiguous")
        assert report.violations() == [], report.format()
        assert report.exchange_orders == 2
