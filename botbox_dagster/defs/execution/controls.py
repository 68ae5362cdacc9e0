"""Fleet controls from the Launchpad: pause all trading, resume it."""

from datetime import UTC, datetime, timedelta
from typing import Optional

import dagster as dg

from botbox_dagster.defs.resources import LedgerResource


class PauseConfig(dg.Config):
    """Why the fleet is paused, and for how long."""

    reason: str
    """Shown in `botbox status`, the run's metadata and the signals it blocks."""
    resume_after_minutes: Optional[int] = None  # noqa: UP045 - Dagster config needs Optional
    """Resume automatically after this many minutes; empty means until resumed by hand."""


@dg.op(description="Record the fleet-wide pause in the ledger.")
def pause_all(
    context: dg.OpExecutionContext, config: PauseConfig, ledger: LedgerResource
) -> dg.Output:
    now = datetime.now(UTC)
    until = (
        now + timedelta(minutes=config.resume_after_minutes)
        if config.resume_after_minutes
        else None
    )
    value = {
        "paused": True,
        "reason": config.reason,
        "until": until.isoformat() if until else None,
        "since": now.isoformat(),
    }
    ledger.store().set_control("pause_all", value, by=f"dagster run {context.run_id[:8]}")
    context.log.warning(
        f"fleet paused: {config.reason}" + (f" until {until:%H:%M} UTC" if until else "")
    )
    return dg.Output(
        None, metadata={"reason": config.reason, "until": str(until or "manual resume")}
    )


@dg.op(description="Clear the fleet-wide pause.")
def resume_all(context: dg.OpExecutionContext, ledger: LedgerResource) -> dg.Output:
    store = ledger.store()
    before = store.get_control("pause_all") or {}
    store.set_control(
        "pause_all",
        {"paused": False, "reason": "resumed", "until": None},
        by=f"dagster run {context.run_id[:8]}",
    )
    context.log.info("fleet resumed")
    return dg.Output(None, metadata={"was_paused_for": str(before.get("reason", "not paused"))})


@dg.job(
    description=(
        "Pause all trading: no new entries are evaluated or executed; open positions stay open "
        "and their stop losses and take profits keep being enforced. Config: reason, optional "
        "resume_after_minutes."
    ),
    tags={"botbox/layer": "controls"},
)
def pause_all_job() -> None:
    pause_all()


@dg.job(description="Resume trading after pause_all_job.", tags={"botbox/layer": "controls"})
def resume_all_job() -> None:
    resume_all()
