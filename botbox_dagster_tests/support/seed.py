"""A ledger with the demo fleet, fresh candles and some signals, trades and positions.

Rows are written with plain SQL in the shapes the signal tick and the executor write, so metrics,
alerts and dashboard tests control every timestamp and status.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botbox_dagster.adapters.fleet_file import load_fleet_file
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.demo.run import demo_fleet_file
from botbox_dagster_tests.signal_helpers import store_candles

_ids = itertools.count(1)
FACTORS = {
    "rsi": {"value": 31.0, "score": 0.8, "weight": 1.0, "contribution": 0.5},
    "macd": {"value": 0.2, "score": 0.4, "weight": 1.0, "contribution": 0.25},
}


def minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def demo_ledger(path: Path, now: datetime | None = None, *, candles: bool = True) -> LedgerStore:
    """The demo fleet (25 bots, 6 markets) with candles closed up to ``now``'s minute."""
    now = now or datetime.now(UTC)
    store = LedgerStore(path)
    store.load_fleet(load_fleet_file(demo_fleet_file()), now=now - timedelta(hours=2))
    if candles:
        symbols = sorted({sym for _, sym in store.active_markets()})
        for i, symbol in enumerate(symbols):
            store_candles(store, symbol, minute(now), timeframes_=("1m", "5m"), bars=60, seed=i)
    return store


def add_signal(
    store: LedgerStore,
    bot_id: str,
    status: str,
    *,
    at: datetime,
    reason: str | None = None,
    direction: str = "LONG",
    strategy: str = "scalp-1m",
    symbol: str = "BTC/USDT",
) -> int:
    n = next(_ids)
    return int(
        store.run(
            lambda c: c.execute(
                "INSERT INTO signals (signal_hash, bot_id, strategy_id, exchange, symbol, "
                "timeframe, direction, candle_time, price, score, contributions, regime, status, "
                "reason, evaluated_at, updated_at) VALUES (?, ?, ?, 'paper', ?, '1m', ?, ?, 100.0, "
                "0.75, ?, 'trending', ?, ?, ?, ?) RETURNING id",
                [
                    f"seed-{n}-{bot_id}-{at.isoformat()}",
                    bot_id,
                    strategy,
                    symbol,
                    direction,
                    minute(at) - timedelta(minutes=1),
                    json.dumps(FACTORS),
                    status,
                    reason,
                    at,
                    at,
                ],
            ).fetchone()[0]
        )
    )


def add_queue_row(
    store: LedgerStore,
    bot_id: str,
    status: str,
    *,
    created: datetime,
    updated: datetime | None = None,
    reason: str = "seeded",
    symbol: str = "BTC/USDT",
) -> int:
    n = next(_ids)
    pending = f"{bot_id}|{symbol}|LONG|{n}" if status == "PENDING" else None
    return int(
        store.run(
            lambda c: c.execute(
                "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, entry_price, "
                "position_size, status, client_order_id, reason, pending_key, priority, "
                "created_at, updated_at, expires_at) VALUES (?, 'paper', ?, 'LONG', 100.0, 0.1, ?, "
                "?, ?, ?, 1, ?, ?, ?) RETURNING id",
                [
                    bot_id,
                    symbol,
                    status,
                    f"seed-{n}",
                    reason,
                    pending,
                    created,
                    updated or created,
                    created + timedelta(minutes=5),
                ],
            ).fetchone()[0]
        )
    )


def add_trade(
    store: LedgerStore,
    bot_id: str,
    *,
    opened: datetime,
    closed: datetime | None = None,
    entry: float = 100.0,
    exit_price: float | None = None,
    amount: float = 1.0,
    symbol: str = "BTC/USDT",
) -> None:
    """A FILLED queue row and order opening a LONG (and closing it when ``closed``)."""
    q = add_queue_row(
        store, bot_id, "FILLED", created=opened - timedelta(seconds=2), updated=opened
    )
    n = next(_ids)

    def work(c: object) -> None:
        c.execute(  # type: ignore[attr-defined]
            "INSERT INTO orders (queue_id, bot_id, exchange, symbol, side, order_type, amount, "
            "price, status, client_order_id, filled, average_price, fee, mode, created_at, "
            "updated_at) VALUES (?, ?, 'paper', ?, 'buy', 'market', ?, ?, 'FILLED', ?, ?, ?, 0.1, "
            "'paper', ?, ?)",
            [q, bot_id, symbol, amount, entry, f"seed-order-{n}", amount, entry, opened, opened],
        )
        if closed is None:
            c.execute(  # type: ignore[attr-defined]
                "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
                "status, open_key, mark_price, unrealized_pnl, opened_at) VALUES "
                "(?, 'paper', ?, 'LONG', ?, ?, 'OPEN', ?, ?, ?, ?)",
                [
                    bot_id,
                    symbol,
                    amount,
                    entry,
                    f"{bot_id}|{symbol}",
                    entry + 2,
                    2 * amount,
                    opened,
                ],
            )
        else:
            assert exit_price is not None
            c.execute(  # type: ignore[attr-defined]
                "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
                "status, exit_price, exit_reason, realized_pnl, unrealized_pnl, opened_at, "
                "closed_at) VALUES (?, 'paper', ?, 'LONG', ?, ?, 'CLOSED', ?, 'take profit', ?, 0, "
                "?, ?)",
                [
                    bot_id,
                    symbol,
                    amount,
                    entry,
                    exit_price,
                    (exit_price - entry) * amount,
                    opened,
                    closed,
                ],
            )

    store.run(work)


