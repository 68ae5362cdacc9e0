"""End to end: the demo fleet trades on paper by itself under the real Dagster daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster_tests.support.daemon import (
    flat_paper_bots,
    prepare_trading_demo,
    running_daemon,
    wait_until,
)


def _count(store: LedgerStore, sql: str) -> int:
    return int(store.run(lambda c: c.execute(sql).fetchone()[0]))


@pytest.mark.integration
def test_demo_fleet_trades_by_itself(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_trading_demo(home)
    store = LedgerStore(home / "botbox.duckdb")

    def traded_round_trips() -> bool:
        closed = _count(store, "SELECT count(*) FROM positions WHERE status = 'CLOSED'")
        filled = _count(store, "SELECT count(*) FROM trade_queue WHERE status = 'FILLED'")
        return closed >= 1 and filled >= 3

    with running_daemon(home):
        finished = wait_until(traded_round_trips, timeout=330, interval=5)
    log = (home / "daemon.log").read_text(errors="replace")
    assert finished, f"no round trip within the time limit; daemon log tail:\n{log[-3000:]}"

    # Trades went from signal to FILLED.
    filled_from_signals = _count(
        store,
        "SELECT count(*) FROM trade_queue q JOIN signals s ON s.id = q.signal_id "
        "WHERE q.status = 'FILLED' AND s.status = 'EXECUTED'",
    )
    assert filled_from_signals >= 1
    # Positions opened and closed, with realized P&L.
    assert (
        _count(
            store,
            "SELECT count(*) FROM positions WHERE status = 'CLOSED' AND realized_pnl IS NOT NULL",
        )
        >= 1
    )
    # No signal became two orders, counted at the paper venue (its cash per bot).
    flat_bots = flat_paper_bots(store)
    assert any(pnl != 0 for *_, pnl in flat_bots), flat_bots
    for bot_id, capital, balance, pnl in flat_bots:
        assert balance == pytest.approx(capital + pnl, abs=1e-9), bot_id
    # One queue row per signal, one order per row.
    assert (
        _count(
            store,
            "SELECT count(*) FROM (SELECT signal_id FROM trade_queue WHERE signal_id IS NOT NULL "
            "GROUP BY signal_id HAVING count(*) > 1)",
        )
        == 0
    )
    assert (
        _count(
            store,
            "SELECT count(*) FROM trade_queue q WHERE q.status = 'FILLED' AND "
            "(SELECT count(*) FROM orders o WHERE o.queue_id = q.id) <> 1",
        )
        == 0
    )
    # Every queue row is in a state that has a reason.
    assert (
        _count(store, "SELECT count(*) FROM trade_queue WHERE reason IS NULL OR reason = ''") == 0
    )
    statuses = {
        r[0]
        for r in store.run(
            lambda c: c.execute("SELECT DISTINCT status FROM trade_queue").fetchall()
        )
    }
    assert statuses <= {"PENDING", "EXECUTING", "FILLED", "FAILED", "EXPIRED", "CANCELLED"}
    # The candle refresh ran every minute through the schedule, without piling up.
    assert (
        _count(
            store,
            "SELECT count(DISTINCT open_time) FROM candles WHERE timeframe = '1m' AND open_time > now() - INTERVAL 10 MINUTE",
        )
        >= 2
    )
