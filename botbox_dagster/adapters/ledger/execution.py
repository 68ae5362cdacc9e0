"""``trade_queue`` → ``orders``/``fills``/``positions``: the writes of an execution run.

Every state change of a queue row is one short transaction guarded by the row's current status,
and the guard is written from the state table (``domain/order_states.py``) by
:func:`status_guard`: a change the table forbids raises ``IllegalTransition`` before anything is
written, and a row found in a state from which the change is illegal (not just moved to a
terminal state by another process, which is a lost race and returns False) raises too. Two
processes can never both move a row, and a fill is
recorded (order, fills, position, queue row, signal) atomically: a crash leaves either nothing or
everything, and the next run reconciles an EXECUTING row by asking the venue for its client
order id.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from botbox_dagster.domain import timeframes
from botbox_dagster.domain.client_order_id import follow_up_client_order_id
from botbox_dagster.domain.execution import (
    QUEUE_COLUMNS,
    TERMINAL_ORDER_STATUSES,
    Fill,
    FillDelta,
    OpenPosition,
    OrderResult,
    QueueRow,
    base_received,
    closed_part_pnl,
    decimal_sum,
    fee_in_quote,
    fill_delta,
    unrealized_pnl,
)
from botbox_dagster.domain.fills import Bar
from botbox_dagster.domain.order_states import (
    QUEUE_TRANSITIONS,
    QueueStatus,
    is_terminal,
    transition,
)
from botbox_dagster.domain.timeframes import base_timeframe_of

POSITION_COLUMNS = (
    "id, bot_id, symbol, direction, amount, entry_price, stop_loss, take_profit, fees"
)


def _rows(conn: Any, sql: str, params: list[Any]) -> list[QueueRow]:
    return [QueueRow.from_row(r) for r in conn.execute(sql, params).fetchall()]


def _order(rows: list[QueueRow]) -> list[QueueRow]:
    """CLOSE rows first (they protect capital), then oldest first."""
    return sorted(rows, key=lambda r: (not r.is_close, r.created_at, r.id))


ACTIVE = (QueueStatus.PENDING, QueueStatus.EXECUTING)


def status_guard(target: QueueStatus | str, among: tuple[QueueStatus, ...] = ACTIVE) -> str:
    """``status IN (...)``: the statuses in ``among`` from which the table allows ``target``.

    Raises ``IllegalTransition`` when none of them does: a write the table forbids never runs.
    """
    target = QueueStatus(target)
    sources = [s for s in among if target in QUEUE_TRANSITIONS[s]]
    if not sources:
        transition(among[0], target)  # raises, naming the table's rule
    return "status IN (" + ", ".join(f"'{s.value}'" for s in sources) + ")"


def check_missed(conn: Any, row_id: int, target: QueueStatus | str) -> None:
    """After a guarded update matched nothing: a row that is not terminal yet could not make
    this move at all, which is a bug, not a race; raise ``IllegalTransition`` for it."""
    found = conn.execute("SELECT status FROM trade_queue WHERE id = ?", [row_id]).fetchone()
    if found is None:
        return
    current = QueueStatus(found[0])
    if not is_terminal(current):
        transition(current, QueueStatus(target))


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
                f"WHERE exchange = ? AND {status_guard('EXPIRED', (QueueStatus.PENDING,))} "
                f"AND direction <> 'CLOSE' AND expires_at < ? RETURNING {QUEUE_COLUMNS}",
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

    def queue_row(self, row_id: int) -> QueueRow | None:
        rows = self.run(
            lambda c: _rows(c, f"SELECT {QUEUE_COLUMNS} FROM trade_queue WHERE id = ?", [row_id])
        )
        return rows[0] if rows else None

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
                    f"WHERE {status_guard('EXECUTING', (QueueStatus.PENDING,))} "
                    "AND id IN (SELECT id FROM trade_queue "
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
                    "reason = ?, next_attempt_at = ?, run_id = NULL, updated_at = ?, sent_at = NULL, "
                    f"send_mode = NULL WHERE id = ? AND {status_guard('PENDING')} RETURNING id",
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

    def release(
        self, row: QueueRow, reason: str, now: datetime, next_attempt_at: datetime | None = None
    ) -> bool:
        """EXECUTING → PENDING without counting an attempt (nothing was sent)."""
        return bool(
            self.run(
                lambda c: c.execute(
                    "UPDATE trade_queue SET status = 'PENDING', reason = ?, run_id = NULL, "
                    "next_attempt_at = ?, sent_at = NULL, send_mode = NULL, updated_at = ? "
                    f"WHERE id = ? AND {status_guard('PENDING')} RETURNING id",
                    [reason, next_attempt_at, now, row.id],
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
                f"attempts = attempts + ?, updated_at = ? WHERE id = ? AND {status_guard(status)} "
                "RETURNING id",
                [status, reason, 1 if attempt else 0, now, row.id],
            ).fetchone()
            if not done:
                check_missed(conn, row.id, status)
            if done and row.signal_id is not None:
                conn.execute(
                    "UPDATE signals SET reason = coalesce(reason, '') || ?, updated_at = ? WHERE id = ?",
                    [f" | trade {status.lower()}: {reason}", now, row.signal_id],
                )
            return bool(done)

        return self.run(work)

    def close_as_dust(
        self, row: QueueRow, position: OpenPosition, price: float, why: str, now: datetime
    ) -> float | None:
        """A CLOSE for less than the market lets anyone sell: the position ends as dust, valued
        at ``price`` (its P&L counts what it is worth, though no order can sell it), and the row
        is CANCELLED. Returns the realized P&L, or None when the row had moved on."""

        def work(conn: Any) -> float | None:
            done = conn.execute(
                "UPDATE trade_queue SET status = 'CANCELLED', reason = ?, pending_key = NULL, "
                f"updated_at = ? WHERE id = ? AND {status_guard('CANCELLED')} RETURNING id",
                [f"dust: {why}; position {position.id} closed as dust", now, row.id],
            ).fetchone()
            if not done:
                return None
            before = conn.execute(
                "SELECT coalesce(realized_so_far, 0), coalesce(open_fees, fees) FROM positions "
                "WHERE id = ? AND status = 'OPEN'",
                [position.id],
            ).fetchone()
            if before is None:
                return None
            pnl = (
                float(before[0])
                + unrealized_pnl(position.direction, position.amount, position.entry_price, price)
                - float(before[1])
            )
            conn.execute(
                "UPDATE positions SET status = 'CLOSED', open_key = NULL, exit_price = ?, "
                "exit_reason = ?, realized_pnl = ?, realized_so_far = ?, open_fees = 0, "
                "unrealized_pnl = 0, mark_price = ?, marked_at = ?, closed_at = ? WHERE id = ?",
                [
                    price,
                    f"dust ({position.amount:g} left unsold)",
                    pnl,
                    pnl,
                    price,
                    now,
                    now,
                    position.id,
                ],
            )
            return pnl

        return self.run(work)

    def open_position(self, bot_id: str, symbol: str) -> OpenPosition | None:
        row = self.run(
            lambda c: c.execute(
                f"SELECT {POSITION_COLUMNS} FROM positions WHERE open_key = ?",
                [f"{bot_id}|{symbol}"],
            ).fetchone()
        )
        return None if row is None else OpenPosition(*row)

    def open_positions_of(self, bot_id: str) -> list[tuple[str, OpenPosition]]:
        """A bot's open positions with their exchange accounts, oldest first."""
        rows = self.run(
            lambda c: c.execute(
                f"SELECT exchange, {POSITION_COLUMNS} FROM positions "
                "WHERE bot_id = ? AND status = 'OPEN' ORDER BY id",
                [bot_id],
            ).fetchall()
        )
        return [(str(r[0]), OpenPosition(*r[1:])) for r in rows]

    def mark_sent(self, row: QueueRow, mode: str, now: datetime) -> bool:
        """Record that the order request is about to leave, and in which mode.

        Written before the request, so that a crash at any later point leaves a row that says
        "this order may be at the venue": recovery then settles it from the venue's records and
        never sends it again blindly.
        """
        return bool(
            self.run(
                lambda c: c.execute(
                    "UPDATE trade_queue SET sent_at = ?, send_mode = ?, updated_at = ? "
                    "WHERE id = ? AND status = 'EXECUTING' RETURNING id",
                    [now, mode, now, row.id],
                ).fetchone()
            )
        )

    def resend_close(self, row: QueueRow, client_order_id: str, reason: str, now: datetime) -> bool:
        """EXECUTING → PENDING under a new client order id (a CLOSE the venue never showed).

        Safe only for a CLOSE: its amount is taken from what the venue holds when it is sent,
        so if the first send did sell, the resend finds nothing left to sell.
        """
        return bool(
            self.run(
                lambda c: c.execute(
                    "UPDATE trade_queue SET status = 'PENDING', client_order_id = ?, sent_at = NULL, "
                    "send_mode = NULL, attempts = attempts + 1, reason = ?, run_id = NULL, "
                    f"updated_at = ? WHERE id = ? AND {status_guard('PENDING')} RETURNING id",
                    [client_order_id, reason, now, row.id],
                ).fetchone()
            )
        )

    def record_fill(
        self, row: QueueRow, result: OrderResult, *, mode: str, now: datetime
    ) -> dict[str, Any]:
        """Record the venue's answer about a row's order and apply what newly filled.

        Idempotent: the order is keyed by client order id, each fill by its trade key, and the
        position takes only the part of the order it has not taken before (``applied_*``), so an
        order read again (reconciled, followed from NEW to FILLED) changes nothing twice. A
        terminal order finishes the row (FILLED if anything filled, else FAILED); an open one
        (NEW, PARTIALLY_FILLED) leaves the row in flight, to be followed by the next run. A CLOSE
        that ended with part of the position still held queues a CLOSE for the rest.
        """

        def work(conn: Any) -> dict[str, Any]:
            order_id, applied = self._upsert_order(conn, row, result, mode, now)
            delta = fill_delta(result, *applied)
            for fill in result.fills or self._synthetic_fill(row, result, delta):
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
            effect: dict[str, Any] = {"reason": "nothing new filled", "position_id": None}
            if delta is not None:
                effect = self._apply_to_position(conn, row, result, delta, order_id, now)
                conn.execute(
                    "UPDATE orders SET applied_filled = ?, applied_cost = ?, applied_fee = ? "
                    "WHERE id = ?",
                    [
                        result.filled,
                        applied[1] + delta.cost,
                        applied[2] + delta.fee,
                        order_id,
                    ],
                )
            terminal = result.status in TERMINAL_ORDER_STATUSES
            if not terminal:
                reason = (
                    f"order {result.exchange_order_id} {result.status} at the venue, "
                    f"{result.filled:g} of {result.amount:g} filled; followed until it ends"
                )
                conn.execute(
                    "UPDATE trade_queue SET run_id = 'ambiguous', order_id = ?, reason = ?, "
                    "updated_at = ? WHERE id = ? AND status = 'EXECUTING'",
                    [result.exchange_order_id, reason, now, row.id],
                )
                return {"order_id": order_id, "terminal": False, **effect, "reason": reason}
            filled_any = result.filled > 0
            if result.filled < result.amount and filled_any:
                effect["reason"] += (
                    f" ({result.filled:g} of {result.amount:g} filled, order {result.status})"
                )
            status = "FILLED" if filled_any else "FAILED"
            reason = (
                effect["reason"]
                if filled_any
                else (f"order {result.exchange_order_id} ended {result.status} with nothing filled")
            )
            if result.note:
                reason += f": {result.note}"
            moved = conn.execute(
                "UPDATE trade_queue SET status = ?, order_id = ?, pending_key = NULL, "
                f"reason = ?, updated_at = ? WHERE id = ? AND {status_guard(status)} RETURNING id",
                [status, result.exchange_order_id, reason, now, row.id],
            ).fetchone()
            if not moved:
                check_missed(conn, row.id, status)
            if row.signal_id is not None and filled_any:
                conn.execute(
                    "UPDATE signals SET status = 'EXECUTED', updated_at = ? WHERE id = ?",
                    [now, row.signal_id],
                )
            rest = None
            if row.is_close and effect.get("remaining"):
                rest = self._queue_close_rest(conn, row, effect["remaining"], now)
            return {
                "order_id": order_id,
                "terminal": True,
                **effect,
                "reason": reason,
                "rest_queue_id": rest,
            }

        return self.run(work)

    @staticmethod
    def _upsert_order(
        conn: Any, row: QueueRow, result: OrderResult, mode: str, now: datetime
    ) -> tuple[int, tuple[float, float, float]]:
        found = conn.execute(
            "INSERT INTO orders (queue_id, bot_id, exchange, symbol, side, order_type, amount, "
            "price, status, client_order_id, exchange_order_id, filled, average_price, fee, "
            "fee_currency, mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'market', ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_order_id) DO UPDATE SET "
            "queue_id = excluded.queue_id, status = excluded.status, "
            "exchange_order_id = excluded.exchange_order_id, filled = excluded.filled, "
            "average_price = excluded.average_price, fee = excluded.fee, "
            "fee_currency = excluded.fee_currency, updated_at = excluded.updated_at "
            "RETURNING id, coalesce(applied_filled, 0), coalesce(applied_cost, 0), "
            "coalesce(applied_fee, 0)",
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
        ).fetchone()
        return int(found[0]), (float(found[1]), float(found[2]), float(found[3]))

    @staticmethod
    def _synthetic_fill(
        row: QueueRow, result: OrderResult, delta: FillDelta | None
    ) -> tuple[Fill, ...]:
        """One fill per new part when the venue reported no trades (keyed by cumulative fill)."""
        if delta is None:
            return ()
        key = f"{row.exchange}-{result.exchange_order_id}-{result.filled:.12g}"
        return (Fill(delta.amount, delta.price, delta.fee, key),)

    @staticmethod
    def _queue_close_rest(conn: Any, row: QueueRow, remaining: float, now: datetime) -> int | None:
        cid = follow_up_client_order_id(row.client_order_id, f"rest-{remaining:.12g}")
        found = conn.execute(
            "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, entry_price, "
            "position_size, status, attempts, client_order_id, reason, pending_key, priority, "
            "created_at, updated_at, expires_at) VALUES (?, ?, ?, 'CLOSE', ?, ?, 'PENDING', 0, ?, "
            "?, ?, 0, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            [
                row.bot_id,
                row.exchange,
                row.symbol,
                row.entry_price,
                remaining,
                cid,
                f"rest of CLOSE #{row.id}: {remaining:g} still held",
                f"{row.bot_id}|{row.symbol}|CLOSE",
                now,
                now,
                row.expires_at if row.expires_at > now else now + (row.expires_at - row.created_at),
            ],
        ).fetchone()
        return None if found is None else int(found[0])

    @staticmethod
    def _apply_to_position(
        conn: Any,
        row: QueueRow,
        result: OrderResult,
        delta: FillDelta,
        order_id: int,
        now: datetime,
    ) -> dict[str, Any]:
        key = f"{row.bot_id}|{row.symbol}"
        price = delta.price
        fee_quote, fee_note = fee_in_quote(delta.fee, result.fee_currency, row.symbol, price)
        note = f"; {fee_note}" if fee_note else ""
        current = conn.execute(
            f"SELECT {POSITION_COLUMNS}, entry_order_id, coalesce(realized_so_far, 0), "
            "coalesce(open_fees, fees) "
            "FROM positions WHERE open_key = ?",
            [key],
        ).fetchone()
        if row.is_close:
            if current is None:
                return {
                    "reason": f"filled; no open position was left to close{note}",
                    "position_id": None,
                }
            # Charged pro rata: the entry fees not yet charged to an earlier part.
            pos = replace(OpenPosition(*current[:9]), fees=float(current[11]))
            realized_before = float(current[10])
            closed = base_received(
                result.side, delta.amount, delta.fee, result.fee_currency, row.symbol
            )
            closed = min(closed, pos.amount)
            part, entry_fees = closed_part_pnl(pos, closed, price, fee_quote)
            remaining = decimal_sum(pos.amount, -closed)
            # Fully filled means the venue sold all that was meant to be sold: what the
            # position held, or all the venue still had of it (fit to the market's step).
            if result.status == "FILLED" or remaining <= pos.amount * 1e-9:
                # What is left is dust below the market's step: the position ends here and
                # carries all its remaining entry fees.
                part, _ = closed_part_pnl(replace(pos, amount=closed), closed, price, fee_quote)
                pnl = realized_before + part
                conn.execute(
                    "UPDATE positions SET status = 'CLOSED', open_key = NULL, exit_order_id = ?, "
                    "exit_price = ?, exit_reason = ?, fees = fees + ?, realized_pnl = ?, "
                    "realized_so_far = ?, open_fees = 0, unrealized_pnl = 0, mark_price = ?, marked_at = ?, "
                    "closed_at = ? WHERE id = ?",
                    [
                        order_id,
                        price,
                        row.reason or "exit",
                        fee_quote,
                        pnl,
                        pnl,
                        price,
                        now,
                        now,
                        pos.id,
                    ],
                )
                return {
                    "reason": f"closed position {pos.id}, realized P&L {pnl:+.8g}{note}",
                    "position_id": pos.id,
                    "realized_pnl": pnl,
                }
            conn.execute(
                "UPDATE positions SET amount = ?, open_fees = ?, fees = fees + ?, "
                "realized_so_far = ?, mark_price = ?, marked_at = ? WHERE id = ?",
                [
                    remaining,
                    pos.fees - entry_fees,
                    fee_quote,
                    realized_before + part,
                    price,
                    now,
                    pos.id,
                ],
            )
            return {
                "reason": (
                    f"closed {closed:g} of position {pos.id} (P&L {part:+.8g}), "
                    f"{remaining:g} still open{note}"
                ),
                "position_id": pos.id,
                "remaining": remaining,
            }
        held = base_received(result.side, delta.amount, delta.fee, result.fee_currency, row.symbol)
        if current is not None:
            pos = OpenPosition(*current[:9])
            if current[9] != order_id:
                return {
                    "reason": f"filled; position {pos.id} was already open{note}",
                    "position_id": pos.id,
                }
            amount = decimal_sum(pos.amount, held)
            entry = (pos.entry_price * pos.amount + price * held) / amount
            conn.execute(
                "UPDATE positions SET amount = ?, entry_price = ?, fees = fees + ?, "
                "open_fees = coalesce(open_fees, fees) + ? WHERE id = ?",
                [amount, entry, fee_quote, fee_quote, pos.id],
            )
            return {
                "reason": f"position {pos.id} now holds {amount:g}{note}",
                "position_id": pos.id,
            }
        position_id = conn.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "stop_loss, take_profit, status, open_key, entry_order_id, fees, open_fees, "
            "unrealized_pnl, mark_price, marked_at, opened_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, 0, ?, ?, ?) "
            "RETURNING id",
            [
                row.bot_id,
                row.exchange,
                row.symbol,
                row.direction,
                held,
                price,
                row.stop_loss,
                row.take_profit,
                key,
                order_id,
                fee_quote,
                fee_quote,
                price,
                now,
                now,
            ],
        ).fetchone()[0]
        return {
            "reason": f"opened position {position_id}{note}",
            "position_id": int(position_id),
        }

    def base_timeframes(self, exchange: str) -> dict[str, str]:
        """Per symbol of an exchange: its base timeframe, the finest one stored for it."""
        rows = self.run(
            lambda c: c.execute(
                "SELECT DISTINCT symbol, timeframe FROM candles WHERE exchange = ?", [exchange]
            ).fetchall()
        )
        return base_timeframe_of(rows)

    def newest_bar(self, exchange: str, symbol: str) -> tuple[str, Bar] | None:
        """The newest stored bar of a market's base timeframe, with that timeframe."""
        tf = self.base_timeframes(exchange).get(symbol)
        if tf is None:
            return None
        row = self.run(
            lambda c: c.execute(
                "SELECT open_time, open, high, low, close, volume FROM candles "
                "WHERE exchange = ? AND symbol = ? AND timeframe = ? "
                "ORDER BY open_time DESC LIMIT 1",
                [exchange, symbol, tf],
            ).fetchone()
        )
        return None if row is None else (tf, Bar(*row))

    def mark_positions(self, exchange: str, now: datetime) -> int:
        """Mark every open position of an exchange to the newest close of its market's base
        timeframe."""
        base = self.base_timeframes(exchange)

        def work(conn: Any) -> int:
            marked = 0
            rows = conn.execute(
                "SELECT id, symbol, direction, amount, entry_price FROM positions "
                "WHERE exchange = ? AND status = 'OPEN'",
                [exchange],
            ).fetchall()
            for pid, symbol, direction, amount, entry in rows:
                if symbol not in base:
                    continue
                newest = conn.execute(
                    "SELECT close FROM candles WHERE exchange = ? AND symbol = ? AND timeframe = ? "
                    "ORDER BY open_time DESC LIMIT 1",
                    [exchange, symbol, base[symbol]],
                ).fetchone()
                close = float(newest[0])
                conn.execute(
                    "UPDATE positions SET mark_price = ?, unrealized_pnl = ?, marked_at = ? WHERE id = ?",
                    [close, unrealized_pnl(direction, amount, entry, close), now, pid],
                )
                marked += 1
            return marked

        return self.run(work)

    def bars_to_scan(self, exchange: str, now: datetime) -> list[tuple[OpenPosition, list[Bar]]]:
        """Open positions with every closed bar of their market's base timeframe not yet
        scanned for their stop and target: after the bar the position was filled in (its prices
        came before the fill) and after the newest bar scanned before, oldest first."""
        base = self.base_timeframes(exchange)

        def work(conn: Any) -> list[tuple[OpenPosition, list[Bar]]]:
            columns = ", ".join("p." + col.strip() for col in POSITION_COLUMNS.split(","))
            positions = conn.execute(
                f"SELECT {columns}, p.opened_at, p.scanned_to FROM positions p "
                "WHERE p.exchange = ? AND p.status = 'OPEN' ORDER BY p.id",
                [exchange],
            ).fetchall()
            out = []
            for r in positions:
                position, opened_at, scanned_to = OpenPosition(*r[:9]), r[9], r[10]
                tf = base.get(position.symbol)
                if tf is None:
                    continue
                first = timeframes.floor(opened_at, tf) + timeframes.delta(tf)
                if scanned_to is not None:
                    first = max(first, scanned_to + timeframes.delta(tf))
                bars = conn.execute(
                    "SELECT open_time, open, high, low, close FROM candles WHERE exchange = ? "
                    "AND symbol = ? AND timeframe = ? AND open_time >= ? AND open_time <= ? "
                    "ORDER BY open_time",
                    [exchange, position.symbol, tf, first, now - timeframes.delta(tf)],
                ).fetchall()
                out.append((position, [Bar(*b) for b in bars]))
            return out

        return self.run(work)

    def failed_exits(self, exchange: str) -> list[tuple[OpenPosition, str, str, int]]:
        """Open positions whose last exit queued by the monitor (a stop or target CLOSE, or a
        retry of one: CLOSE rows without a signal) FAILED and that have no CLOSE waiting:
        (position, that row's reason, its client order id, how many such rows failed). Their
        exit is still owed."""
        columns = ", ".join("p." + col.strip() for col in POSITION_COLUMNS.split(","))
        rows = self.run(
            lambda c: c.execute(
                f"SELECT {columns}, arg_max(q.reason, q.id), arg_max(q.client_order_id, q.id), "
                "count(*) FROM positions p JOIN trade_queue q ON q.bot_id = p.bot_id "
                "AND q.symbol = p.symbol AND q.direction = 'CLOSE' AND q.signal_id IS NULL "
                "AND q.created_at >= p.opened_at "
                "WHERE p.exchange = ? AND p.status = 'OPEN' AND q.status = 'FAILED' "
                "AND NOT EXISTS (SELECT 1 FROM trade_queue w "
                "WHERE w.bot_id = p.bot_id AND w.symbol = p.symbol AND w.direction = 'CLOSE' "
                "AND w.status IN ('PENDING', 'EXECUTING')) "
                f"GROUP BY {columns} ORDER BY p.id",
                [exchange],
            ).fetchall()
        )
        return [(OpenPosition(*r[:9]), str(r[9] or ""), str(r[10]), int(r[11])) for r in rows]

    def set_scanned_to(self, position_id: int, open_time: datetime) -> None:
        """The newest bar scanned for a position's stop and target."""
        self.run(
            lambda c: c.execute(
                "UPDATE positions SET scanned_to = ? WHERE id = ? AND "
                "(scanned_to IS NULL OR scanned_to < ?)",
                [open_time, position_id, open_time],
            )
        )

    def enqueue_close(
        self,
        position: OpenPosition,
        exchange: str,
        reason: str,
        price: float | None,
        client_order_id: str,
        now: datetime,
        ttl_seconds: float = 300.0,
    ) -> int | None:
        """Queue a CLOSE for a position (priority over entries) that triggered at ``price``;
        None if one is already queued."""
        from datetime import timedelta

        row = self.run(
            lambda c: c.execute(
                "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, entry_price, "
                "trigger_price, position_size, status, attempts, client_order_id, reason, "
                "pending_key, priority, created_at, updated_at, expires_at) VALUES (?, ?, ?, "
                "'CLOSE', ?, ?, ?, 'PENDING', 0, ?, ?, ?, 0, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                [
                    position.bot_id,
                    exchange,
                    position.symbol,
                    price,
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
                "count(*) FILTER (WHERE status = 'PENDING' AND direction = 'CLOSE'), "
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
                "closes": int(r[4]),
                "stamp": int(r[5]),
            }
            for r in rows
        }
