"""Candle timeframes and the arithmetic of closed bars (all times UTC)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "8h": 28_800, "1d": 86_400}
BASE_TIMEFRAME = "1m"
DERIVED_TIMEFRAMES = ("5m", "15m", "1h")


def seconds(timeframe: str) -> int:
    try:
        return SECONDS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r} (known: {', '.join(SECONDS)})") from None


def delta(timeframe: str) -> timedelta:
    return timedelta(seconds=seconds(timeframe))


def floor(ts: datetime, timeframe: str) -> datetime:
    """The open time of the bar containing ``ts``."""
    step = seconds(timeframe)
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


def last_closed_open_time(now: datetime, timeframe: str) -> datetime:
    """Open time of the newest bar that has closed at ``now`` (the forming bar excluded)."""
    return floor(now, timeframe) - delta(timeframe)


def is_closed(open_time: datetime, timeframe: str, now: datetime) -> bool:
    return open_time + delta(timeframe) <= now


def freshness_limit(timeframe: str) -> timedelta:
    """How old the newest closed bar may be before data counts as stale.

    1m markets: 2 minutes; longer timeframes: one interval plus 2 minutes (the issue's rule),
    measured from the bar's close.
    """
    if timeframe == "1m":
        return timedelta(minutes=2)
    return delta(timeframe) + timedelta(minutes=2)


def candle_age(newest_open_time: datetime, timeframe: str, now: datetime) -> timedelta:
    """Time since the newest stored bar closed."""
    return now - (newest_open_time + delta(timeframe))


def base_timeframe_of(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Per market, from its stored (market, timeframe) pairs: the finest known timeframe, the
    one its bars are fetched in (the others are resampled from it). Stops and marks use it."""
    out: dict[str, str] = {}
    for market, timeframe in pairs:
        if timeframe not in SECONDS:
            continue
        if market not in out or SECONDS[timeframe] < SECONDS[out[market]]:
            out[market] = timeframe
    return out
