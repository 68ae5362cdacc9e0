"""Ledger retention on a real DuckDB file: what goes, what stays, and the Parquet archive.

The fixture's rows and their ages are chosen by hand; every expected count below follows from
it. The archive is read back with DuckDB and compared with the rows as they were before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.services.retention import RetentionPolicy, prune_ledger
from botbox_dagster_tests.support.seed import add_queue_row, add_signal, add_trade
from botbox_dagster_tests.support.trading import flat_bars, rows_of

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NEVER_PRUNED = ("trade_queue", "orders", "fills", "positions", "bots", "paper_balances")


def add_call(store: LedgerStore, at: datetime, purpose: str = "fetch_ohlcv") -> None:
    store.run(
        lambda c: c.execute(
            "INSERT INTO exchange_calls (account, purpose, weight, outcome, detail, called_at) "
            "VALUES ('paper', ?, 2, 'ok', NULL, ?)",
            [purpose, at],
        )
    )


def add_bars(store: LedgerStore, last_open: datetime, n: int, timeframe: str = "1m") -> None:
    frame = flat_bars(last_open, [100.0 + i for i in range(n)])
    if timeframe != "1m":
        step = {"5m": 5, "1h": 60}[timeframe]
        frame.index = pd.date_range(
            last_open - timedelta(minutes=step * (n - 1)), periods=n, freq=f"{step}min", tz="UTC"
        )
    store.upsert_candles("paper", "BTC/USDT", timeframe, frame, source="test", now=last_open)


def add_slot(store: LedgerStore, slot: datetime, status: str = "DONE") -> None:
    store.run(
        lambda c: c.execute(
            "INSERT INTO minute_slots (slot, status, run_id, started_at, finished_at, "
            "updated_at) VALUES (?, ?, 'run-1', ?, ?, ?)",
            [slot, status, slot, slot + timedelta(seconds=20), slot + timedelta(seconds=20)],
        )
    )


def link(store: LedgerStore, signal_id: int, queue_id: int) -> None:
    store.run(
        lambda c: c.execute(
            "UPDATE trade_queue SET signal_id = ? WHERE id = ?", [signal_id, queue_id]
        )
    )


def add_fill(store: LedgerStore, at: datetime) -> None:
    store.run(
        lambda c: c.execute(
            "INSERT INTO fills (order_id, bot_id, exchange, symbol, side, amount, price, fee, "
            "fee_currency, trade_key, filled_at) SELECT id, bot_id, exchange, symbol, side, "
            "amount, price, 0.1, 'USDT', 'paper-' || client_order_id, ? FROM orders",
            [at],
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    """Signals: 2 untraded ones past 7 days (on two days), 1 traded one past 7 days, 1 untraded
    one exactly 7 days old, 1 from yesterday. Exchange calls: 3 past 7 days (2 on one day), 2
    recent. Candles: 10 one-minute bars 31 days old, 10 from the last hour, 5 hourly bars 40
    days old. Minute slots: 2 eight days old, 1 from the last minute. An old closed trade
    (queue row, order, fill, position)."""
    s = LedgerStore(tmp_path / "ledger.duckdb")
    add_signal(s, "bot-a", "REJECTED", at=NOW - 10 * DAY, reason="regime")
    add_signal(s, "bot-b", "REJECTED", at=NOW - 8 * DAY, reason="data too old")
    traded = add_signal(s, "bot-a", "EXECUTED", at=NOW - 9 * DAY)
    add_signal(s, "bot-a", "REJECTED", at=NOW - 7 * DAY, reason="at the cutoff")
    add_signal(s, "bot-b", "REJECTED", at=NOW - DAY, reason="recent")
    link(s, traded, add_queue_row(s, "bot-a", "FILLED", created=NOW - 9 * DAY))
    for at in (NOW - 9 * DAY, NOW - 9 * DAY + timedelta(hours=1), NOW - 8 * DAY):
        add_call(s, at)
    for at in (NOW - DAY, NOW):
        add_call(s, at)
    add_bars(s, NOW - 31 * DAY, 10)
    add_bars(s, NOW - timedelta(minutes=1), 10)
    add_bars(s, NOW - 40 * DAY, 5, timeframe="1h")
    add_slot(s, NOW - 8 * DAY)
    add_slot(s, NOW - 8 * DAY + timedelta(minutes=1), status="SKIPPED")
    add_slot(s, NOW - timedelta(minutes=1))
    add_trade(s, "bot-a", opened=NOW - 60 * DAY, closed=NOW - 59 * DAY, exit_price=101.0)
    add_fill(s, NOW - 60 * DAY)
    return s


def snapshot(store: LedgerStore, table: str) -> list[dict[str, Any]]:
    return rows_of(store, f"SELECT * FROM {table} ORDER BY ALL")


def read_parquet(*paths: Path) -> list[dict[str, Any]]:
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        files = ", ".join(f"'{p}'" for p in paths)
        cur = conn.execute(f"SELECT * FROM read_parquet([{files}]) ORDER BY ALL")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_old_rows_are_archived_then_deleted_and_the_rest_is_untouched(
    store: LedgerStore, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    untouched = {t: snapshot(store, t) for t in NEVER_PRUNED}
    assert len(untouched["trade_queue"]) == 2 and len(untouched["fills"]) == 1
    signals_gone = rows_of(
        store, "SELECT * FROM signals WHERE reason IN ('regime', 'data too old') ORDER BY ALL"
    )
    calls_gone = rows_of(
        store, "SELECT * FROM exchange_calls WHERE called_at < ? ORDER BY ALL", [NOW - 7 * DAY]
    )
    bars_gone = rows_of(
        store,
        "SELECT * FROM candles WHERE timeframe = '1m' AND open_time < ? ORDER BY ALL",
        [NOW - 30 * DAY],
    )
    slots_gone = rows_of(
        store, "SELECT * FROM minute_slots WHERE slot < ? ORDER BY ALL", [NOW - 7 * DAY]
    )
    assert (len(signals_gone), len(calls_gone), len(bars_gone), len(slots_gone)) == (2, 3, 10, 2)

    results = {r.table: r for r in prune_ledger(store, RetentionPolicy(), archive, NOW)}

    assert {t: r.rows_deleted for t, r in results.items()} == {
        "signals": 2,
        "exchange_calls": 3,
        "candles": 10,
        "minute_slots": 2,
    }
    assert {t: r.rows_kept for t, r in results.items()} == {
        "signals": 3,
        "exchange_calls": 2,
        "candles": 15,
        "minute_slots": 1,
    }
    assert results["signals"].oldest_kept == NOW - 9 * DAY  # the traded one
    # the first of the five hourly bars: longer timeframes are never pruned
    assert results["candles"].oldest_kept == NOW - 40 * DAY - timedelta(hours=4)
    days = {t: sorted(p.name for p in r.archive_files) for t, r in results.items()}
    assert days == {
        "signals": ["2026-11-24.parquet", "2026-11-26.parquet"],
        "exchange_calls": ["2026-11-25.parquet", "2026-11-26.parquet"],
        "candles": ["2026-11-03.parquet"],
        "minute_slots": ["2026-11-26.parquet"],
    }
    assert read_parquet(*results["signals"].archive_files) == signals_gone
    assert read_parquet(*results["exchange_calls"].archive_files) == calls_gone
    assert read_parquet(*results["candles"].archive_files) == bars_gone
    assert read_parquet(*results["minute_slots"].archive_files) == slots_gone
    assert sorted(p.name for p in (archive / "signals").iterdir()) == days["signals"]  # no tmp
    for table, rows in untouched.items():
        assert snapshot(store, table) == rows, table
    reasons = {r["reason"] for r in rows_of(store, "SELECT reason FROM signals")}
    assert reasons == {None, "at the cutoff", "recent"}

    again = prune_ledger(store, RetentionPolicy(), archive, NOW)
    assert [r.rows_deleted for r in again] == [0, 0, 0, 0]
    assert read_parquet(*results["signals"].archive_files) == signals_gone


def test_a_second_pass_on_the_same_day_appends_to_its_archive(
    store: LedgerStore, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    prune_ledger(store, RetentionPolicy(), archive, NOW)
    add_call(store, NOW - 8 * DAY + timedelta(minutes=5), purpose="create_order")
    [_, calls, _, _] = prune_ledger(store, RetentionPolicy(), archive, NOW)
    assert calls.rows_deleted == 1
    rows = read_parquet(archive / "exchange_calls" / "2026-11-26.parquet")
    assert [r["purpose"] for r in rows] == ["fetch_ohlcv", "create_order"]


def test_bars_an_open_position_still_has_to_scan_are_kept(store: LedgerStore) -> None:
    """An open position whose stop scan stopped 32 days ago keeps every bar after that."""
    add_bars(store, NOW - 33 * DAY, 5)
    store.run(
        lambda c: c.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "status, open_key, opened_at, scanned_to) VALUES ('bot-c', 'paper', 'BTC/USDT', "
            "'LONG', 1.0, 100.0, 'OPEN', 'bot-c|BTC/USDT', ?, ?)",
            [NOW - 35 * DAY, NOW - 32 * DAY],
        )
    )
    result = store.prune_candles(NOW - 30 * DAY, Path(store.path.parent / "archive"))
    assert result.cutoff == NOW - 32 * DAY
    assert result.rows_deleted == 5  # the 33-day-old bars; the 31-day-old ones stay


def test_only_the_prunable_tables_can_be_pruned(store: LedgerStore, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        store._archive_and_delete("orders", "created_at < ?", [], NOW, tmp_path)
    with pytest.raises(ValueError, match="candles_1m_days must be at least 1"):
        prune_ledger(store, RetentionPolicy(candles_1m_days=0.5), tmp_path, NOW)
