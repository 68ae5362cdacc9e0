"""The fill model: market prices with spread and slippage, and the bar scan for stops and targets.

Every expected value is written down by hand from the bars in the table, as a trader would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botbox_dagster.domain.execution import OpenPosition, Side
from botbox_dagster.domain.fills import Bar, ExitHit, FillModel, fresh_reference, scan_exit

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def bars(*rows: tuple[float, float, float, float]) -> list[Bar]:
    """1m bars from (open, high, low, close), the first opening at T0."""
    return [Bar(T0 + timedelta(minutes=i), *r) for i, r in enumerate(rows)]


def position(direction: str, stop: float | None, target: float | None) -> OpenPosition:
    return OpenPosition(1, "b1", "BTC/USDT", direction, 1.0, 100.0, stop, target, 0.1)


def test_a_market_order_pays_half_the_spread_and_the_slippage() -> None:
    model = FillModel(spread_bps=4.0, slippage_bps=5.0, fee_bps=10.0)
    # 2 bps (half of 4) + 5 bps = 7 bps against the trader: 100 -> 100.07 buying, 99.93 selling.
    assert model.market_price(Side.BUY, 100.0) == pytest.approx(100.07)
    assert model.market_price(Side.SELL, 100.0) == pytest.approx(99.93)
    assert model.fee(1000.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="slippage_bps"):
        FillModel(slippage_bps=-1.0)


# Stop 95, target 110 on a long; each case: the bars, and the exit a trader writes down.
LONG_CASES = [
    ("untouched", [(100, 104, 96, 101)], None),
    ("range touches the stop", [(100, 101, 94, 96)], ("stop loss", 95.0, 0)),
    (
        "opens through the stop: fills at the open",
        [(90, 92, 88, 91)],
        ("stop loss (gap at the open)", 90.0, 0),
    ),
    ("range touches the target", [(100, 111, 99, 108)], ("take profit", 110.0, 0)),
    (
        "opens above the target: fills at the open",
        [(112, 113, 111, 112)],
        ("take profit (gap at the open)", 112.0, 0),
    ),
    ("touches both: the stop wins", [(100, 120, 80, 100)], ("stop loss", 95.0, 0)),
    # A catch-up of three bars: the stop was touched in the first, not in the newest.
    (
        "earliest bar first",
        [(100, 101, 94, 99), (99, 102, 97, 100), (100, 111, 99, 109)],
        ("stop loss", 95.0, 0),
    ),
    (
        "later bar",
        [(100, 101, 96, 99), (99, 102, 97, 100), (100, 111, 99, 109)],
        ("take profit", 110.0, 2),
    ),
]


@pytest.mark.parametrize(("name", "rows", "expected"), LONG_CASES, ids=[c[0] for c in LONG_CASES])
def test_long_exits(name: str, rows: list, expected: tuple | None) -> None:
    hit = scan_exit(position("LONG", 95.0, 110.0), bars(*rows))
    if expected is None:
        assert hit is None
    else:
        reason, price, index = expected
        assert hit == ExitHit(reason, price, T0 + timedelta(minutes=index))


def test_short_exits_mirror_the_long_ones() -> None:
    short = position("SHORT", 105.0, 90.0)
    assert scan_exit(short, bars((100, 106, 99, 104))) == ExitHit("stop loss", 105.0, T0)
    assert scan_exit(short, bars((108, 109, 107, 108))) == ExitHit(
        "stop loss (gap at the open)", 108.0, T0
    )
    assert scan_exit(short, bars((100, 101, 89, 92))) == ExitHit("take profit", 90.0, T0)
    assert scan_exit(short, bars((100, 120, 80, 100))) == ExitHit("stop loss", 105.0, T0)
    assert scan_exit(position("SHORT", None, None), bars((100, 1e9, 1e-9, 100))) is None


def test_a_price_is_fresh_only_while_its_bar_closed_recently() -> None:
    bar = Bar(T0, 100.0, 101.0, 99.0, 100.5)  # a 5m bar closing at 12:05
    fresh = timedelta(seconds=300)
    assert fresh_reference(bar, 300, T0 + timedelta(minutes=10), fresh) == 100.5  # 5 min old
    assert fresh_reference(bar, 300, T0 + timedelta(minutes=10, seconds=1), fresh) is None
    assert fresh_reference(None, 300, T0, fresh) is None


@st.composite
def bar_paths(draw: st.DrawFn) -> list[Bar]:
    """Random walks of 1..30 bars: each opens near the previous close (gaps included)."""
    n = draw(st.integers(1, 30))
    price = 100.0
    out = []
    for i in range(n):
        open_ = price * (1 + draw(st.floats(-0.08, 0.08)))
        close = open_ * (1 + draw(st.floats(-0.08, 0.08)))
        high = max(open_, close) * (1 + draw(st.floats(0, 0.05)))
        low = min(open_, close) * (1 - draw(st.floats(0, 0.05)))
        out.append(Bar(T0 + timedelta(minutes=i), open_, high, low, close))
        price = close
    return out


@settings(max_examples=300, deadline=None)
@given(
    path=bar_paths(),
    direction=st.sampled_from(["LONG", "SHORT"]),
    stop_pct=st.one_of(st.none(), st.floats(0.005, 0.2)),
    target_pct=st.one_of(st.none(), st.floats(0.005, 0.2)),
)
def test_no_exit_outside_its_bar_and_no_stop_skipped(
    path: list[Bar], direction: str, stop_pct: float | None, target_pct: float | None
) -> None:
    long = direction == "LONG"
    stop = None if stop_pct is None else 100.0 * (1 - stop_pct if long else 1 + stop_pct)
    target = None if target_pct is None else 100.0 * (1 + target_pct if long else 1 - target_pct)
    hit = scan_exit(position(direction, stop, target), path)

    def reached(bar: Bar) -> bool:  # the bar's range reached the stop or the target
        lo, hi = bar.low, bar.high
        hits_stop = stop is not None and (lo <= stop if long else hi >= stop)
        hits_target = target is not None and (hi >= target if long else lo <= target)
        return hits_stop or hits_target

    if hit is None:
        assert not any(reached(b) for b in path)
        return
    [bar] = [b for b in path if b.open_time == hit.bar_time]
    assert bar.low <= hit.price <= bar.high  # the fill lies inside the bar it fills in
    assert reached(bar)
    assert not any(reached(b) for b in path if b.open_time < hit.bar_time)  # none skipped
    if hit.reason.startswith("stop loss") and stop is not None:
        # A stop never fills better than its trigger (a gap fills worse, at the open).
        assert hit.price <= stop if long else hit.price >= stop
