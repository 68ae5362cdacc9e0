"""HTML of the fleet page and the per-bot page (server-rendered, no JavaScript needed).

The markup is in Jinja2 templates (``templates/``) rendered with autoescape on: every value
from the ledger is escaped where it is printed. This module prepares what the templates show
and holds the filters they format values with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from botbox_dagster.dashboard.chart import equity_chart
from botbox_dagster.domain.metrics import BotMetrics, FleetMetrics
from botbox_dagster.domain.money import fmt_amount, fmt_by_currency, fmt_money


def fmt(value: Any) -> str:
    """A table cell's or a card's text: ``-`` for none, datetimes in UTC, floats grouped with
    4 significant digits below 1,000 and 2 decimals from 1,000 on."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.2f}"
    return str(value)


def pct(value: float | None) -> str:
    """``0.456`` → ``46%``; ``-`` for none."""
    return "-" if value is None else f"{value:.0%}"


def secs(value: float | None) -> str:
    """``2.04`` → ``2.0 s``; ``-`` for none."""
    return "-" if value is None else f"{value:.1f} s"


def money(value: float, currency: str) -> str:
    """``+0.001 BTC``: a signed amount and its currency."""
    return fmt_money(float(value), currency)


def amount(value: float) -> str:
    """``2,000.00``: an amount without its sign."""
    return fmt_amount(float(value), sign=False)


def factor_lines(contributions: Mapping[str, Any]) -> list[str]:
    """A signal's factor contributions by factor name: ``rsi +0.500``."""
    return [
        f"{name} {float(c.get('contribution') or 0):+.3f}"
        for name, c in sorted(contributions.items())
    ]


ENV = Environment(
    loader=PackageLoader("botbox_dagster.dashboard", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
)
ENV.filters.update(
    fmt=fmt,
    pct=pct,
    secs=secs,
    money=money,
    amount=amount,
    by_currency=fmt_by_currency,
    factor_lines=factor_lines,
    urlquote=quote,
)


def fleet_page(view: dict[str, Any]) -> str:
    """The fleet page of :func:`views.fleet_view`'s document: pause state and Pause All, the
    figure and P&L cards, then the P&L, alert, exchange, market, bot and rejection tables."""
    m: FleetMetrics = view["metrics"]
    queue = ", ".join(f"{k} {v}" for k, v in sorted(m.queue_by_status.items()))
    return ENV.get_template("fleet.html").render(
        m=m,
        pause=view["pause"],
        alerts=view["alerts"],
        bots=view["bots"],
        queue_summary=queue or "empty",
        rejections=sorted(m.rejection_reasons_day.items(), key=lambda kv: -kv[1]),
    )


def bot_page(view: dict[str, Any]) -> str:
    """The page of one bot from :func:`views.bot_view`'s document: schedule and Check Now, the
    newest Check Now verdict, P&L with the equity chart, positions, trades and signals."""
    b: BotMetrics = view["bot"]
    return ENV.get_template("bot.html").render(
        b=b,
        info=b.bot,
        pause=view["pause"],
        chart=equity_chart(b.equity, currency=b.currency),
    )
