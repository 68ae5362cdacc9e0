"""Risk limits: each rule returns a denial reason, or None to let an entry through.

Exposure is what the account already holds or has queued (open positions plus PENDING and
EXECUTING entry rows), plus what this tick accepted so far: the ledger evaluates a shard's
signals in one transaction and feeds every acceptance back into the book, so limits hold
across the bots of a tick. CLOSE signals reduce exposure and are never blocked here.

Correlation: two markets are correlated when the Pearson correlation of their last
``window`` one-minute log returns is at least ``threshold``. A position in the opposite
direction on a negatively correlated market counts too (it is the same bet), and a position
on the same market is correlation 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from botbox_dagster.domain.scoring import Direction

Correlations = Mapping[tuple[str, str], float]


@dataclass(frozen=True)
class Exposure:
    """One open position or queued entry of the account."""

    bot_id: str
    exchange: str
    symbol: str
    direction: str
    value: float  # quote value committed
    pending: bool = False


@dataclass(frozen=True)
class RiskLimits:
    """Fleet-wide risk settings (per-bot limits live on the bot, per-account on the account)."""

    correlation_threshold: float = 0.8
    correlation_window: int = 100


def max_positions_per_bot(bot_id: str, book: Iterable[Exposure], limit: int) -> str | None:
    held = sum(1 for e in book if e.bot_id == bot_id)
    if held >= limit:
        return f"max open positions per bot reached ({held}/{limit})"
    return None


def max_positions_per_account(exchange: str, book: Iterable[Exposure], limit: int) -> str | None:
    held = sum(1 for e in book if e.exchange == exchange)
    if held >= limit:
        return f"max open positions per account {exchange} reached ({held}/{limit})"
    return None


def capital_available(
    bot_id: str, capital: float, needed: float, book: Iterable[Exposure]
) -> str | None:
    """The bot's capital minus what its positions and queued entries hold must cover the size."""
    if not needed > 0:
        return "position size is zero"
    committed = sum(e.value for e in book if e.bot_id == bot_id)
    available = capital - committed
    if needed > available * (1 + 1e-9):
        return f"insufficient capital: need {needed:.8g}, available {max(available, 0.0):.8g}"
    return None


def correlation(correlations: Correlations, a: str, b: str) -> float:
    """Correlation of two markets' returns (1 for the same market, 0 when unknown)."""
    if a == b:
        return 1.0
    value = correlations.get((a, b), correlations.get((b, a)))
    return 0.0 if value is None or not math.isfinite(value) else float(value)


def correlated_positions(
    exchange: str,
    symbol: str,
    direction: str,
    book: Iterable[Exposure],
    correlations: Correlations,
    threshold: float,
    limit: int,
) -> str | None:
    """At most ``limit`` positions of the account that move with the new one."""
    hits = []
    for e in book:
        if e.exchange != exchange:
            continue
        sign = 1.0 if e.direction == direction else -1.0
        if sign * correlation(correlations, symbol, e.symbol) >= threshold:
            hits.append(f"{e.symbol} {e.direction}")
    if len(hits) >= limit:
        return (
            f"correlated positions limit reached ({len(hits)}/{limit} at >= {threshold:g}: "
            f"{', '.join(sorted(hits)[:5])})"
        )
    return None


@dataclass(frozen=True)
class RiskContext:
    """One entry's inputs to the risk rules."""

    bot_id: str
    exchange: str
    symbol: str
    capital: float
    needed: float
    max_open_per_bot: int
    max_open_per_account: int
    max_correlated: int
    limits: RiskLimits
    correlations: Correlations


def check_risk(direction: str, ctx: RiskContext, book: Iterable[Exposure]) -> str | None:
    """The first risk denial for an entry, or None (CLOSE always passes)."""
    if direction == Direction.CLOSE:
        return None
    book = list(book)
    return (
        max_positions_per_bot(ctx.bot_id, book, ctx.max_open_per_bot)
        or max_positions_per_account(ctx.exchange, book, ctx.max_open_per_account)
        or capital_available(ctx.bot_id, ctx.capital, ctx.needed, book)
        or correlated_positions(
            ctx.exchange,
            ctx.symbol,
            direction,
            book,
            ctx.correlations,
            ctx.limits.correlation_threshold,
            ctx.max_correlated,
        )
    )


def rolling_correlations(
    closes: Mapping[str, pd.Series], window: int = 100
) -> dict[tuple[str, str], float]:
    """Pairwise correlation of the last ``window`` log returns, on the bars all markets share.

    Pairs with fewer than ``window // 2`` common returns are left out (unknown counts as 0).
    """
    if len(closes) < 2:
        return {}
    frame = pd.DataFrame({k: v for k, v in closes.items()}).sort_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.log(frame).diff().iloc[1:].tail(window)
    matrix = returns.corr(min_periods=max(2, window // 2))
    names = list(matrix.columns)
    out: dict[tuple[str, str], float] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            value = float(matrix.at[a, b])
            if math.isfinite(value):
                out[(a, b)] = value
    return out
