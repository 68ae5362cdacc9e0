"""Per-exchange circuit breaker: stop calling a venue that keeps failing, then probe it.

CLOSED counts consecutive failures; the ``failure_threshold``-th (5) opens the breaker.
OPEN refuses every call for ``open_seconds`` (60), then the first caller becomes the single
probe (HALF_OPEN); every other caller is refused while it is out. The probe's success closes
the breaker, its failure reopens it for another full hold.

Why one probe: a venue coming back from an outage should see one request, not the whole
fleet's backlog at once. A probe whose process died never reports back; after
``probe_timeout_seconds`` another caller may probe, so a crash cannot wedge the breaker.

State is a frozen value with pure transitions and a clock passed in, so it can live in a
ledger row shared by every process (``to_row``/``from_row``). Callers compare the status
before and after a transition to alert the operator when a breaker opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class BreakerStatus(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class BreakerConfig:
    """How many failures open the breaker and how long it stays open (5, 60 s:
    docs/architecture.md, Exchange limits)."""

    failure_threshold: int = 5
    open_seconds: float = 60.0
    probe_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.open_seconds < 0 or self.probe_timeout_seconds <= 0:
            raise ValueError("open_seconds must be >= 0 and probe_timeout_seconds > 0")


DEFAULT_CONFIG = BreakerConfig()


@dataclass(frozen=True)
class BreakerState:
    """``opened_at`` is set while OPEN or HALF_OPEN; ``probe_started_at`` while a probe is out."""

    status: BreakerStatus = BreakerStatus.CLOSED
    consecutive_failures: int = 0
    opened_at: float | None = None
    probe_started_at: float | None = None

    def to_row(self) -> dict[str, Any]:
        """``{"status": str, "consecutive_failures": int, "opened_at": float | None,
        "probe_started_at": float | None}``: one row per exchange (account)."""
        return {
            "status": str(self.status),
            "consecutive_failures": self.consecutive_failures,
            "opened_at": self.opened_at,
            "probe_started_at": self.probe_started_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BreakerState:
        def number(key: str) -> float | None:
            value = row.get(key)
            return None if value is None else float(value)

        return cls(
            status=BreakerStatus(row["status"]),
            consecutive_failures=int(row["consecutive_failures"]),
            opened_at=number("opened_at"),
            probe_started_at=number("probe_started_at"),
        )


def _open(failures: int, now: float) -> BreakerState:
    return BreakerState(BreakerStatus.OPEN, failures, opened_at=now)


def allow(
    state: BreakerState, now: float, config: BreakerConfig = DEFAULT_CONFIG
) -> tuple[BreakerState, bool, str]:
    """May a call go to the exchange now? ``(new_state, allowed, reason)``.

    Store the returned state even when nothing seems to change: letting a probe through
    is itself a transition (OPEN -> HALF_OPEN) that other processes must see.
    """
    if state.status is BreakerStatus.CLOSED:
        return state, True, "closed"
    if state.status is BreakerStatus.OPEN:
        reopens_at = (state.opened_at or 0.0) + config.open_seconds
        if now < reopens_at:
            return (
                state,
                False,
                f"circuit open after {state.consecutive_failures} consecutive failures; "
                f"next probe in {reopens_at - now:.1f} s",
            )
        probing = replace(state, status=BreakerStatus.HALF_OPEN, probe_started_at=now)
        return probing, True, "half-open: this call is the probe"
    started = state.probe_started_at
    if started is not None and now < started + config.probe_timeout_seconds:
        return state, False, "half-open: a probe is already in flight"
    # The last probe never reported (its process died): this caller probes instead.
    return replace(state, probe_started_at=now), True, "half-open: this call is the probe"


def record_success(state: BreakerState, now: float) -> BreakerState:
    """A call succeeded: CLOSED resets the count, HALF_OPEN closes.

    A success landing while OPEN comes from a call sent before the breaker opened; it says
    little about the venue now, so only the probe decides.
    """
    if state.status is BreakerStatus.OPEN:
        return state
    return BreakerState()


def return_probe(state: BreakerState) -> BreakerState:
    """The probe was granted but no request reached the venue (budget spent, nothing to send):
    it proves nothing either way, so the next caller may probe at once instead of waiting out
    ``probe_timeout_seconds``."""
    if state.status is BreakerStatus.HALF_OPEN:
        return replace(state, probe_started_at=None)
    return state


def record_failure(
    state: BreakerState, now: float, config: BreakerConfig = DEFAULT_CONFIG
) -> BreakerState:
    """A call failed in a way that blames the exchange (see ``ExchangeError.trips_breaker``).

    CLOSED opens on the ``failure_threshold``-th consecutive failure; a failed probe reopens
    for a full hold; failures landing while OPEN are counted without extending the hold.
    """
    failures = state.consecutive_failures + 1
    if state.status is BreakerStatus.CLOSED:
        if failures >= config.failure_threshold:
            return _open(failures, now)
        return replace(state, consecutive_failures=failures)
    if state.status is BreakerStatus.HALF_OPEN:
        return _open(failures, now)
    return replace(state, consecutive_failures=failures)
