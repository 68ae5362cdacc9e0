"""Queue trades the way the signal tick does, in bursts, for chaos runs and the fault suite."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.chaos.fleet import ACCOUNT, PRICE, TRADE_SIZE

TERMINAL = ("FILLED", "FAILED", "EXPIRED", "CANCELLED")


def enqueue(
    store: LedgerStore,
    bot_id: str,
    symbol: str,
    direction: str,
    client_order_id: str,
    *,
    size: float = TRADE_SIZE,
    entry_price: float | None = PRICE,
    ttl_seconds: float = 600.0,
    exchange: str = ACCOUNT,
) -> int | None:
    """Insert one PENDING row (None when the bot already has one pending that way)."""
    now = datetime.now(UTC)
    row = store.run(
        lambda c: c.execute(
            "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, entry_price, "
            "position_size, status, attempts, client_order_id, reason, pending_key, priority, "
            "created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'PENDING', 0, ?, "
            "'queued by chaos', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            [
                bot_id,
                exchange,
                symbol,
                direction,
                entry_price,
                size,
                client_order_id,
                f"{bot_id}|{symbol}|{direction}",
                0 if direction == "CLOSE" else 100,
                now,
                now,
                now + timedelta(seconds=ttl_seconds),
            ],
        ).fetchone()
    )
    return None if row is None else int(row[0])


def _bot_states(store: LedgerStore) -> dict[str, tuple[bool, set[str]]]:
    """Per bot: has an open position, and the directions it has PENDING or EXECUTING."""
    opened = {
        r[0]
        for r in store.run(
            lambda c: c.execute("SELECT bot_id FROM positions WHERE status = 'OPEN'").fetchall()
        )
    }
    waiting: dict[str, set[str]] = {}
    for bot_id, direction in store.run(
        lambda c: c.execute(
            "SELECT bot_id, direction FROM trade_queue WHERE status IN ('PENDING', 'EXECUTING')"
        ).fetchall()
    ):
        waiting.setdefault(bot_id, set()).add(direction)
    return {b: (b in opened, waiting.get(b, set())) for b in opened | set(waiting)}


def seed_burst(
    store: LedgerStore,
    bots: dict[str, str],
    burst: int,
    count: int,
    rng: random.Random,
) -> list[int]:
    """Signals for ``count`` random bots of ``bots`` (id → symbol): an entry for a flat bot,
    a CLOSE for a bot holding a position; bots with a trade already in flight are skipped."""
    states = _bot_states(store)
    ids = []
    for bot_id in rng.sample(sorted(bots), min(count, len(bots))):
        holding, waiting = states.get(bot_id, (False, set()))
        if waiting:
            continue
        direction = "CLOSE" if holding else "LONG"
        cid = f"bb-ch{burst:03d}-{bot_id}"[:36]
        row = enqueue(store, bot_id, bots[bot_id], direction, cid)
        if row is not None:
            ids.append(row)
    return ids


def queue_counts(store: LedgerStore) -> dict[str, int]:
    """Rows per status."""
    rows = store.run(
        lambda c: c.execute("SELECT status, count(*) FROM trade_queue GROUP BY status").fetchall()
    )
    return {str(s): int(n) for s, n in rows}


def open_rows(store: LedgerStore) -> int:
    """Rows not yet in a terminal state."""
    counts = queue_counts(store)
    return sum(n for s, n in counts.items() if s not in TERMINAL)


def terminal_rows(store: LedgerStore) -> int:
    """Rows in a terminal state."""
    return sum(n for s, n in queue_counts(store).items() if s in TERMINAL)


def rows(store: LedgerStore, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """A query's result as dicts."""

    def work(conn: Any) -> list[dict[str, Any]]:
        cur = conn.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    return store.run(work)
