"""``minute_slots``: one row per minute of the minute loop, and the figures read from them.

Statuses: ``SKIPPED`` (the schedule launched no run: the previous one was still going; ``run_id``
names that run), ``STARTED`` (the slot's run began, ``started_at``), ``FINISHED`` (its tick was
summarized, ``finished_at``). ``evaluated_slot`` is the minute whose due bots the run evaluated:
the slot itself, or a later minute when the slot was stale (README, "The minute loop" →
Overload; the rules are in ``domain/minute_loop.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botbox_dagster.domain.metrics import percentile
from botbox_dagster.domain.minute_loop import ALERT_WINDOW, MinuteLoop

_UPSERT = (
    "INSERT INTO minute_slots (slot, status, run_id, started_at, reason, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slot) DO UPDATE SET status = excluded.status, "
    "run_id = excluded.run_id, started_at = excluded.started_at, reason = excluded.reason, "
    "finished_at = NULL, evaluated_slot = NULL, updated_at = excluded.updated_at"
)


class MinuteLoopTables:
    """Writes of ``minute_slots``. Mixed into :class:`LedgerStore`."""

    run: Any

    def record_skipped_slot(
        self, slot: datetime, running_id: str, reason: str, *, now: datetime | None = None
    ) -> None:
        """The schedule launched no run for ``slot``: ``running_id`` was still going."""
        now = now or datetime.now(UTC)
        self.run(lambda c: c.execute(_UPSERT, [slot, "SKIPPED", running_id, None, reason, now]))

    def record_slot_started(
        self, slot: datetime, run_id: str, *, now: datetime | None = None
    ) -> None:
        """The run of ``slot`` began (its first step)."""
        now = now or datetime.now(UTC)
        self.run(lambda c: c.execute(_UPSERT, [slot, "STARTED", run_id, now, None, now]))

    def record_slot_evaluated(
        self, run_id: str, evaluated: datetime, reason: str | None = None
    ) -> None:
        """The minute whose due bots the run evaluates (later than its slot when it was stale,
        with ``reason``). A run that started no slot (a tick launched by hand) changes nothing."""
        self.run(
            lambda c: c.execute(
                "UPDATE minute_slots SET evaluated_slot = ?, reason = coalesce(?, reason), "
                "updated_at = ? WHERE run_id = ? AND status = 'STARTED'",
                [evaluated, reason, datetime.now(UTC), run_id],
            )
        )

    def record_slot_finished(self, run_id: str, *, now: datetime | None = None) -> float | None:
        """The run's tick is done: its tick lag in seconds (the end minus the start of its
        slot), or None for a run that started no slot (a tick by hand; nothing changes)."""
        now = now or datetime.now(UTC)
        row = self.run(
            lambda c: c.execute(
                "UPDATE minute_slots SET status = 'FINISHED', finished_at = ?, updated_at = ? "
                "WHERE run_id = ? AND status = 'STARTED' RETURNING slot",
                [now, now, run_id],
            ).fetchone()
        )
        return (now - row[0]).total_seconds() if row else None


def minute_loop(conn: Any, now: datetime) -> MinuteLoop:
    """The loop's figures at ``now`` (read inside the fleet metrics' transaction)."""
    window, hour, day = now - ALERT_WINDOW, now - timedelta(hours=1), now - timedelta(days=1)
    rows = conn.execute(
        "SELECT slot, status, started_at, finished_at, evaluated_slot, reason "
        "FROM minute_slots WHERE slot >= ? AND slot <= ? ORDER BY slot",
        [day, now],
    ).fetchall()
    recent = [r for r in rows if r[0] >= window]
    finished = [r for r in recent if r[1] == "FINISHED"]
    lags = [(r[3] - r[0]).total_seconds() for r in finished]
    start_lags = [(r[2] - r[0]).total_seconds() for r in recent if r[2] is not None]
    skips = [r for r in rows if r[1] == "SKIPPED"]
    done = [r for r in rows if r[1] == "FINISHED"]
    # A started tick newer than the newest finished one is still going (older ones crashed).
    running = [r for r in rows if r[1] == "STARTED" and (not done or r[0] > done[-1][0])]
    return MinuteLoop(
        slots_recorded=len(recent),
        skipped=sum(1 for r in recent if r[1] == "SKIPPED"),
        stale=sum(1 for r in recent if r[4] is not None and r[4] > r[0]),
        tick_lag_p50=percentile(lags, 0.5),
        tick_lag_p95=percentile(lags, 0.95),
        tick_lag_max=max(lags) if lags else None,
        start_lag_p95=percentile(start_lags, 0.95),
        last_slot=done[-1][0] if done else None,
        last_tick_lag=(done[-1][3] - done[-1][0]).total_seconds() if done else None,
        running_slot=running[-1][0] if running else None,
        running_seconds=(now - running[-1][0]).total_seconds() if running else None,
        skipped_hour=sum(1 for r in skips if r[0] >= hour),
        skipped_day=len(skips),
        last_skip_slot=skips[-1][0] if skips else None,
        last_skip_reason=skips[-1][5] if skips else None,
    )
