"""The signal tick's pure steps: shard planning, per-market evaluation, and the verdict.

1. :func:`plan_shards` groups the claimed bots by market and deals markets into a few shards
   of similar bot counts (one Dagster step per shard, never one per bot).
2. :func:`evaluate_market` computes each (market, timeframe) indicator frame and regime once
   and evaluates every bot on it, giving :class:`~botbox_dagster.domain.signals.Signal` s.
3. :func:`decide` validates each signal and applies the risk limits against a
   :class:`LedgerView` read in the same transaction that records the verdicts, feeding every
   acceptance back into the exposure book so account-wide limits hold within a tick.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.client_order_id import format_for
from botbox_dagster.domain.indicators import Indicator, compute_indicators
from botbox_dagster.domain.regime import REGIME_INDICATORS, Regime, current_regime
from botbox_dagster.domain.risk import Correlations, Exposure, RiskContext, RiskLimits, check_risk
from botbox_dagster.domain.scoring import Direction, Evaluation, PositionState, evaluate
from botbox_dagster.domain.signals import (
    NO_DIRECTION,
    ClaimedBot,
    Signal,
    SignalStatus,
    Verdict,
    position_value,
    trade_intent,
)
from botbox_dagster.domain.strategy import required_indicators
from botbox_dagster.domain.validation import ValidationContext, validate

Market = tuple[str, str]  # (exchange account, symbol)


@dataclass(frozen=True)
class OpenPositionRow:
    """An OPEN row of ``positions``, as evaluation and CLOSE sizing need it."""

    id: int
    bot_id: str
    exchange: str
    symbol: str
    direction: str
    amount: float
    entry_price: float
    opened_at: datetime

    @property
    def state(self) -> PositionState:
        return PositionState(Direction(self.direction), self.opened_at)


@dataclass(frozen=True)
class ShardPlan:
    """The markets (and their claimed bots) one shard step evaluates."""

    index: int
    tick_time: datetime
    markets: dict[Market, tuple[ClaimedBot, ...]]
    correlations: dict[str, dict[tuple[str, str], float]]  # by exchange account
    limits: RiskLimits = field(default_factory=RiskLimits)
    history_bars: int = 300

    @property
    def bot_count(self) -> int:
        return sum(len(b) for b in self.markets.values())


def plan_shards(
    claimed: Iterable[ClaimedBot], shards: int
) -> list[dict[Market, tuple[ClaimedBot, ...]]]:
    """Markets dealt into at most ``shards`` groups, biggest first onto the lightest shard."""
    by_market: dict[Market, list[ClaimedBot]] = defaultdict(list)
    for c in claimed:
        by_market[(c.bot.exchange, c.bot.symbol)].append(c)
    groups: list[dict[Market, tuple[ClaimedBot, ...]]] = [
        {} for _ in range(max(1, min(shards, len(by_market))))
    ]
    loads = [0] * len(groups)
    for market, bots in sorted(by_market.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lightest = loads.index(min(loads))
        groups[lightest][market] = tuple(sorted(bots, key=lambda c: c.bot.id))
        loads[lightest] += len(bots)
    return [g for g in groups if g]


def frame_requests(bots: Iterable[ClaimedBot]) -> dict[str, set[Indicator]]:
    """Indicators needed per timeframe by these bots (plus the regime's), union of all."""
    out: dict[str, set[Indicator]] = defaultdict(lambda: set(REGIME_INDICATORS))
    for c in bots:
        out[c.spec.timeframe].update(required_indicators(c.spec))
    return dict(out)


@dataclass(frozen=True)
class MarketFrame:
    """One (market, timeframe)'s shared indicator frame and regime at the tick."""

    frame: pd.DataFrame
    regime: Regime | None


def market_frames(
    candles: Mapping[str, pd.DataFrame], requests: Mapping[str, set[Indicator]]
) -> dict[str, MarketFrame]:
    """Indicators and regime computed once per timeframe of one market."""
    out = {}
    for tf, needed in requests.items():
        bars = candles.get(tf)
        if bars is None or bars.empty:
            continue
        frame = compute_indicators(bars, needed)
        out[tf] = MarketFrame(frame, current_regime(frame))
    return out


@dataclass(frozen=True)
class BotOutcome:
    """What one bot's evaluation produced: a signal, or the reason there was none."""

    bot_id: str
    evaluation: Evaluation | None
    signal: Signal | None
    note: str
    market: str = ""


def _signal(c: ClaimedBot, ev: Evaluation, direction: str, pos: OpenPositionRow | None) -> Signal:
    assert ev.timestamp is not None
    candle_time = ev.timestamp.to_pydatetime()
    intent = None
    if direction != NO_DIRECTION and ev.price is not None:
        intent = trade_intent(
            c.bot,
            c.spec,
            direction,
            candle_time,
            ev.price,
            stop_loss=ev.stop_loss,
            take_profit=ev.take_profit,
            close_amount=pos.amount if pos is not None else None,
            fmt=format_for(c.venue),
        )
    return Signal(
        bot_id=c.bot.id,
        strategy_id=c.bot.strategy,
        exchange=c.bot.exchange,
        symbol=c.bot.symbol,
        timeframe=c.spec.timeframe,
        direction=direction,
        candle_time=candle_time,
        price=ev.price,
        score=ev.score,
        contributions=ev.contributions_dict(),
        regime=str(ev.regime) if ev.regime is not None else None,
        reason=ev.reason,
        intent=intent,
    )


def evaluate_bot(
    c: ClaimedBot,
    frames: Mapping[str, MarketFrame],
    position: OpenPositionRow | None,
    funding: pd.Series | None,
    now: datetime,
) -> BotOutcome:
    """Evaluate one bot on its market's shared frame; regime-blocked entries still signal."""
    mf = frames.get(c.spec.timeframe)
    if mf is None:
        return BotOutcome(c.bot.id, None, None, f"no {c.spec.timeframe} candles stored")
    ev = evaluate(
        c.spec,
        mf.frame,
        mf.regime,
        position.state if position is not None else None,
        funding,
        now=now,
    )
    if ev.direction is not None:
        return BotOutcome(c.bot.id, ev, _signal(c, ev, str(ev.direction), position), ev.reason)
    if ev.candidate is not None and position is None:
        # Blocked by regime in scoring: logged as a signal so validation rejects it visibly.
        return BotOutcome(c.bot.id, ev, _signal(c, ev, str(ev.candidate), position), ev.reason)
    if c.spec.needs_funding and funding is None and ev.timestamp is not None:
        return BotOutcome(c.bot.id, ev, _signal(c, ev, NO_DIRECTION, position), ev.reason)
    return BotOutcome(c.bot.id, ev, None, ev.reason)


def evaluate_market(
    bots: Sequence[ClaimedBot],
    candles: Mapping[str, pd.DataFrame],
    positions: Mapping[str, OpenPositionRow],
    funding: pd.Series | None,
    now: datetime,
) -> list[BotOutcome]:
    """Every bot of one market, on indicator frames computed once per timeframe."""
    frames = market_frames(candles, frame_requests(bots))
    return [
        replace(
            evaluate_bot(c, frames, positions.get(c.bot.id), funding, now),
            market=f"{c.bot.exchange} {c.bot.symbol}",
        )
        for c in bots
    ]


@dataclass(frozen=True)
class LedgerView:
    """The ledger state the verdict depends on, read in the transaction that records it."""

    bot_statuses: dict[str, str]
    paused: bool
    open_breakers: frozenset[str]
    account_max_open: dict[str, int]
    book: tuple[Exposure, ...]
    open_directions: dict[str, frozenset[str]] = field(default_factory=dict)
    pending_directions: dict[str, frozenset[str]] = field(default_factory=dict)
    # Each exchange account's market type; an account missing here is treated as spot.
    account_market_types: dict[str, MarketType] = field(default_factory=dict)
    # Per bot: P&L realized so far (closed positions and closed parts of open ones), in the
    # quote currency of its market. Entries are sized from capital plus this (its equity).
    realized_pnl: dict[str, float] = field(default_factory=dict)


def sized_from_equity(s: Signal, c: ClaimedBot, equity: float) -> Signal:
    """An entry signal re-sized from the bot's equity instead of its configured capital: a bot
    that lost money trades smaller, one that made money larger (within the strategy's and the
    bot's caps)."""
    if s.intent is None or s.direction == Direction.CLOSE or s.intent.entry_price <= 0:
        return s
    value = position_value(max(equity, 0.0), c.spec.sizing, c.bot.limits.max_position_value)
    intent = replace(s.intent, position_size=value / s.intent.entry_price)
    return replace(s, intent=intent)


def decide(
    signals: Sequence[Signal],
    bots: Mapping[str, ClaimedBot],
    view: LedgerView,
    correlations: Mapping[str, Correlations],
    limits: RiskLimits,
    now: datetime,
) -> list[Verdict]:
    """Validate then risk-check each signal (CLOSE first), in order; accepted entries join the
    exposure book so the next signal sees them."""
    book = list(view.book)
    pending = {k: set(v) for k, v in view.pending_directions.items()}
    ordered = sorted(signals, key=lambda s: (s.direction != Direction.CLOSE, s.bot_id))
    verdicts = []
    for s in ordered:
        c = bots[s.bot_id]
        equity = c.bot.capital + view.realized_pnl.get(s.bot_id, 0.0)
        s = sized_from_equity(s, c, equity)
        regime = Regime(s.regime) if s.regime else None
        ctx = ValidationContext(
            now=now,
            candle_time=s.candle_time,
            timeframe=s.timeframe,
            regime=regime,
            allowed_regimes=c.spec.regimes,
            bot_status=view.bot_statuses.get(s.bot_id),
            open_directions=view.open_directions.get(s.bot_id, frozenset()),
            pending_directions=frozenset(pending.get(s.bot_id, ())),
            breaker_open=s.exchange in view.open_breakers,
            paused=view.paused,
            needs_funding=c.spec.needs_funding,
            has_funding=s.direction != NO_DIRECTION,
            account=s.exchange,
            market_type=view.account_market_types.get(s.exchange, MarketType.SPOT),
        )
        reason = validate(s.direction, ctx)
        if reason is None and s.intent is None:
            reason = "no price to size the trade"
        if reason is None and s.direction != Direction.CLOSE and equity <= 0:
            reason = (
                f"no equity left: capital {c.bot.capital:.8g} and realized P&L "
                f"{equity - c.bot.capital:+.8g}"
            )
        if reason is None and s.intent is not None:
            risk = RiskContext(
                bot_id=s.bot_id,
                exchange=s.exchange,
                symbol=s.symbol,
                capital=equity,
                needed=s.intent.value,
                max_open_per_bot=c.bot.limits.max_open_positions,
                max_open_per_account=view.account_max_open.get(s.exchange, 50),
                max_correlated=c.bot.limits.max_correlated_positions,
                limits=limits,
                correlations=correlations.get(s.exchange, {}),
            )
            reason = check_risk(s.direction, risk, book)
        if reason is None:
            verdicts.append(Verdict(s, SignalStatus.ACCEPTED, None))
            pending.setdefault(s.bot_id, set()).add(s.direction)
            if s.direction != Direction.CLOSE and s.intent is not None:
                book.append(
                    Exposure(s.bot_id, s.exchange, s.symbol, s.direction, s.intent.value, True)
                )
        else:
            verdicts.append(Verdict(s, SignalStatus.REJECTED, reason))
    return verdicts
