"""Markdown tables an operator reads in the run's metadata (pure formatting, no Dagster)."""

from collections.abc import Iterable

from botbox_dagster.domain.scoring import Evaluation
from botbox_dagster.services.signal_tick import ShardReport

MAX_ROWS = 200


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def outcomes_table(reports: Iterable[ShardReport]) -> str:
    """One line per evaluated bot: signal, verdict and why (capped for big fleets)."""
    lines = [
        "| bot | market | direction | score | regime | status | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    shown = 0
    for report in reports:
        verdicts = {v.signal.bot_id: v for v in report.verdicts}
        for o in report.outcomes:
            if shown >= MAX_ROWS:
                lines.append("| … | | | | | | more rows in the `signals` table |")
                return "\n".join(lines)
            v = verdicts.get(o.bot_id)
            ev = o.evaluation
            market = o.market
            status = v.status.value if v else "no signal"
            reason = (v.reason or v.signal.reason) if v else o.note
            lines.append(
                f"| {o.bot_id} | {market} | {v.signal.direction if v else '-'} | "
                f"{_fmt(ev.score if ev else None, 3)} | {ev.regime if ev else '-'} | {status} | "
                f"{reason} |"
            )
            shown += 1
    return "\n".join(lines)


def factors_table(evaluation: Evaluation | None) -> str:
    """The factor-by-factor breakdown of one evaluation (contributions sum to the score)."""
    lines = ["| factor | input | score | weight | contribution |", "|---|---|---|---|---|"]
    if evaluation is None:
        return "\n".join(lines)
    for name, c in evaluation.contributions.items():
        lines.append(
            f"| {name} | {c.value:.6g} | {c.score:+.3f} | {c.weight:g} | {c.contribution:+.4f} |"
        )
    lines.append(f"| **total** | | | | **{_fmt(evaluation.score)}** |")
    return "\n".join(lines)
