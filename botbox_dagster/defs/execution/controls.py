"""Fleet controls from the Launchpad: pause all trading, resume it."""

from datetime import UTC, datetime
from typing import Optional

import dagster as dg

from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.services.controls import pause_fleet, resume_fleet


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
    try:
        value = pause_fleet(
            ledger.store(),
            config.reason,
            minutes=config.resume_after_minutes,
            source="dagster",
            by=f"dagster run {context.run_id[:8]}",
        )
    except ValueError as exc:
        raise dg.Failure(f"not paused: {exc}") from exc
    until = value["until"]
    context.log.warning(f"fleet paused: {config.reason}" + (f" until {until}" if until else ""))
    return dg.Output(None, metadata={"reason": config.reason, "until": until or "manual resume"})


@dg.op(description="Clear the fleet-wide pause.")
def resume_all(context: dg.OpExecutionContext, ledger: LedgerResource) -> dg.Output:
    before = resume_fleet(ledger.store(), source="dagster", by=f"dagster run {context.run_id[:8]}")
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


class CloseBotConfig(dg.Config):
    """Which bot to take out of the market, and why."""

    bot_id: str
    """The bot whose open positions are closed (every symbol and account it holds one in)."""
    reason: str
    """Recorded on the CLOSE rows and the positions' exit reason."""


@dg.op(description="Queue a CLOSE at the market for each open position of one bot.")
def close_bot(
    context: dg.OpExecutionContext, config: CloseBotConfig, ledger: LedgerResource
) -> dg.Output:
    from botbox_dagster.services.position_monitor import close_bot_positions

    store = ledger.store()
    if store.get_bot(config.bot_id) is None:
        raise dg.Failure(f"no bot {config.bot_id!r}: nothing was queued")
    by = f"{config.reason} (dagster run {context.run_id[:8]})"
    queued = close_bot_positions(store, config.bot_id, by, datetime.now(UTC))
    lines = [
        f"position {p.id} {p.direction} {p.amount:g} {p.symbol}: "
        + (f"CLOSE queued (row {row})" if row is not None else "a CLOSE was already queued")
        for p, row in queued
    ]
    for line in lines or [f"{config.bot_id} has no open position"]:
        context.log.info(line)
    return dg.Output(
        None,
        metadata={
            "bot_id": config.bot_id,
            "positions": len(queued),
            "closes_queued": sum(row is not None for _, row in queued),
            "detail": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines) or "nothing open"),
        },
    )


@dg.job(
    description=(
        "Close one bot's open positions at the market: a CLOSE per position, sent by the next "
        "execution run ahead of any entry (retried like a stop's if it fails). Pause the bot "
        "too if it should not enter again. Config: bot_id, reason."
    ),
    tags={"botbox/layer": "controls"},
)
def close_bot_job() -> None:
    close_bot()
