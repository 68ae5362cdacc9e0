"""What the dashboard's buttons do: Check Now, Pause All, Resume. Each is recorded with its
time and source ``dashboard`` in ``fleet_controls``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.ledger.metrics import CHECK_NOW_PREFIX
from botbox_dagster.services.check_now import check_now as services_check_now
from botbox_dagster.services.controls import pause_fleet, resume_fleet

SOURCE = "dashboard"


def check_now(store: LedgerStore, bot_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Evaluate one bot in process on the tick's code path (dry run: nothing is queued) and
    record the verdict as ``check_now:<bot>``; return what was recorded."""
    result, _ = services_check_now(store, bot_id, dry_run=True, now=now)
    record = result.record(SOURCE)
    store.set_control(CHECK_NOW_PREFIX + bot_id, record, by=SOURCE, now=result.checked_at)
    return record


def pause_all(
    store: LedgerStore, reason: str, minutes: int | None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Pause the fleet (the control the signal tick and execution obey); an empty reason says
    it came from the dashboard, a duration that is not positive means until resumed."""
    return pause_fleet(
        store,
        reason or "paused from the dashboard",
        minutes=minutes if minutes and minutes > 0 else None,
        source=SOURCE,
        by=SOURCE,
        now=now,
    )


def resume_all(store: LedgerStore, *, now: datetime | None = None) -> dict[str, Any]:
    """Clear the fleet pause; returns the pause it ended."""
    return resume_fleet(store, source=SOURCE, by=SOURCE, now=now)
