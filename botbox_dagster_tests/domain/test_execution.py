"""The execution model: order sides, P&L arithmetic, stop loss and take profit triggers."""

from datetime import UTC, datetime

import pytest

from botbox_dagster.domain.execution import (
    OpenPosition,
    QueueRow,
    Side,
    entry_side,
    exit_side,
    realized_pnl,
    stop_or_target_hit,
    unrealized_pnl,
)


def position(direction: str, stop: float | None = 95.0, target: float | None = 110.0):
    if direction == "SHORT" and stop == 95.0 and target == 110.0:
        stop, target = 105.0, 90.0
    return OpenPosition(1, "b1", "BTC/USDT", direction, 2.0, 100.0, stop, target, 0.2)


def test_sides() -> None:
    assert entry_side("LONG") is Side.BUY and exit_side("LONG") is Side.SELL
    assert entry_side("SHORT") is Side.SELL and exit_side("SHORT") is Side.BUY


def test_realized_pnl_subtracts_both_legs_fees() -> None:
    # Long 2 @ 100 → 110: +20 gross, minus 0.2 entry fee and 0.22 exit fee.
    assert realized_pnl("LONG", 2.0, 100.0, 110.0, 0.2 + 0.22) == pytest.approx(19.58)
    # Short 2 @ 100 → 110: -20 gross and the fees on top.
    assert realized_pnl("SHORT", 2.0, 100.0, 110.0, 0.42) == pytest.approx(-20.42)
    assert realized_pnl("SHORT", 2.0, 100.0, 90.0, 0.0) == pytest.approx(20.0)


def test_unrealized_pnl_has_no_fees() -> None:
    assert unrealized_pnl("LONG", 2.0, 100.0, 97.5) == pytest.approx(-5.0)
    assert unrealized_pnl("SHORT", 2.0, 100.0, 97.5) == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("direction", "low", "high", "expected"),
    [
        ("LONG", 96.0, 104.0, None),
        ("LONG", 95.0, 104.0, ("stop loss", 95.0)),  # touching is enough
        ("LONG", 96.0, 110.0, ("take profit", 110.0)),
        ("LONG", 90.0, 120.0, ("stop loss", 95.0)),  # both touched: the stop wins
        ("SHORT", 96.0, 104.0, None),
        ("SHORT", 96.0, 105.0, ("stop loss", 105.0)),
        ("SHORT", 90.0, 104.0, ("take profit", 90.0)),
        ("SHORT", 80.0, 120.0, ("stop loss", 105.0)),
    ],
)
def test_stop_or_target_hit(direction, low, high, expected) -> None:
    assert stop_or_target_hit(position(direction), low, high) == expected


def test_no_levels_never_trigger() -> None:
    assert stop_or_target_hit(position("LONG", None, None), 1.0, 1e9) is None


def test_queue_row_close_flag() -> None:
    now = datetime.now(UTC)
    fields = (1, "b1", None, "paper", "BTC/USDT", "CLOSE", None, None, None, 1.0, "PENDING", 0)
    row = QueueRow.from_row((*fields, "cid", None, None, now, now, None, None))
    assert row.is_close and row.client_order_id == "cid"