def busy_demo_ledger(path: Path, now: datetime | None = None) -> LedgerStore:
    """The demo fleet plus an hour of activity: signals, trades, open and closed positions."""
    now = now or datetime.now(UTC)
    store = demo_ledger(path, now)
    for i in range(6):
        at = now - timedelta(minutes=5 * i + 1)
        add_signal(store, "btc-scalper", "EXECUTED", at=at.replace(second=2))
        add_signal(
            store,
            "eth-scalper",
            "REJECTED",
            at=at.replace(second=3),
            reason="data too old: 185s",
            symbol="ETH/USDT",
        )
    add_trade(
        store,
        "btc-scalper",
        opened=now - timedelta(minutes=50),
        closed=now - timedelta(minutes=30),
        exit_price=104.0,
    )
    add_trade(
        store,
        "btc-scalper",
        opened=now - timedelta(minutes=20),
        closed=now - timedelta(minutes=10),
        exit_price=99.0,
    )
    add_trade(store, "btc-scalper", opened=now - timedelta(minutes=5))
    add_queue_row(
        store, "eth-scalper", "PENDING", created=now - timedelta(seconds=20), symbol="ETH/USDT"
    )
    return store


def add_bar(
    store: LedgerStore,
    symbol: str,
    open_time: datetime,
    close: float,
    *,
    timeframe: str = "1m",
    exchange: str = "paper",
) -> None:
    """One stored bar of ``symbol`` closing at ``close`` (the price conversions read it)."""
    import pandas as pd

    frame = pd.DataFrame(
        {"open": [close], "high": [close], "low": [close], "close": [close], "volume": [1.0]},
        index=pd.DatetimeIndex([open_time]),
    )
    store.upsert_candles(exchange, symbol, timeframe, frame, source="test", now=open_time)


def add_unpriced_eur_trade(store: LedgerStore, now: datetime) -> None:
    """A closed ETH/EUR position realizing +3 EUR (100 → 103 on 1.0): nothing prices EUR."""
    add_trade(
        store,
        "eth-eur-bot",
        opened=now - timedelta(hours=3),
        closed=now - timedelta(hours=2),
        entry=100.0,
        exit_price=103.0,
        symbol="ETH/EUR",
    )


def mixed_currency_ledger(path: Path, now: datetime) -> LedgerStore:
    """An empty fleet with P&L in two quote currencies and the price that converts one.

    One closed BTC/USDT position (realized +12 USDT), one closed ETH/BTC position (realized
    +0.001 BTC), and BTC/USDT bars whose newest closes at 50,000 (an older 1h bar at 40,000 and
    a bar on another exchange an hour older at 45,000 must not be used). Hand-computed fleet
    total: 12 + 0.001 × 50,000 = 62 USDT.
    """
    store = LedgerStore(path)
    add_trade(
        store,
        "btc-bot",
        opened=now - timedelta(hours=2),
        closed=now - timedelta(hours=1),
        entry=100.0,
        exit_price=112.0,
        symbol="BTC/USDT",
    )
    add_trade(
        store,
        "eth-btc-bot",
        opened=now - timedelta(hours=2),
        closed=now - timedelta(hours=1),
        entry=0.05,
        exit_price=0.051,
        symbol="ETH/BTC",
    )
    bar = minute(now) - timedelta(minutes=2)
    add_bar(store, "BTC/USDT", bar - timedelta(hours=3), 40_000.0, timeframe="1h")
    add_bar(store, "BTC/USDT", bar - timedelta(hours=1), 45_000.0, exchange="other")
    add_bar(store, "BTC/USDT", bar, 50_000.0)
    return store


OVERLOAD_SKIP = (
    "slot {slot:%H:%M} skipped: minute run run-b (slot {previous:%H:%M}, STARTED, started 95 s "
    "ago) is still going; bots due now are evaluated by the next run, stops are scanned by it"
)


def overloaded_minute_loop(store: LedgerStore, now: datetime) -> str:
    """Three minutes of a loop falling behind before ``now``: a tick that ended 20 s after its
    minute, one that ended 95 s after (it overran), and the minute it overran into skipped.
    Returns the skip's reason."""
    first = minute(now) - timedelta(minutes=3)
    second = first + timedelta(minutes=1)
    store.record_slot_started(first, "run-a", now=first + timedelta(seconds=2))
    store.record_slot_finished("run-a", now=first + timedelta(seconds=20))
    store.record_slot_started(second, "run-b", now=second + timedelta(seconds=3))
    store.record_slot_finished("run-b", now=second + timedelta(seconds=95))
    skipped = second + timedelta(minutes=1)
    reason = OVERLOAD_SKIP.format(slot=skipped, previous=second)
    store.record_skipped_slot(skipped, "run-b", reason, now=skipped + timedelta(seconds=1))
    return reason
