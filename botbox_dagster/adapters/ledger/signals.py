"""``signals`` and ``trade_queue`` writes of the signal tick, and the reads it needs.

- Claiming: one ``UPDATE bots SET last_check_at = ? ... WHERE last_check_at < <slot start>
  RETURNING`` per check interval, batched over all due bots. It is an optimistic lock: a tick
  that overlaps another either sees the moved ``last_check_at`` or meets a write conflict,
  is retried whole by the connector, and then claims nothing. The returned rows, with their
  strategies read in the same transaction, are the configuration snapshot the tick uses.
- Recording: :meth:`SignalTables.commit_signals` reads the state the verdict depends on
  (statuses, pause, breakers, account limits and market types, positions, queued rows), lets
  the caller's ``decide`` judge, and writes signals (``ON CONFLICT (signal_hash) DO NOTHING``)
  and accepted rows (PENDING, ``pending_key`` set so the database keeps one PENDING row per
  bot, symbol and direction) in that same transaction, so no other tick can slip a position
  in between.

Rows are inserted set-based from a registered frame (a statement per row costs ~3 ms). The
unique columns written are never NULL: DuckDB 2.0 drops rows of a multi-row ``INSERT ... ON
CONFLICT DO NOTHING`` that share a NULL in a unique column.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from botbox_dagster.adapters.ledger.bots import BOT_COLUMNS, _bot_from_row
from botbox_dagster.adapters.ledger.controls import PAUSE_ALL
from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.bots import CHECK_INTERVALS
from botbox_dagster.domain.risk import Exposure
from botbox_dagster.domain.signals import QUEUE_TTL, ClaimedBot, Signal, Verdict, slot_start
from botbox_dagster.domain.strategy import StrategySpec
from botbox_dagster.domain.strategy_config import parse_strategy
from botbox_dagster.domain.tick import LedgerView, OpenPositionRow
from botbox_dagster.domain.timeframes import delta
from botbox_dagster.domain.validation import breaker_is_open, pause_active

Decide = Callable[[LedgerView], list[Verdict]]
_SPECS: dict[tuple[str, str], StrategySpec] = {}


@dataclass(frozen=True)
class CommitResult:
    """What :meth:`SignalTables.commit_signals` decided and wrote."""

    verdicts: list[Verdict]
    signal_ids: dict[str, int]  # signal hash -> id, for signals written now
    queue_ids: dict[str, int]  # signal hash -> trade_queue id
    duplicates: list[str] = field(default_factory=list)  # hashes already logged before

    @property
    def queue_rows_written(self) -> int:
        return len(self.queue_ids)


def _spec(conn: Any, strategy_id: str) -> StrategySpec:
    row = conn.execute(
        "SELECT spec, config_hash FROM strategies WHERE id = ?", [strategy_id]
    ).fetchone()
    if row is None:
        raise LookupError(f"strategy {strategy_id!r} is not in the ledger")
    key = (strategy_id, row[1])
    if key not in _SPECS:
        _SPECS[key] = parse_strategy(json.loads(row[0]), f"ledger strategy {strategy_id!r}")
    return _SPECS[key]


def _claimed(conn: Any, rows: Iterable[tuple[Any, ...]]) -> list[ClaimedBot]:
    venues = dict(conn.execute("SELECT account, venue FROM exchange_accounts").fetchall())
    out = []
    for row in rows:
        bot_row = _bot_from_row(row)
        bot = bot_row.bot
        spec = _spec(conn, bot.strategy)
        out.append(ClaimedBot(bot, spec, bot_row.config_hash, venues.get(bot.exchange, "")))
    return out


def _insert_frame(
    conn: Any, table: str, frame: pd.DataFrame, conflict: str, returning: str
) -> list[tuple[Any, ...]]:
    """INSERT every row of ``frame`` (columns named as the table's), skipping conflicts.

    Only for frames whose unique columns are never NULL: DuckDB 2.0 drops rows of one
    statement that share a NULL in a unique column.
    """
    name = f"incoming_{table}"
    conn.register(name, frame)
    try:
        columns = ", ".join(frame.columns)
        return conn.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {name} "
            f"{conflict} DO NOTHING RETURNING {returning}"
        ).fetchall()
    finally:
        conn.unregister(name)


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


class SignalTables:
    """Due-bot claims, signal and trade-queue writes. Mixed into :class:`LedgerStore`."""

    run: Any

    def claim_due_bots(self, now: datetime) -> list[ClaimedBot]:
        """Atomically claim every ACTIVE bot whose check slot began since its last check."""

        def work(conn: Any) -> list[ClaimedBot]:
            rows: list[tuple[Any, ...]] = []
            for minutes in CHECK_INTERVALS:
                rows += conn.execute(
                    "UPDATE bots SET last_check_at = ? WHERE status = 'ACTIVE' "
                    "AND check_interval_minutes = ? "
                    "AND (last_check_at IS NULL OR last_check_at < ?) "
                    f"RETURNING {BOT_COLUMNS}",
                    [now, minutes, slot_start(now, minutes)],
                ).fetchall()
            return _claimed(conn, sorted(rows))

        return self.run(work)

    def bot_snapshot(self, bot_id: str) -> ClaimedBot | None:
        """A bot's configuration and strategy, without claiming it (``check_bot_job``)."""

        def work(conn: Any) -> list[ClaimedBot]:
            rows = conn.execute(f"SELECT {BOT_COLUMNS} FROM bots WHERE id = ?", [bot_id]).fetchall()
            return _claimed(conn, rows)

        found = self.run(work)
        return found[0] if found else None

    def read_market_candles(
        self, requests: Iterable[tuple[str, str, str]], *, end: datetime, bars: int
    ) -> dict[tuple[str, str, str], pd.DataFrame]:
        """The newest ``bars`` closed bars at ``end`` of each (exchange, symbol, timeframe)."""
        requests = sorted(set(requests))

        def work(conn: Any) -> dict[tuple[str, str, str], pd.DataFrame]:
            out = {}
            for exchange, symbol, tf in requests:
                last_open = end - delta(tf)
                frame = conn.execute(
                    "SELECT open_time, open, high, low, close, volume FROM candles "
                    "WHERE exchange = ? AND symbol = ? AND timeframe = ? "
                    "AND open_time <= ? AND open_time > ? ORDER BY open_time",
                    [exchange, symbol, tf, last_open, last_open - delta(tf) * (2 * bars)],
                ).df()
                frame = frame.tail(bars).set_index("open_time")
                frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
                out[(exchange, symbol, tf)] = frame
            return out

        return self.run(work) if requests else {}

    def recent_closes(
        self, markets: Iterable[tuple[str, str]], *, timeframe: str, bars: int, end: datetime
    ) -> dict[tuple[str, str], pd.Series]:
        """Close prices of the newest ``bars`` closed bars per market (for correlations)."""
        frames = self.read_market_candles(
            [(ex, sym, timeframe) for ex, sym in markets], end=end, bars=bars
        )
        return {(ex, sym): f["close"] for (ex, sym, _tf), f in frames.items() if not f.empty}

    def open_positions(self, bot_ids: Sequence[str]) -> dict[str, OpenPositionRow]:
        """The OPEN position of each of these bots (a bot holds at most one per symbol)."""
        if not bot_ids:
            return {}
        rows = self.run(
            lambda c: c.execute(
                "SELECT id, bot_id, exchange, symbol, direction, amount, entry_price, opened_at "
                f"FROM positions WHERE status = 'OPEN' AND bot_id IN ({_placeholders(len(bot_ids))}) "
                "ORDER BY opened_at",
                list(bot_ids),
            ).fetchall()
        )
        return {r[1]: OpenPositionRow(*r) for r in rows}

    def ledger_view(self, conn: Any, bot_ids: Sequence[str], now: datetime) -> LedgerView:
        """The state a verdict depends on, read on ``conn`` (inside the caller's transaction)."""
        statuses = {}
        exchanges: set[str] = set()
        if bot_ids:
            for bot_id, status, exchange in conn.execute(
                f"SELECT id, status, exchange FROM bots WHERE id IN ({_placeholders(len(bot_ids))})",
                list(bot_ids),
            ).fetchall():
                statuses[bot_id] = status
                exchanges.add(exchange)
        pause_row = conn.execute(
            "SELECT value FROM fleet_controls WHERE name = ?", [PAUSE_ALL]
        ).fetchone()
        paused = pause_active(json.loads(pause_row[0]) if pause_row else None, now)
        breakers = frozenset(
            ex
            for ex, state in conn.execute("SELECT exchange, state FROM circuit_breakers").fetchall()
            if breaker_is_open(json.loads(state), now)
        )
        account_max: dict[str, int] = {}
        market_types: dict[str, MarketType] = {}
        for account, config in conn.execute(
            "SELECT account, config FROM exchange_accounts"
        ).fetchall():
            settings = json.loads(config)
            account_max[account] = int(settings.get("max_open_positions", 50))
            market_types[account] = MarketType(settings.get("market_type", MarketType.SPOT))
        realized: dict[str, float] = {}
        if bot_ids:
            for bot_id, pnl in conn.execute(
                "SELECT bot_id, sum(CASE WHEN status = 'CLOSED' THEN coalesce(realized_pnl, 0) "
                "ELSE coalesce(realized_so_far, 0) END) FROM positions "
                f"WHERE bot_id IN ({_placeholders(len(bot_ids))}) GROUP BY bot_id",
                list(bot_ids),
            ).fetchall():
                realized[bot_id] = float(pnl or 0.0)
        book: list[Exposure] = []
        open_dirs: dict[str, set[str]] = defaultdict(set)
        pending_dirs: dict[str, set[str]] = defaultdict(set)
        if exchanges:
            marks = _placeholders(len(exchanges))
            for bot_id, exchange, symbol, direction, value in conn.execute(
                "SELECT bot_id, exchange, symbol, direction, amount * entry_price FROM positions "
                f"WHERE status = 'OPEN' AND exchange IN ({marks})",
                sorted(exchanges),
            ).fetchall():
                book.append(Exposure(bot_id, exchange, symbol, direction, float(value or 0.0)))
                open_dirs[bot_id].add(direction)
            for bot_id, exchange, symbol, direction, value in conn.execute(
                "SELECT bot_id, exchange, symbol, direction, "
                "position_size * coalesce(entry_price, 0) FROM trade_queue "
                f"WHERE status IN ('PENDING', 'EXECUTING') AND exchange IN ({marks})",
                sorted(exchanges),
            ).fetchall():
                pending_dirs[bot_id].add(direction)
                if direction != "CLOSE":
                    book.append(
                        Exposure(bot_id, exchange, symbol, direction, float(value or 0.0), True)
                    )
        return LedgerView(
            bot_statuses=statuses,
            paused=paused,
            open_breakers=breakers,
            account_max_open=account_max,
            book=tuple(book),
            open_directions={k: frozenset(v) for k, v in open_dirs.items()},
            pending_directions={k: frozenset(v) for k, v in pending_dirs.items()},
            account_market_types=market_types,
            realized_pnl=realized,
        )

    def commit_signals(
        self,
        signals: Sequence[Signal],
        decide: Decide,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        ttl: timedelta = QUEUE_TTL,
    ) -> CommitResult:
        """Judge ``signals`` against the ledger and record verdicts and queue rows atomically.

        ``dry_run``: judge only; nothing is written.
        """
        now = now or datetime.now(UTC)
        bot_ids = sorted({s.bot_id for s in signals})

        def work(conn: Any) -> CommitResult:
            verdicts = decide(self.ledger_view(conn, bot_ids, now))
            result = CommitResult(verdicts, {}, {})
            if dry_run:
                return result
            if verdicts:
                self._record(conn, verdicts, now, ttl, result)
            return result

        if not signals:
            return CommitResult([], {}, {})
        return self.run(work)

    @staticmethod
    def _record(
        conn: Any, verdicts: Sequence[Verdict], now: datetime, ttl: timedelta, result: CommitResult
    ) -> None:
        """Set-based inserts (a round trip per row costs ~3 ms on DuckDB): every signal, then
        the accepted ones' queue rows; both skip rows that already exist."""
        ts = pd.Timestamp(now)
        signals = pd.DataFrame(
            {
                "signal_hash": [v.signal.hash for v in verdicts],
                "bot_id": [v.signal.bot_id for v in verdicts],
                "strategy_id": [v.signal.strategy_id for v in verdicts],
                "exchange": [v.signal.exchange for v in verdicts],
                "symbol": [v.signal.symbol for v in verdicts],
                "timeframe": [v.signal.timeframe for v in verdicts],
                "direction": [v.signal.direction for v in verdicts],
                "candle_time": pd.DatetimeIndex([v.signal.candle_time for v in verdicts]),
                "price": pd.array([v.signal.price for v in verdicts], dtype="Float64"),
                "score": pd.array([v.signal.score for v in verdicts], dtype="Float64"),
                "contributions": [v.signal.contributions_json() for v in verdicts],
                "regime": [v.signal.regime for v in verdicts],
                "status": [v.status.value for v in verdicts],
                "reason": [v.reason if v.reason is not None else v.signal.reason for v in verdicts],
                "evaluated_at": ts,
                "updated_at": ts,
            }
        )
        ids = dict(
            (h, int(i))
            for i, h in _insert_frame(
                conn, "signals", signals, "ON CONFLICT (signal_hash)", "id, signal_hash"
            )
        )
        result.signal_ids.update(ids)
        result.duplicates.extend(h for h in signals["signal_hash"] if h not in ids)
        queued = [
            v
            for v in verdicts
            if v.accepted and v.signal.intent is not None and v.signal.hash in ids
        ]
        if not queued:
            return
        intents = [v.signal.intent for v in queued if v.signal.intent is not None]
        rows = pd.DataFrame(
            {
                "bot_id": [i.bot_id for i in intents],
                "signal_id": [ids[v.signal.hash] for v in queued],
                "exchange": [i.exchange for i in intents],
                "symbol": [i.symbol for i in intents],
                "direction": [i.direction for i in intents],
                "entry_price": pd.array([i.entry_price for i in intents], dtype="Float64"),
                "stop_loss": pd.array([i.stop_loss for i in intents], dtype="Float64"),
                "take_profit": pd.array([i.take_profit for i in intents], dtype="Float64"),
                "position_size": [i.position_size for i in intents],
                "status": "PENDING",
                "attempts": 0,
                "client_order_id": [i.client_order_id for i in intents],
                "reason": [v.signal.reason for v in queued],
                "pending_key": [i.pending_key for i in intents],
                "priority": [i.priority for i in intents],
                "created_at": ts,
                "updated_at": ts,
                "expires_at": pd.Timestamp(now + ttl),
            }
        )
        written = dict(
            (coid, int(i))
            for i, coid in _insert_frame(
                conn, "trade_queue", rows, "ON CONFLICT", "id, client_order_id"
            )
        )
        lost = []
        for v, intent in zip(queued, intents, strict=True):
            if intent.client_order_id in written:
                result.queue_ids[v.signal.hash] = written[intent.client_order_id]
            else:
                lost.append(ids[v.signal.hash])
        if lost:
            conn.execute(
                "UPDATE signals SET status = 'REJECTED', reason = 'duplicate: already queued', "
                f"updated_at = ? WHERE id IN ({_placeholders(len(lost))})",
                [now, *lost],
            )

    def recent_signals(
        self, *, bot_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest signals first, as dicts (contributions parsed)."""
        where, params = ("WHERE bot_id = ?", [bot_id]) if bot_id else ("", [])

        def work(conn: Any) -> list[dict[str, Any]]:
            cur = conn.execute(
                f"SELECT * FROM signals {where} ORDER BY id DESC LIMIT {int(limit)}", params
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        rows = self.run(work)
        for r in rows:
            r["contributions"] = json.loads(r["contributions"])
        return rows

    def queue_rows(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """trade_queue rows, CLOSE first then oldest (the order execution takes them)."""
        where, params = ("WHERE status = ?", [status]) if status else ("", [])

        def work(conn: Any) -> list[dict[str, Any]]:
            cur = conn.execute(
                f"SELECT * FROM trade_queue {where} ORDER BY priority, created_at, id", params
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        return self.run(work)
