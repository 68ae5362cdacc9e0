"""``check_bot_job``: evaluate one bot now, from the Launchpad, and show why."""

import dagster as dg

from botbox_dagster.adapters.signal_tick import check_bot
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.signals.metadata import factors_table


class CheckBotConfig(dg.Config):
    """Which bot to check, and whether an accepted signal may be queued."""

    bot_id: str
    """The bot's id (``botbox bots list``)."""

    dry_run: bool = True
    """True: judge the signal but write nothing. False: log the signal and queue it if accepted."""


@dg.op(tags={"botbox/layer": "signals"})
def check_bot_now(
    context: dg.OpExecutionContext, config: CheckBotConfig, ledger: LedgerResource
) -> None:
    """Evaluate one bot immediately, on the same code path as the tick: factor breakdown,
    signal, and the validation/risk verdict in the metadata. The bot's scheduled checks do
    not move (its ``last_check_at`` is left alone)."""
    report = check_bot(ledger.store(), config.bot_id, dry_run=config.dry_run)
    ev, signal, verdict = report.outcome.evaluation, report.signal, report.verdict
    verdict_text = (
        "no signal"
        if verdict is None
        else verdict.status.value + (f": {verdict.reason}" if verdict.reason else "")
    )
    context.log.info(f"{config.bot_id}: {verdict_text} ({report.outcome.note})")
    context.add_output_metadata(
        {
            "bot_id": config.bot_id,
            "strategy": report.bot.bot.strategy,
            "market": f"{report.bot.bot.exchange} {report.bot.bot.symbol}",
            "timeframe": report.bot.spec.timeframe,
            "dry_run": config.dry_run,
            "candle_time": str(ev.timestamp) if ev and ev.timestamp is not None else "-",
            "price": ev.price if ev and ev.price is not None else 0.0,
            "score": ev.score if ev and ev.score is not None else 0.0,
            "regime": str(ev.regime) if ev and ev.regime else "-",
            "evaluation": report.outcome.note,
            "direction": signal.direction if signal else "-",
            "verdict": verdict_text,
            "queue_rows_written": report.queue_rows,
            "factors": dg.MetadataValue.md(factors_table(ev)),
        }
    )


@dg.job(tags={"botbox/layer": "signals"})
def check_bot_job() -> None:
    """Check now: evaluate one bot (config ``bot_id``, ``dry_run`` default true) and show the
    factor breakdown and the verdict; queues nothing on a dry run."""
    check_bot_now()
