"""``check_bot_job``: evaluate one bot now, from the Launchpad, and show why."""

import dagster as dg

from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.signals.metadata import factors_table
from botbox_dagster.services.check_now import check_now


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
    result, report = check_now(ledger.store(), config.bot_id, dry_run=config.dry_run)
    context.log.info(f"{config.bot_id}: {result.verdict_text} ({result.evaluation})")
    context.add_output_metadata(
        {
            "bot_id": result.bot_id,
            "strategy": result.strategy,
            "market": result.market,
            "timeframe": result.timeframe,
            "dry_run": result.dry_run,
            "candle_time": result.candle_time or "-",
            "price": result.price if result.price is not None else 0.0,
            "score": result.score if result.score is not None else 0.0,
            "regime": result.regime or "-",
            "evaluation": result.evaluation,
            "direction": result.direction or "-",
            "verdict": result.verdict_text,
            "queue_rows_written": result.queue_rows,
            "factors": dg.MetadataValue.md(factors_table(report.outcome.evaluation)),
        }
    )


@dg.job(tags={"botbox/layer": "signals"})
def check_bot_job() -> None:
    """Check now: evaluate one bot (config ``bot_id``, ``dry_run`` default true) and show the
    factor breakdown and the verdict; queues nothing on a dry run."""
    check_bot_now()
