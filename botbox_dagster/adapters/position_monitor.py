"""The position monitor: stop losses and take profits on each candle refresh.

After new bars are stored, every open position is marked to its market's newest close
(unrealized P&L), and a position whose stop loss or take profit the newest bar touched gets a
CLOSE row, which execution runs take before any entry. A paper CLOSE fills at the trigger price
(plus slippage), a live one through a market order. It runs whether or not the fleet is paused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain.client_order_id import client_order_id, format_for
from botbox_dagster.domain.execution import stop_or_target_hit


@dataclass
class MonitorReport:
    marked: int = 0
    closes_queued: list[str] = field(default_factory=list)


def monitor_positions(store: LedgerStore, exchange: str, now: datetime) -> MonitorReport:
    report = MonitorReport(marked=store.mark_positions(exchange, now))
    account = store.exchange_accounts().get(exchange)
    fmt = format_for(account.venue if account is not None else "")
    for position, low, high, bar_time in store.positions_with_latest_bar(exchange):
        hit = stop_or_target_hit(position, low, high)
        if hit is None:
            continue
        reason, price = hit
        cid = client_order_id(
            position.bot_id, position.symbol, "CLOSE", bar_time, leg="stop", fmt=fmt
        )
        queued = store.enqueue_close(position, exchange, reason, price, cid, now)
        if queued is not None:
            report.closes_queued.append(
                f"{position.bot_id} {position.symbol}: {reason} at {price:.8g}"
            )
    return report
