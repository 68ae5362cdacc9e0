"""The minute loop's overload rules (README, "The minute loop" → Overload): pure.

A *slot* is the minute ``trading_minute_schedule`` fires for. Its run refreshes candles, scans
stops and targets, then evaluates the bots due in that minute. When the machine cannot keep up:

- the schedule launches no run for a slot while the previous slot's run is still queued or going
  (the slot is SKIPPED, with a reason naming that run and its slot), so runs never pile up;
- a run whose tick starts after its minute has ended (:func:`is_stale`) still refreshes and
  scans stops (never skipped), but evaluates the minute it is in (:func:`current_slot`), not
  the stale one: entries on a passed minute's bar are not worth taking;
- tick lag is how long after its slot a run's tick finished; more than a minute is an overrun.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from botbox_dagster.domain import timeframes

SLOT = timedelta(minutes=1)
ALERT_WINDOW = timedelta(minutes=15)
"""Window of the skipped-slot and tick-lag figures the alert rule reads."""


def current_slot(now: datetime) -> datetime:
    """The minute ``now`` is in."""
    return timeframes.floor(now, "1m")


def is_stale(slot: datetime, now: datetime) -> bool:
    """True once the minute after ``slot`` has begun: the slot's tick is late."""
    return now >= slot + SLOT


def _hhmm(t: datetime) -> str:
    return t.strftime("%H:%M")


def skip_reason(
    slot: datetime,
    running_id: str,
    running_slot: datetime | None,
    status: str,
    started: datetime | None,
    now: datetime,
) -> str:
    """Why ``slot`` launches no run: the run still going, its slot and how long it has run."""
    its_slot = f"slot {_hhmm(running_slot)}" if running_slot else "no slot tag"
    since = f", started {(now - started).total_seconds():.0f} s ago" if started else ""
    return (
        f"slot {_hhmm(slot)} skipped: minute run {running_id[:8]} ({its_slot}, {status}{since}) "
        "is still going; bots due now are evaluated by the next run, stops are scanned by it"
    )


def stale_reason(slot: datetime, evaluated: datetime, now: datetime) -> str:
    """Why a late run evaluates ``evaluated`` instead of its own ``slot``."""
    late = (now - slot).total_seconds()
    return (
        f"slot {_hhmm(slot)} is stale ({late:.0f} s old when its tick started): "
        f"evaluated the bots due at {_hhmm(evaluated)} instead; candles and stops were refreshed"
    )


@dataclass(frozen=True)
class MinuteLoop:
    """The minute loop's timeliness as the operator surfaces show it (from ``minute_slots``).

    ``skipped``, ``stale`` and the tick lags cover :data:`ALERT_WINDOW` (what the alert reads);
    ``skipped_hour`` and ``skipped_day`` the hour and day. Tick lag: a finished tick's end
    minus the start of its slot (above 60 s the tick overran its minute); start lag: its run's
    first step minus the start of its slot.
    """

    slots_recorded: int = 0
    skipped: int = 0
    stale: int = 0
    tick_lag_p50: float | None = None
    tick_lag_p95: float | None = None
    tick_lag_max: float | None = None
    start_lag_p95: float | None = None
    last_slot: datetime | None = None
    last_tick_lag: float | None = None
    running_slot: datetime | None = None  # a tick started and not finished
    running_seconds: float | None = None  # how long after its slot it still runs
    skipped_hour: int = 0
    skipped_day: int = 0
    last_skip_slot: datetime | None = None
    last_skip_reason: str | None = None

    def rows(self) -> list[tuple[str, str]]:
        """The figures as text rows (figure, value), for the asset's table and the dashboard."""

        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        def when(t: datetime | None) -> str:
            return "-" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")

        window = int(ALERT_WINDOW.total_seconds() // 60)
        running = (
            f"slot {when(self.running_slot)}, {secs(self.running_seconds)} after its minute"
            if self.running_slot
            else "none"
        )
        return [
            (f"slots recorded, last {window} min", str(self.slots_recorded)),
            (
                f"slots skipped, last {window} min / hour / day",
                f"{self.skipped} / {self.skipped_hour} / {self.skipped_day}",
            ),
            (f"stale slots (evaluated a later minute), last {window} min", str(self.stale)),
            (
                f"tick lag p50 / p95 / max, last {window} min",
                f"{secs(self.tick_lag_p50)} / {secs(self.tick_lag_p95)} / "
                f"{secs(self.tick_lag_max)}",
            ),
            (f"start lag p95, last {window} min", secs(self.start_lag_p95)),
            ("last tick", f"slot {when(self.last_slot)}, lag {secs(self.last_tick_lag)}"),
            ("tick still going", running),
            (
                "last skipped slot",
                f"{when(self.last_skip_slot)}: {self.last_skip_reason}"
                if self.last_skip_slot
                else "none",
            ),
        ]
