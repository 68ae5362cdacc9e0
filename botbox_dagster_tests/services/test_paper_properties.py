"""Properties of paper trading through the real executor, position monitor and ledger.

For random bar sequences and a random entry with a stop and a target (hypothesis): the cash of
the paper venue ends at the starting balance plus the realized P&L (after fees); no fill price
lies outside the bar it fills in (less the slippage); and no stop or target is ever skipped.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botbox_dagster.adapters.exchanges.paper import PaperSettings
from botbox_dagster.domain import timeframes
from botbox_dagster.services.position_monitor import monitor_positions
from botbox_dagster_tests.support.trading import (
    enqueue,
    make_executor,
    make_store,
    paper_bot,
    table,
)

SLIP = 5 / 10_000
# The freshness rule is tested elsewhere; here bars may lie minutes away from the wall clock.
PAPER = PaperSettings(fee_bps=10.0, slippage_bps=5.0, max_price_age_seconds=10**9)
CAPITAL = 1000.0


@st.composite
def walks(draw: st.DrawFn) -> list[tuple[float, float, float, float]]:
    n = draw(st.integers(3, 16))
    price, out = 100.0, []
    for _ in range(n):
        open_ = price * (1 + draw(st.floats(-0.06, 0.06)))
        close = open_ * (1 + draw(st.floats(-0.06, 0.06)))
        high = max(open_, close) * (1 + draw(st.floats(0, 0.04)))
        low = min(open_, close) * (1 - draw(st.floats(0, 0.04)))
        out.append((open_, high, low, close))
        price = close
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=walks(),
    entry_at=st.integers(0, 2),
    stop_pct=st.floats(0.01, 0.1),
    target_pct=st.floats(0.01, 0.1),
)
def test_paper_cash_fills_and_stops(
    path: list[tuple[float, float, float, float]],
    entry_at: int,
    stop_pct: float,
    target_pct: float,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), [paper_bot("b1", capital=CAPITAL)])
        store.run(lambda c: c.execute("DELETE FROM candles"))
        # Bars up to the entry's end in the current minute; the fill happens now (wall clock).
        # The bars after it open from the minute after the fill's, which the monitor scans
        # first: placed from the fill's real time, so a minute rolling over meanwhile cannot
        # shift them into the fill's own (unscanned) bar.
        starts = {
            k: timeframes.floor(datetime.now(UTC), "1m") - timedelta(minutes=entry_at - k)
            for k in range(entry_at + 1)
        }

        def store_bar(k: int) -> datetime:
            o, h, lo, c = path[k]
            frame = pd.DataFrame(
                {"open": [o], "high": [h], "low": [lo], "close": [c], "volume": [1.0]},
                index=pd.DatetimeIndex([starts[k]]),
            )
            store.upsert_candles("paper", "BTC/USDT", "1m", frame, source="test")
            return starts[k] + timedelta(minutes=1)  # when bar k closes

        fills_at: dict[int, int] = {}  # fill id -> index of the bar it filled in

        def execute(k: int, run: str) -> None:
            make_executor(store, paper=PAPER, run_id=run).run()
            for f in table(store, "fills"):
                fills_at.setdefault(f["id"], k)

        for k in range(entry_at + 1):
            store_bar(k)
        reference = path[entry_at][3]
        stop, target = reference * (1 - stop_pct), reference * (1 + target_pct)
        enqueue(store, "b1", size=1.0, stop_loss=stop, take_profit=target)
        execute(entry_at, "entry")
        [opened] = table(store, "positions")
        fill_bar = timeframes.floor(opened["opened_at"], "1m")
        for k in range(entry_at + 1, len(path)):
            starts[k] = fill_bar + timedelta(minutes=k - entry_at)
        # The position's own bar is not scanned (its fill came at its close).
        for k in range(entry_at + 1, len(path)):
            closed_at = store_bar(k)
            monitor_positions(store, "paper", closed_at)
            execute(k, f"bar-{k}")
        if store.open_position("b1", "BTC/USDT") is not None:
            enqueue(store, "b1", "CLOSE", size=opened["amount"])
            execute(len(path) - 1, "final")

        [position] = table(store, "positions")
        assert position["status"] == "CLOSED"
        [balance] = table(store, "paper_balances")
        # Cash: the starting balance plus the realized P&L, which is net of both fees.
        assert abs(balance["balance"] - (CAPITAL + position["realized_pnl"])) < 1e-9

        for f in table(store, "fills"):
            _, high, low, _ = path[fills_at[f["id"]]]
            slipped = f["price"] / (1 + SLIP) if f["side"] == "buy" else f["price"] / (1 - SLIP)
            assert low - 1e-9 <= slipped <= high + 1e-9, (f, path[fills_at[f["id"]]])

        # No stop or target skipped: the exit came no later than the first bar after the
        # entry's bar whose range reached either.
        reached = [
            k for k in range(entry_at + 1, len(path)) if path[k][2] <= stop or path[k][1] >= target
        ]
        exit_fill = max(table(store, "fills"), key=lambda f: f["id"])
        if reached:
            assert fills_at[exit_fill["id"]] == reached[0]
            assert position["exit_reason"].startswith(("stop loss", "take profit"))
        else:
            assert position["exit_reason"] not in ("stop loss", "take profit")
