"""An inline SVG line chart (equity over time), no JavaScript or chart library needed.

This module computes the chart's geometry and labels; ``templates/_chart.html`` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EquityChart:
    """What the SVG shows: the equity line's points and colour, a dashed baseline at the
    starting capital, the label, and the lowest and highest values on the left edge."""

    width: int
    height: int
    pad: int
    points: list[tuple[float, float]]
    base_y: float
    colour: str
    label: str
    low_y: float
    low_text: str
    high_y: float
    high_text: str


def equity_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    width: int = 640,
    height: int = 200,
    currency: str = "",
) -> EquityChart | None:
    """Equity line with a baseline at the starting capital; green above, red below. The label
    names ``currency`` (the bot's quote currency) when given. ``None`` when there are no
    points (the template then says "no data")."""
    if not points:
        return None
    pad = 40
    t0 = points[0][0].timestamp()
    span = max(points[-1][0].timestamp() - t0, 1.0)
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = pad + (t.timestamp() - t0) / span * (width - 2 * pad)
        y = height - pad / 2 - (v - lo) / (hi - lo) * (height - pad)
        return round(x, 1), round(y, 1)

    unit = f" {currency}" if currency else ""
    return EquityChart(
        width=width,
        height=height,
        pad=pad,
        points=[xy(t, v) for t, v in points],
        base_y=xy(points[0][0], values[0])[1],
        colour="#1a7f37" if values[-1] >= values[0] else "#cf222e",
        label=f"equity {values[-1]:,.2f}{unit} (start {values[0]:,.2f}{unit})",
        low_y=height - pad / 2,
        low_text=f"{lo:,.2f}",
        high_y=pad / 2 + 10,
        high_text=f"{hi:,.2f}",
    )
