"""Check now: evaluate one bot immediately and say why, one result for every front end.

``botbox check``, the dashboard's Check Now button and ``check_bot_job`` all call
:func:`check_now`; each only formats the :class:`CheckResult` (text, a stored record, run
metadata). The evaluation is the tick's own code path (``adapters/signal_tick.check_bot``); the
bot's scheduled checks do not move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore


@dataclass(frozen=True)
class CheckResult:
    """What a check found: the bot, the evaluation, the signal and its verdict."""

    bot_id: str
    strategy: str
    market: str  # "<account> <symbol>"
    timeframe: str
    dry_run: bool
    checked_at: datetime
    evaluation: str  # the evaluation's note ("score 0.61 >= 0.5", "no 1m candles stored"...)
    candle_time: str | None = None
    price: float | None = None
    score: float | None = None
    regime: str | None = None
    direction: str | None = None
    verdict: str = "NO SIGNAL"  # ACCEPTED, REJECTED or NO SIGNAL
    rejection: str | None = None  # the validation or risk rule that rejected the signal
    reason: str | None = None  # the rejection, or else the evaluation's note
    factors: dict[str, dict[str, float]] = field(default_factory=dict)
    queue_rows: int = 0

    @property
    def verdict_text(self) -> str:
        """``ACCEPTED``, ``REJECTED: <reason>`` or ``no signal``."""
        if self.verdict == "NO SIGNAL":
            return "no signal"
        return self.verdict + (f": {self.rejection}" if self.rejection else "")

    def record(self, source: str) -> dict[str, Any]:
        """The JSON record stored for the bot's page (``check_now:<bot>`` control)."""
        return {
            "bot_id": self.bot_id,
            "verdict": self.verdict,
            "direction": self.direction,
            "reason": self.reason,
            "score": self.score,
            "price": self.price,
            "regime": self.regime,
            "candle_time": self.candle_time,
            "factors": self.factors,
            "dry_run": self.dry_run,
            "source": source,
            "checked_at": self.checked_at.isoformat(),
        }


def check_now(
    store: LedgerStore, bot_id: str, *, dry_run: bool = True, now: datetime | None = None
) -> tuple[CheckResult, Any]:
    """Evaluate ``bot_id`` now; with ``dry_run`` nothing is written. Returns the result and
    the evaluation report (for a front end that shows the factor table). Raises LookupError
    for an unknown bot."""
    from botbox_dagster.services.signal_tick import check_bot  # pandas-ta: import on first use

    now = now or datetime.now(UTC)
    report = check_bot(store, bot_id, now=now, dry_run=dry_run)
    ev, verdict, bot = report.outcome.evaluation, report.verdict, report.bot.bot
    result = CheckResult(
        bot_id=bot_id,
        strategy=bot.strategy,
        market=f"{bot.exchange} {bot.symbol}",
        timeframe=report.bot.spec.timeframe,
        dry_run=dry_run,
        checked_at=now,
        evaluation=report.outcome.note,
        candle_time=str(ev.timestamp) if ev and ev.timestamp is not None else None,
        price=ev.price if ev else None,
        score=ev.score if ev else None,
        regime=str(ev.regime) if ev and ev.regime else None,
        direction=report.signal.direction if report.signal else None,
        verdict="NO SIGNAL" if verdict is None else verdict.status.value,
        rejection=verdict.reason if verdict else None,
        reason=(verdict.reason if verdict else None) or report.outcome.note,
        factors=ev.contributions_dict() if ev else {},
        queue_rows=report.queue_rows,
    )
    return result, report
