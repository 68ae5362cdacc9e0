"""``trade_queue`` → ``orders``/``fills``/``positions``: the writes of an execution run.

Every state change of a queue row is one short transaction guarded by the row's current status
(``WHERE status = 'EXECUTING'``...), so two processes can never both move a row, and a fill is
recorded (order, fills, position, queue row, signal) atomically: a crash leaves either nothing or
everything, and the next run reconciles an EXECUTING row by asking the venue for its client
order id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botbox_dagster.domain.execution import (
    QUEUE_COLUMNS,
    OpenPosition,
    OrderResult,
    QueueRow,
    realized_pnl,
    unrealized_pnl,
)

POSITION_COLUMNS = (
    "id, bot_id, symbol, direction, amount, entry_price, stop_loss, take_profit, fees"
)


def _rows(conn: Any, sql: str, params: list[Any]) -> list[QueueRow]:
    return [QueueRow.from_row(r) for r in conn.execute(sql, params).fetchall()]


def _order(rows: list[QueueRow]) -> list[QueueRow]:
    """CLOSE rows first (they protect capital), then oldest first."""
    return sorted(rows, key=lambda r: (not r.is_close, r.created_at, r.id))


class ExecutionTables:
    """Queue claiming, fills and positions. Mixed into :class:`LedgerStore`."""

    run: Any

    def expire_pending(self, exchange: str, now: datetime) -> list[QueueRow]:
        """PENDING entries past their TTL become EXPIRED (CLOSE rows never expire)."""
        return self.run(
            lambda c: _rows(
                c,
                "UPDATE trade_queue SET status = 'EXPIRED', pending_key = NULL, updated_at = ?, "
                "reason = 'not executed within its time to live (' || "
                "CAST(date_diff('second', created_at, expires_at) AS VARCHAR) || ' s)' "
                "WHERE exchange = ? AND status = 'PENDING' AND direction <> 'CLOSE' "
                f"AND expires_at < ? RETURNING {QUEUE_COLUMNS}",
                [now, exchange, now],
            )
        )

    def executing_rows(self, exchange: str) -> list[QueueRow]:
        return self.run(
            lambda c: _rows(
                c,
                f"SELECT {QUEUE_COLUMNS} FROM trade_queue WHERE exchange = ? "
                "AND status = 'EXECUTING' ORDER BY id",
                [exchange],
            )
        )

    def claim_rows(
        self, exchange: str, run_id: str, now: datetime, limit: int, *, closes_only: bool = False
    ) -> list[QueueRow]:
        """Atomically move up to ``limit`` due PENDING rows to EXECUTING for this run.

        ``closes_only`` (fleet paused) leaves entries untouched: claiming and releasing them
        would change their ``updated_at`` and so the sensor's run key on every tick.
        """

        def work(conn: Any) -> list[QueueRow]:
            return _order(
                _rows(
                    conn,
                    "UPDATE trade_queue SET status = 'EXECUTING', run_id = ?, updated_at = ? "
                    "WHERE status = 'PENDING' AND id IN (SELECT id FROM trade_queue "
                    "WHERE exchange = ? AND status = 'PENDING' "
                    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
                    "AND (NOT ? OR direction = 'CLOSE') "
                    "ORDER BY priority, created_at, id LIMIT ?) "
                    f"RETURNING {QUEUE_COLUMNS}",
                    [run_id, now, exchange, now, closes_only, limit],
                )
            )

        return self.run(work)

    def requeue(
        self, row: QueueRow, reason: str, next_attempt_at: datetime | None, now: datetime
    ) -> bool:
        """EXECUTING → PENDING after a transient error (one more attempt counted)."""
        return bool(
            self.run(
                lambda c: c.execute(
                    "UPDATE trade_queue SET status = 'PENDING', attempts = attempts + 1, "
                    "reason = ?, next_attempt_at = ?, run_id = NULL, updated_at = ? "
                    "WHERE id = ? AND status = 'EXECUTING' RETURNING id",
                    [reason, next_attempt_at, now, row.id],
                ).fetchone()
            )
        )

    def requeue_ambiguous(self, row: QueueRow, reason: str, now: datetime) -> bool:
        """Keep the row EXECUTING but owned by no run: the next run looks it up before sending."""
        return bool(
            self.run(
                lambda c: c.execute(
                    "UPDATE trade_queue SET run_id = 'ambiguous', reason = ?, updated_at = ? "
                    "WHERE id = ? AND status = 'EXECUTING' RETURNING id",
                    [reason, now, row.id],
                ).fetchone()
            )
        )

    def release(self, row: QueueRow, reason: str, now: datetime) -> bool:
        """EXECUTING → PENDING without counting an attempt (nothing was sent)."""
        return bool(
            self.run(
                lambda c: c.execute(
                    "UPDATE trade_queue SET status = 'PENDING', reason = ?, run_id = NULL, "
                    "updated_at = ? WHERE id = ? AND status = 'EXECUTING' RETURNING id",
                    [reason, now, row.id],
                ).fetchone()
            )
        )

    def finish(
        self, row: QueueRow, status: str, reason: str, now: datetime, *, attempt: bool = True
    ) -> bool:
        """EXECUTING/PENDING → FAILED, CANCELLED or EXPIRED with a reason."""

        def work(conn: Any) -> bool:
            done = conn.execute(
                "UPDATE trade_queue SET status = ?, reason = ?, pending_key = NULL, "
                "attempts = attempts + ?, updated_at = ? "
                "WHERE id = ? AND status IN ('EXECUTING', 'PENDING') RETURNING id",
                [status, reason, 1 if attempt else 0, now, row.id],
            ).fetchone()
            if done and row.signal_id is not None:
                conn.execute(
                    "UPDATE signals SET reason = coalesce(reason, '') || ?, updated_at = ? WHERE id = ?",
                    [f" | trade {status.lower()}: {reason}", now, row.signal_id],
                )
            return bool(done)

        return self.run(work)

    def open_position(self, bot_id: str, symbol: str) -> OpenPosition | None:
        row = self.run(
            lambda c: c.execute(
                f"SELECT {POSITION_COLUMNS} FROM positions WHERE open_key = ?",
                [f"{bot_id}|{symbol}"],
            ).fetchone()
        )
        return None if row is None else OpenPosition(*row)

    def record_fill(
        self, row: QueueRow, result: OrderResult, *, mode: str, now: datetime
    ) -> dict[str, Any]:
        """Record a filled order and its effect on the position, and mark the row FILLED.

        Idempotent: the order is keyed by client order id and each fill by its trade key, so a
        reconciliation that finds an order already recorded changes nothing twice.
        """

        def work(conn: Any) -> dict[str, Any]:
            order_id = conn.execute(
                "INSERT INTO orders (queue_id, bot_id, exchange, symbol, side, order_type, amount, "
                "price, status, client_order_id, exchange_order_id, filled, average_price, fee, "
                "fee_currency, mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'market', ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_order_id) DO UPDATE SET "
                "queue_id = excluded.queue_id, status = excluded.status, "
                "exchange_order_id = excluded.exchange_order_id, filled = excluded.filled, "
                "average_price = excluded.average_price, fee = excluded.fee, "
                "fee_currency = excluded.fee_currency, updated_at = excluded.updated_at "
                "RETURNING id",
                [
                    row.id,
                    row.bot_id,
                    row.exchange,
                    row.symbol,
                    result.side.value,
                    result.amount,
                    result.average_price,
                    result.status,
                    result.client_order_id,
                    result.exchange_order_id,
                    result.filled,
                    result.average_price,
                    result.fee,
                    result.fee_currency,
                    mode,
                    now,
                    now,
                ],
            ).fetchone()[0]
            for fill in result.fills:
                conn.execute(
                    "INSERT INTO fills (order_id, bot_id, exchange, symbol, side, amount, price, "
                    "fee, fee_currency, trade_key, filled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (trade_key) DO NOTHING",
                    [
                        order_id,
                        row.bot_id,
                        row.exchange,
                        row.symbol,
                        result.side.value,
                        fill.amount,
                        fill.price,
                        fill.fee,
                        result.fee_currency,
                        fill.trade_key,
                        now,
                    ],
                )
            effect = self._apply_to_position(conn, row, result, int(order_id), now)
            conn.execute(
                "UPDATE trade_queue SET status = 'FILLED', order_id = ?, pending_key = NULL, "
                "reason = ?, updated_at = ? WHERE id = ? AND status IN ('EXECUTING', 'PENDING')",
                [result.exchange_order_id, effect["reason"], now, row.id],
            )
            if row.signal_id is not None:
                conn.execute(
                    "UPDATE signals SET status = 'EXECUTED', updated_at = ? WHERE id = ?",
                    [now, row.signal_id],
                )
            return {"order_id": int(order_id), **effect}

        return self.run(work)

    @staticmethod
    def _apply_to_position(
        conn: Any, row: QueueRow, result: OrderResult, order_id: int, now: datetime
    ) -> dict[str, Any]:
        key = f"{row.bot_id}|{row.symbol}"
        price = float(result.average_price or 0.0)
        current = conn.execute(
            f"SELECT {POSITION_COLUMNS} FROM positions WHERE open_key = ?", [key]
        ).fetchone()
        if row.is_close:
            if current is None:
                return {"reason": "filled; no open position was left to close", "position_id": None}
            pos = OpenPosition(*current)
            fees = pos.fees + result.fee
            pnl = realized_pnl(pos.direction, pos.amount, pos.entry_price, price, fees)
            conn.execute(
                "UPDATE positions SET status = 'CLOSED', open_key = NULL, exit_order_id = ?, "
                "exit_price = ?, exit_reason = ?, fees = ?, realized_pnl = ?, unrealized_pnl = 0, "
                "mark_price = ?, marked_at = ?, closed_at = ? WHERE id = ?",
                [order_id, price, row.reason or "exit", fees, pnl, price, now, now, pos.id],
            )
            return {
                "reason": f"closed position {pos.id}, realized P&L {pnl:+.8g}",
                "position_id": pos.id,
                "realized_pnl": pnl,
            }
        if current is not None:
            pos = OpenPosition(*current)
            return {"reason": f"filled; position {pos.id} was already open", "position_id": pos.id}
        position_id = conn.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "stop_loss, take_profit, status, open_key, entry_order_id, fees, unrealized_pnl, "
            "mark_price, marked_at, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, 0, ?, ?, ?) "
            "RETURNING id",
            [
                row.bot_id,
                row.exchange,
                row.symbol,
                row.direction,
                result.filled,
                price,
                row.stop_loss,
                row.take_profit,
                key,
                order_id,
                result.fee,
                price,
                now,
                now,
            ],
        ).fetchone()[0]
        return {"reason": f"opened position {position_id}", "position_id": int(position_id)}

    def mark_positions(self, exchange: str, now: datetime) -> int:
        """Mark every open position of an exchange to its market's newest close."""

        def work(conn: Any) -> int:
            rows = conn.execute(
                "SELECT p.id, p.direction, p.amount, p.entry_price, c.close FROM positions p "
                "JOIN (SELECT symbol, arg_max(close, open_time) AS close FROM candles "
                "WHERE exchange = ? AND timeframe = '1m' GROUP BY symbol) c ON c.symbol = p.symbol "
                "WHERE p.exchange = ? AND p.status = 'OPEN'",
                [exchange, exchange],
            ).fetchall()
            for pid, direction, amount, entry, close in rows:
                conn.execute(
                    "UPDATE positions SET mark_price = ?, unrealized_pnl = ?, marked_at = ? WHERE id = ?",
                    [close, unrealized_pnl(direction, amount, entry, close), now, pid],
                )
            return len(rows)

        return self.run(work)

    def positions_with_latest_bar(
        self, exchange: str
    ) -> list[tuple[OpenPosition, float, float, datetime]]:
        """Open positions with the low/high of their market's newest closed 1m bar."""
        rows = self.run(
            lambda c: c.execute(
                f"SELECT {', '.join('p.' + col.strip() for col in POSITION_COLUMNS.split(','))}, "
                "b.low, b.high, b.open_time FROM positions p JOIN (SELECT symbol, "
                "arg_max(low, open_time) AS low, arg_max(high, open_time) AS high, "
                "max(open_time) AS open_time FROM candles WHERE exchange = ? AND timeframe = '1m' "
                "GROUP BY symbol) b ON b.symbol = p.symbol "
                "WHERE p.exchange = ? AND p.status = 'OPEN' AND b.open_time >= date_trunc('minute', p.opened_at)",
                [exchange, exchange],
            ).fetchall()
        )
        return [(OpenPosition(*r[:9]), float(r[9]), float(r[10]), r[11]) for r in rows]

    def enqueue_close(
        self,
        position: OpenPosition,
        exchange: str,
        reason: str,
        price: float,
        client_order_id: str,
        now: datetime,
        ttl_seconds: float = 300.0,
    ) -> int | None:
        """Queue a CLOSE for a position (priority over entries); None if one is already queued."""
        from datetime import timedelta

        row = self.run(
            lambda c: c.execute(
                "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, entry_price, "
                "position_size, status, attempts, client_order_id, reason, pending_key, priority, "
                "created_at, updated_at, expires_at) VALUES (?, ?, ?, 'CLOSE', ?, ?, 'PENDING', 0, ?, ?, "
                "?, 0, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                [
                    position.bot_id,
                    exchange,
                    position.symbol,
                    price,
                    position.amount,
                    client_order_id,
                    reason,
                    f"{position.bot_id}|{position.symbol}|CLOSE",
                    now,
                    now,
                    now + timedelta(seconds=ttl_seconds),
                ],
            ).fetchone()
        )
        return None if row is None else int(row[0])

    def pending_accounts(self, now: datetime) -> dict[str, dict[str, Any]]:
        """Per exchange: rows due for execution and a fingerprint of the batch (sensor input)."""
        rows = self.run(
            lambda c: c.execute(
                "SELECT exchange, count(*) FILTER (WHERE status = 'PENDING'), "
                "count(*) FILTER (WHERE status = 'EXECUTING'), max(id), "
                "CAST(epoch_ms(max(updated_at)) AS BIGINT) FROM trade_queue "
                "WHERE (status = 'PENDING' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)) "
                "OR status = 'EXECUTING' GROUP BY exchange",
                [now],
            ).fetchall()
        )
        return {
            r[0]: {
                "pending": int(r[1]),
                "executing": int(r[2]),
                "max_id": int(r[3]),
                "stamp": int(r[4]),
            }
            for r in rows
        }
