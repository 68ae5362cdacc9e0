"""HTML of the fleet page and the per-bot page (server-rendered, no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from botbox_dagster.dashboard.chart import equity_svg
from botbox_dagster.domain.metrics import BotMetrics, FleetMetrics
from botbox_dagster.domain.money import (
    ConvertedTotal,
    fmt_amount,
    fmt_by_currency,
    fmt_money,
)

CSS = """
body{font:14px system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
header{background:#24292f;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff}main{padding:16px 20px}h2{margin:22px 0 8px;font-size:16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #d0d7de;
border-radius:6px;padding:10px 14px;min-width:130px}.card b{display:block;font-size:22px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #d0d7de;
padding:4px 8px;text-align:left;font-size:13px}th{background:#eaeef2}
.banner{padding:10px 14px;border-radius:6px;margin-bottom:12px}
.paused{background:#ffebe9;border:1px solid #cf222e}.running{background:#dafbe1;border:1px solid #1a7f37}
.bad{color:#cf222e;font-weight:600}.ok{color:#1a7f37}.warn{color:#9a6700;font-weight:600}
form{display:inline}button{padding:5px 12px;cursor:pointer}input{padding:4px}
.verdict{background:#fff;border:2px solid #0969da;border-radius:6px;padding:10px;margin:10px 0}
small{color:#57606a}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.2f}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], table_id: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if _is_html(c) else escape(_fmt(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    attr = f' id="{table_id}"' if table_id else ""
    return f"<table{attr}><tr>{head}</tr>{body or '<tr><td colspan=99>none</td></tr>'}</table>"


class Html(str):
    """Text already escaped."""


def _is_html(value: Any) -> bool:
    return isinstance(value, Html)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} s"


def page(title: str, body: str, refresh: int | None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        '<header><strong>BotBox operator dashboard</strong><a href="/">Fleet</a>'
        '<a href="/api/fleet">JSON</a></header>'
        f"<main>{body}</main></body></html>"
    )


def pause_banner(pause: dict[str, Any]) -> str:
    if pause.get("paused"):
        until = f" until {escape(str(pause['until']))}" if pause.get("until") else ""
        return (
            '<div class="banner paused" id="pause-state"><b>FLEET PAUSED</b> by '
            f"{escape(str(pause.get('by')))} at {escape(str(pause.get('at')))}: "
            f"{escape(str(pause.get('reason')))}{until}. "
            '<form method="post" action="/resume"><button id="resume-all">Resume</button></form>'
            "</div>"
        )
    return (
        '<div class="banner running" id="pause-state"><b>Trading</b> (not paused). '
        '<form method="post" action="/pause">'
        '<input name="reason" id="pause-reason" placeholder="reason" required '
        'value="paused from the dashboard"> '
        '<input name="minutes" id="pause-minutes" type="number" min="1" placeholder="minutes (optional)"> '
        '<button id="pause-all">Pause All</button></form></div>'
    )


def pnl_card(title: str, total: ConvertedTotal, card_id: str) -> str:
    """A P&L card: the total in the reporting currency (in the title and beside the number),
    the amounts per quote currency it adds up, and a warning naming any currency left out."""
    missing = (
        f'<br><small class="warn" id="{card_id}-unconverted">not converted, no '
        f"{escape(total.currency)} price: {escape(fmt_by_currency(total.unconverted))}</small>"
        if total.unconverted
        else ""
    )
    return (
        f'<div class="card" id="{card_id}"><small>{escape(title)} ({escape(total.currency)})'
        f"</small><b>{escape(fmt_money(total.amount, total.currency))}</b>"
        f"<small>{escape(fmt_by_currency(total.by_currency))}</small>{missing}</div>"
    )


def fleet_page(view: dict[str, Any]) -> str:
    m: FleetMetrics = view["metrics"]
    cards = [
        ("Active bots", m.active_bots, "active-bots"),
        ("Signals last hour", m.signals_judged_hour, "signals-hour"),
        ("Signals last day", sum(m.signals_day.values()), "signals-day"),
        ("Acceptance (1 h)", _pct(m.acceptance_rate_hour), "acceptance"),
        ("Trades last hour", m.trades_hour, "trades-hour"),
        ("Trades last day", m.trades_day, "trades-day"),
        ("Queue depth", m.queue_depth, "queue-depth"),
        (
            "Order latency p50/p95",
            f"{_secs(m.order_latency_p50)} / {_secs(m.order_latency_p95)}",
            "order-latency",
        ),
        ("Failure rate (1 h)", _pct(m.execution_failure_rate_hour), "failure-rate"),
        ("Open positions", m.open_positions, "open-positions"),
    ]
    card_html = "".join(
        f'<div class="card" id="{i}"><small>{escape(t)}</small><b>{escape(_fmt(v))}</b></div>'
        for t, v, i in cards
    ) + "".join(
        [
            pnl_card("P&L realized", m.realized_pnl_total, "realized"),
            pnl_card("P&L realized 24 h", m.realized_pnl_day_total, "realized-day"),
            pnl_card("P&L unrealized", m.unrealized_pnl_total, "unrealized"),
        ]
    )
    pnl = table(
        [
            "currency",
            "realized P&L",
            "realized P&L 24 h",
            "unrealized P&L",
            f"price in {m.reporting_currency}",
        ],
        m.pnl_rows(),
        "pnl-currencies",
    )
    exchanges = table(
        [
            "account",
            "venue",
            "orders",
            "circuit breaker",
            "weight last min",
            "calls last h",
            "429/418 (15 min)",
        ],
        [
            (
                e.account,
                e.venue,
                e.execution,
                Html(
                    f'<span class="{"ok" if e.circuit == "CLOSED" else "bad"}">{escape(e.circuit)}</span>'
                ),
                e.weight_last_minute,
                e.calls_last_hour,
                e.rate_limited_recent,
            )
            for e in m.exchanges
        ],
        "exchanges",
    )
    markets = table(
        ["exchange", "symbol", "tf", "bots", "newest bar", "age", "state"],
        [
            (
                x.exchange,
                x.symbol,
                x.timeframe,
                x.bots,
                x.newest_candle,
                _secs(x.age_seconds),
                Html(
                    '<span class="bad">STALE</span>' if x.stale else '<span class="ok">fresh</span>'
                ),
            )
            for x in m.markets
        ],
        "markets",
    )
    alerts = table(
        ["severity", "alert", "detail", "since"],
        [(a["severity"], a["title"], a["detail"], a["since"]) for a in view["alerts"]],
        "alerts",
    )
    bots = table(
        [
            "bot",
            "strategy",
            "market",
            "every",
            "status",
            "mode",
            "last check",
            "next check",
            "signals 24 h",
            "open",
            "P&L (quote currency)",
        ],
        [
            (
                Html(f'<a href="/bots/{quote(b["id"])}">{escape(b["id"])}</a>'),
                b["strategy"],
                f"{b['exchange']} {b['symbol']}",
                f"{b['interval']} min",
                b["status"],
                b["mode"],
                b["last_check_at"],
                b["next_check_at"],
                b["signals_day"],
                b["open_positions"],
                fmt_money(float(b["pnl"]), b["currency"]),
            )
            for b in view["bots"]
        ],
        "bots",
    )
    queue = ", ".join(f"{k} {v}" for k, v in sorted(m.queue_by_status.items())) or "empty"
    reasons = table(
        ["rejection reason (24 h)", "count"],
        sorted(m.rejection_reasons_day.items(), key=lambda kv: -kv[1]),
        "rejections",
    )
    body = (
        pause_banner(view["pause"])
        + f'<div class="cards">{card_html}</div>'
        + f"<p><small>Queue by status: {escape(queue)}. Candle fetches saved per refresh by "
        f"sharing: {m.fetches_saved_per_refresh}. As of {escape(_fmt(m.as_of))}; "
        "refreshes every 10 s.</small></p>"
        + "<h2>P&amp;L by quote currency</h2>"
        + pnl
        + "<h2>Active alerts</h2>"
        + alerts
        + "<h2>Exchanges</h2>"
        + exchanges
        + "<h2>Market data</h2>"
        + markets
        + "<h2>Bots</h2>"
        + bots
        + "<h2>Rejections</h2>"
        + reasons
    )
    return page("BotBox fleet", body, refresh=10)


def _factors(contributions: dict[str, Any]) -> Html:
    parts = [
        f"{escape(name)} {float(c.get('contribution') or 0):+.3f}"
        for name, c in sorted(contributions.items())
    ]
    return Html("<br>".join(parts) or "-")


def _check_box(check: dict[str, Any] | None) -> str:
    if not check:
        return '<div class="verdict" id="check-result">No Check Now yet.</div>'
    factors = _factors(check.get("factors") or {})
    return (
        '<div class="verdict" id="check-result"><b>Check Now verdict: '
        f'<span id="check-verdict">{escape(str(check.get("verdict")))}</span></b> '
        f"{escape(str(check.get('direction') or ''))} "
        f"score {escape(_fmt(check.get('score')))}, price {escape(_fmt(check.get('price')))}: "
        f"{escape(str(check.get('reason') or ''))}<br><small>checked {escape(str(check.get('checked_at')))} "
        f"by {escape(str(check.get('by')))} (dry run: nothing queued); candle "
        f"{escape(str(check.get('candle_time')))}</small><br>{factors}</div>"
    )


def bot_page(view: dict[str, Any]) -> str:
    b: BotMetrics = view["bot"]
    info = b.bot
    bot_id = str(info["id"])
    head = (
        f"<h1>{escape(bot_id)}</h1><p>{escape(str(info['strategy']))} on "
        f"{escape(str(info['exchange']))} {escape(str(info['symbol']))}, every "
        f"{info['interval']} min, {escape(str(info['mode']))}. Status "
        f'<b id="bot-status">{escape(str(info["status"]))}</b>'
        f"{' (' + escape(str(info['status_reason'])) + ')' if info.get('status_reason') else ''}. "
        f'Last check <span id="last-check">{escape(_fmt(b.last_check_at))}</span>, next check '
        f'<span id="next-check">{escape(_fmt(b.next_check_at))}</span>.</p>'
        f'<form method="post" action="/bots/{quote(bot_id)}/check">'
        '<button id="check-now">Check Now</button></form>'
    )
    cur = b.currency
    pnl = (
        f'<p id="pnl">Realized P&amp;L <b>{escape(fmt_money(b.realized_pnl, cur))}</b>, '
        f"unrealized <b>{escape(fmt_money(b.unrealized_pnl, cur))}</b>, capital "
        f"{escape(fmt_amount(float(info['capital']), sign=False))} {escape(cur)} "
        f"<small>(in {escape(cur)}, the quote currency of {escape(str(info['symbol']))})</small></p>"
        + equity_svg(b.equity, currency=cur)
    )
    signals = table(
        ["time", "direction", "score", "price", "regime", "status", "reason", "factors"],
        [
            (
                s["evaluated_at"],
                s["direction"],
                s["score"],
                s["price"],
                s["regime"],
                Html(
                    f'<span class="{"bad" if s["status"] == "REJECTED" else "ok"}">{escape(s["status"])}</span>'
                ),
                s["reason"],
                _factors(s["contributions"]),
            )
            for s in b.signals
        ],
        "signals",
    )
    positions = table(
        [
            "id",
            "direction",
            "amount",
            "entry",
            "stop",
            "take profit",
            "mark",
            f"unrealized ({cur})",
            "opened",
        ],
        [
            (
                p["id"],
                p["direction"],
                p["amount"],
                p["entry_price"],
                p["stop_loss"],
                p["take_profit"],
                p["mark_price"],
                p["unrealized_pnl"],
                p["opened_at"],
            )
            for p in b.open_positions
        ],
        "positions",
    )
    trades = table(
        ["order", "side", "amount", "price", "status", "fee", "mode", "time"],
        [
            (
                t["id"],
                t["side"],
                t["amount"],
                t["average_price"],
                t["status"],
                t["fee"],
                t["mode"],
                t["updated_at"],
            )
            for t in b.trades
        ],
        "trades",
    )
    body = (
        pause_banner(view["pause"])
        + head
        + _check_box(b.last_check_now)
        + "<h2>P&amp;L</h2>"
        + pnl
        + "<h2>Open positions</h2>"
        + positions
        + "<h2>Recent trades</h2>"
        + trades
        + "<h2>Recent signals</h2>"
        + signals
    )
    return page(f"BotBox {bot_id}", body, refresh=30)
