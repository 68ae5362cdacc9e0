"""An inline SVG line chart (equity over time), no JavaScript or chart library needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape


def equity_svg(
    points: Sequence[tuple[datetime, float]],
    *,
    width: int = 640,
    height: int = 200,
    currency: str = "",
) -> str:
    """Equity line with a baseline at the starting capital; green above, red below. The label
    names ``currency`` (the bot's quote currency) when given."""
    if not points:
        return '<svg class="chart" role="img"><text x="10" y="20">no data</text></svg>'
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

    path = " ".join(f"{x},{y}" for x, y in (xy(t, v) for t, v in points))
    base_y = xy(points[0][0], values[0])[1]
    colour = "#1a7f37" if values[-1] >= values[0] else "#cf222e"
    unit = f" {currency}" if currency else ""
    label = f"equity {values[-1]:,.2f}{unit} (start {values[0]:,.2f}{unit})"
    return (
        f'<svg class="chart" id="pnl-chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f'<line x1="{pad}" x2="{width - pad}" y1="{base_y}" y2="{base_y}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
        f'<text x="{pad}" y="14" font-size="12">{escape(label)}</text>'
        f'<text x="2" y="{height - pad / 2}" font-size="10">{lo:,.2f}</text>'
        f'<text x="2" y="{pad / 2 + 10}" font-size="10">{hi:,.2f}</text>'
        "</svg>"
    )
