"""What the dashboard's buttons do: Check Now, Pause All, Resume. Each is recorded with its
time and source ``dashboard`` in ``fleet_controls``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.ledger.metrics import CHECK_NOW_PREFIX
from botbox_dagster.services.controls import pause_fleet, resume_fleet

SOURCE = "dashboard"


def check_now(store: LedgerStore, bot_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Evaluate one bot in process on the tick's code path (dry run: nothing is queued) and
    record the verdict as ``check_now:<bot>``; return what was recorded."""
    from botbox_dagster.adapters.signal_tick import check_bot  # pandas-ta: import on first use

    now = now or datetime.now(UTC)
    report = check_bot(store, bot_id, now=now, dry_run=True)
    ev, verdict = report.outcome.evaluation, report.verdict
    result = {
        "bot_id": bot_id,
        "verdict": "NO SIGNAL" if verdict is None else verdict.status.value,
        "direction": report.signal.direction if report.signal else None,
        "reason": (verdict.reason if verdict else None) or report.outcome.note,
        "score": ev.score if ev else None,
        "price": ev.price if ev else None,
        "regime": str(ev.regime) if ev and ev.regime else None,
        "candle_time": str(ev.timestamp) if ev and ev.timestamp is not None else None,
        "factors": ev.contributions_dict() if ev else {},
        "dry_run": True,
        "source": SOURCE,
        "checked_at": now.isoformat(),
    }
    store.set_control(CHECK_NOW_PREFIX + bot_id, result, by=SOURCE, now=now)
    return result


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
