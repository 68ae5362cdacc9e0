"""The fill model: how a simulated venue fills orders, the same for paper trading and backtests.

Market orders fill at the market's price at execution time: the close of the newest closed bar
of the market's base timeframe, never a price older than the order may wait (its TTL), moved
against the trader by half the spread and by the slippage. A price too old is no price: the
order waits, as it would at a venue that is not trading. With a volume cap, one order takes at
most that share of the bar's volume; the rest is not filled (the order ends EXPIRED with what
filled, as a market order that ran out of liquidity does at Binance), and an exit's rest is
queued again. Bars without volume (0 or missing) do not cap.

Stops and targets are scanned over **every** bar since the last scan, oldest first, at the
market's base timeframe, and only bars that opened after the position was filled (the fill's
own bar holds prices from before the fill). Inside one bar the order of events is:

1. the open: a bar that opens through the stop exits at the open (a gap is not free); one that
   opens through the target exits at the open too (a resting order fills at the better price);
2. then the range: when the bar's low/high touches both the stop and the target, the stop wins
   (the path inside a bar is unknown; the worse outcome keeps results honest), and the exit is
   at the trigger price.

The exit price a scan finds is what the CLOSE fills at (plus slippage): a stop order at a venue
fills where it triggers, not at a later price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from botbox_dagster.domain.execution import OpenPosition, Side


@dataclass(frozen=True)
class FillModel:
    """Costs of a simulated market order, in basis points of the price."""

    spread_bps: float = 2.0  # the full bid-ask spread; a market order pays half of it
    slippage_bps: float = 5.0
    fee_bps: float = 10.0
    # The largest share of a bar's volume (base units) one order takes; None: no cap.
    max_volume_share: float | None = None

    def __post_init__(self) -> None:
        for name in ("spread_bps", "slippage_bps", "fee_bps"):
            value = getattr(self, name)
            if not value >= 0 or value >= 10_000:
                raise ValueError(f"{name} must be at least 0 and below 10000, got {value!r}")
        share = self.max_volume_share
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"max_volume_share must be above 0 and at most 1, got {share!r}")

    def fillable(self, amount: float, bar_volume: float | None) -> float:
        """How much of a market order for ``amount`` fills in a bar that traded ``bar_volume``."""
        if self.max_volume_share is None or not bar_volume or bar_volume <= 0:
            return amount
        return min(amount, self.max_volume_share * bar_volume)

    def market_price(self, side: Side, reference: float) -> float:
        """The price a market order fills at, from the market's price: worse for the trader."""
        cost = (self.spread_bps / 2 + self.slippage_bps) / 10_000
        return reference * (1 + cost) if side is Side.BUY else reference * (1 - cost)

    def fee(self, notional: float) -> float:
        """The fee on a fill's notional, in the quote currency."""
        return notional * self.fee_bps / 10_000


@dataclass(frozen=True)
class Bar:
    """One closed candle of the market's base timeframe."""

    open_time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None  # base units traded; None where the source has none


@dataclass(frozen=True)
class ExitHit:
    """A stop or target a scan found: the reason, the price the exit fills at, the bar."""

    reason: str  # "stop loss", "take profit", or either followed by " (gap at the open)"
    price: float
    bar_time: datetime


def fresh_reference(
    newest: Bar | None, timeframe_seconds: int, now: datetime, max_age: timedelta
) -> float | None:
    """The newest bar's close when that bar closed at most ``max_age`` before ``now``."""
    if newest is None:
        return None
    closed_at = newest.open_time + timedelta(seconds=timeframe_seconds)
    return newest.close if now - closed_at <= max_age else None


def scan_exit(position: OpenPosition, bars: Iterable[Bar]) -> ExitHit | None:
    """The first bar, oldest first, whose open or range reaches the stop or the target."""
    long = position.direction == "LONG"
    stop, target = position.stop_loss, position.take_profit

    def through_stop(price: float) -> bool:
        return stop is not None and (price <= stop if long else price >= stop)

    def through_target(price: float) -> bool:
        return target is not None and (price >= target if long else price <= target)

    for bar in sorted(bars, key=lambda b: b.open_time):
        if through_stop(bar.open):
            return ExitHit("stop loss (gap at the open)", bar.open, bar.open_time)
        if through_target(bar.open):
            return ExitHit("take profit (gap at the open)", bar.open, bar.open_time)
        if stop is not None and through_stop(bar.low if long else bar.high):
            return ExitHit("stop loss", stop, bar.open_time)
        if target is not None and through_target(bar.high if long else bar.low):
            return ExitHit("take profit", target, bar.open_time)
    return None
