"""The position monitor: stop losses and take profits on each candle refresh.

After new bars are stored, every open position is marked to the newest close of its market's
base timeframe (unrealized P&L), and every bar not yet scanned for it (after the bar it was
filled in, oldest first) is scanned for its stop loss and take profit with the fill model's
rules (``domain/fills.py``: a bar that opens through the stop exits at the open; when a bar
touches both, the stop wins). A hit queues a CLOSE carrying its trigger price, which execution
runs take before any entry: a paper CLOSE fills there (plus slippage), a live one through a
market order. It runs whether or not the fleet is paused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain.client_order_id import (
    client_order_id,
    follow_up_client_order_id,
    format_for,
)
from botbox_dagster.domain.execution import OpenPosition
from botbox_dagster.domain.fills import scan_exit


@dataclass
class MonitorReport:
    marked: int = 0
    bars_scanned: int = 0
    closes_queued: list[str] = field(default_factory=list)


def monitor_positions(store: LedgerStore, exchange: str, now: datetime) -> MonitorReport:
    """Mark the exchange's open positions and queue a CLOSE for each stop or target hit."""
    report = MonitorReport(marked=store.mark_positions(exchange, now))
    account = store.exchange_accounts().get(exchange)
    fmt = format_for(account.venue if account is not None else "")
    for position, bars in store.bars_to_scan(exchange, now):
        if not bars:
            continue
        hit = scan_exit(position, bars)
        if hit is None:
            report.bars_scanned += len(bars)
            store.set_scanned_to(position.id, bars[-1].open_time)
            continue
        report.bars_scanned += sum(1 for b in bars if b.open_time <= hit.bar_time)
        cid = client_order_id(
            position.bot_id, position.symbol, "CLOSE", hit.bar_time, leg="stop", fmt=fmt
        )
        queued = store.enqueue_close(position, exchange, hit.reason, hit.price, cid, now)
        # Scanned up to the bar that hit; the bars after it matter only if the CLOSE fails.
        store.set_scanned_to(position.id, hit.bar_time)
        if queued is not None:
            report.closes_queued.append(
                f"{position.bot_id} {position.symbol}: {hit.reason} at {hit.price:.8g} "
                f"(bar {hit.bar_time:%Y-%m-%d %H:%M})"
            )
    for position, reason, cid, failed in store.failed_exits(exchange):
        # The stop or target hit and its CLOSE failed (transient errors past its attempts, a
        # refusal...): the exit is still owed, now at the market's price. One retry per pass.
        retry = follow_up_client_order_id(cid, f"retry-{failed}")
        why = f"exit retried: CLOSE {cid} failed ({reason[:80]})"
        if store.enqueue_close(position, exchange, why, None, retry, now) is not None:
            report.closes_queued.append(f"{position.bot_id} {position.symbol}: {why}")
    return report


def close_bot_positions(
    store: LedgerStore, bot_id: str, reason: str, now: datetime
) -> list[tuple[OpenPosition, int | None]]:
    """Queue a CLOSE at the market for each open position of a bot, whatever its symbol or
    account now (an operator's exit, the one way to free a bot before moving it to another
    symbol). Each pair is the position and its queue row, None where a CLOSE already waits.
    The next execution run sends it; a CLOSE that fails is queued again like a stop's."""
    accounts = store.exchange_accounts()
    out: list[tuple[OpenPosition, int | None]] = []
    for exchange, position in store.open_positions_of(bot_id):
        account = accounts.get(exchange)
        cid = client_order_id(
            bot_id,
            position.symbol,
            "CLOSE",
            now.replace(second=0, microsecond=0),
            leg="manual",
            fmt=format_for(account.venue if account is not None else ""),
        )
        why = f"closed by the operator: {reason}"
        out.append((position, store.enqueue_close(position, exchange, why, None, cid, now)))
    return out
