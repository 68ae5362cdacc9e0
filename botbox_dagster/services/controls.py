"""Fleet controls: pause all trading and resume it, one implementation for every front end.

The CLI (``botbox pause-all``), the dashboard's buttons and the Launchpad jobs
(``pause_all_job``, ``resume_all_job``) call these, so the control they write is the same
record whoever wrote it: ``{"paused", "reason", "until", "since", "source"}`` in the ledger's
``fleet_controls`` row ``pause_all``, with who did it in ``updated_by``. Whether a pause is in
force is decided in one place, :func:`botbox_dagster.domain.validation.pause_active`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.ledger.controls import PAUSE_ALL
from botbox_dagster.domain.validation import pause_active


def pause_fleet(
    store: LedgerStore,
    reason: str,
    *,
    minutes: int | None = None,
    source: str,
    by: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Stop new entries fleet-wide (exits and stops still run), for ``minutes`` or until
    resumed; returns the control written. ``source``: cli, dashboard or dagster."""
    if not reason or not reason.strip():
        raise ValueError("a pause needs a reason (it is shown on every signal it blocks)")
    if minutes is not None and minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    now = now or datetime.now(UTC)
    until = now + timedelta(minutes=minutes) if minutes else None
    value = {
        "paused": True,
        "reason": reason.strip(),
        "until": until.isoformat() if until else None,
        "since": now.isoformat(),
        "source": source,
    }
    store.set_control(PAUSE_ALL, value, by=by, now=now)
    return value


def resume_fleet(
    store: LedgerStore, *, source: str, by: str, now: datetime | None = None
) -> dict[str, Any]:
    """Clear the fleet-wide pause; returns the pause it ended (empty if none was recorded)."""
    now = now or datetime.now(UTC)
    before = store.get_control(PAUSE_ALL) or {}
    store.set_control(
        PAUSE_ALL,
        {"paused": False, "reason": "resumed", "until": None, "source": source},
        by=by,
        now=now,
    )
    return before


def fleet_paused(store: LedgerStore, now: datetime | None = None) -> bool:
    """Whether the fleet-wide pause is in force now."""
    return pause_active(store.get_control(PAUSE_ALL), now or datetime.now(UTC))
