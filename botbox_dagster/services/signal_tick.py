"""The signal tick's I/O: wait for candles, claim and plan, evaluate a shard, check one bot.

The Dagster ops in ``defs/signals`` call these functions and turn their reports into metadata;
the ``botbox check`` command calls :func:`check_bot` directly. Evaluation logic is in
:mod:`botbox_dagster.domain.tick`; this module only reads, calls it, and writes.

Funding rates: strategies that score funding read ``<MARKET>-<period>-funding_rate.csv``
(``timestamp`` in ms, ``funding_rate``) from the exchange account's ``replay_dir`` when it
exists, replayed cyclically onto live time by funding period the way candles are replayed.
Without one, such a bot logs a REJECTED signal with reason ``no funding data``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.replay import ANCHOR, symbol_to_stem
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.accounts import ExchangeAccount
from botbox_dagster.domain.metrics import reason_key
from botbox_dagster.domain.risk import RiskLimits, rolling_correlations
from botbox_dagster.domain.signals import ClaimedBot, Signal, Verdict
from botbox_dagster.domain.tick import (
    BotOutcome,
    Market,
    ShardPlan,
    decide,
    evaluate_market,
    plan_shards,
)


@dataclass(frozen=True)
class TickSettings:
    """How a tick runs (Launchpad config of ``signal_tick_job`` maps onto this)."""

    shards: int = 4
    history_bars: int = 300
    max_wait_seconds: float = 25.0
    poll_seconds: float = 0.5
    limits: RiskLimits = field(default_factory=RiskLimits)


# --------------------------------------------------------------------------- waiting


@dataclass(frozen=True)
class CandleWait:
    waited_seconds: float
    missing: tuple[str, ...]  # "exchange symbol tf" whose just-closed bar never arrived


def _expected(store: LedgerStore, tick: datetime) -> dict[tuple[str, str, str], datetime]:
    """Bars of active markets that close exactly at ``tick`` (1m always, longer on boundaries)."""
    active = set(store.active_markets())
    newest = store.latest_candle_times_all()
    out = {}
    for (ex, sym, tf), _t in newest.items():
        if (ex, sym) in active and timeframes.floor(tick, tf) == timeframes.floor(tick, "1m"):
            out[(ex, sym, tf)] = timeframes.last_closed_open_time(tick, tf)
    return out


def wait_for_candles(
    store: LedgerStore,
    tick: datetime,
    *,
    timeout: float,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> CandleWait:
    """Wait (bounded) until the bars closing at ``tick`` are stored for every active market.

    The market-data run starts at the same minute; waiting a few seconds for it beats
    evaluating on last minute's data and rejecting everything as stale.
    """
    started = time.monotonic()
    expected = _expected(store, tick)
    while True:
        newest = store.latest_candle_times_all()
        missing = [k for k, t in expected.items() if newest.get(k) is None or newest[k] < t]
        waited = time.monotonic() - started
        if not missing or waited >= timeout:
            return CandleWait(waited, tuple(" ".join(k) for k in sorted(missing)))
        sleep(min(poll, max(0.0, timeout - waited)))


# --------------------------------------------------------------------------- planning


def market_correlations(
    store: LedgerStore, markets: Sequence[Market], tick: datetime, window: int
) -> dict[str, dict[tuple[str, str], float]]:
    """Rolling 1m return correlations between the markets of each exchange account."""
    closes = store.recent_closes(markets, timeframe="1m", bars=window + 1, end=tick)
    out: dict[str, dict[tuple[str, str], float]] = {}
    for exchange in {ex for ex, _ in markets}:
        series = {sym: s for (ex, sym), s in closes.items() if ex == exchange}
        out[exchange] = rolling_correlations(series, window)
    return out


def plan_tick(
    store: LedgerStore, tick: datetime, settings: TickSettings = TickSettings()
) -> list[ShardPlan]:
    """Claim the due bots (moves their ``last_check_at``) and deal their markets into shards."""
    claimed = store.claim_due_bots(tick)
    if not claimed:
        return []
    correlations = market_correlations(
        store, store.active_markets(), tick, settings.limits.correlation_window
    )
    return [
        ShardPlan(i, tick, group, correlations, settings.limits, settings.history_bars)
        for i, group in enumerate(plan_shards(claimed, settings.shards))
    ]


# --------------------------------------------------------------------------- funding


def _period(ts_ms: np.ndarray) -> timedelta:
    hours = max(1, round(float(np.median(np.diff(ts_ms))) / 3_600_000)) if len(ts_ms) > 1 else 8
    return timedelta(hours=hours)


@cache
def _funding_recording(path: str) -> tuple[np.ndarray, timedelta]:
    data = pd.read_csv(path).sort_values("timestamp")
    return data["funding_rate"].to_numpy(dtype=float), _period(data["timestamp"].to_numpy())


def funding_series(
    account: ExchangeAccount | None, symbol: str, start: datetime, end: datetime
) -> pd.Series | None:
    """Funding rates in force over [start, end] from a replayed recording, or None."""
    if account is None or not account.replay_dir:
        return None
    files = sorted(Path(account.replay_dir).glob(f"{symbol_to_stem(symbol)}-*-funding_rate.csv"))
    if not files:
        return None
    rates, period = _funding_recording(str(files[0]))
    if not len(rates):
        return None
    first = int((start - ANCHOR) / period) - 1
    last = int((end - ANCHOR) / period)
    k = np.arange(first, last + 1)
    index = pd.DatetimeIndex([ANCHOR + int(i) * period for i in k])
    return pd.Series(rates[np.mod(k, len(rates))], index=index)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class ShardReport:
    """What one shard did, for run metadata."""

    index: int
    markets: int
    bots: int
    evaluated: int
    outcomes: tuple[BotOutcome, ...]
    verdicts: tuple[Verdict, ...]
    queue_rows: int
    duplicates: int
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @property
    def signals(self) -> int:
        return len(self.verdicts)

    @property
    def accepted(self) -> int:
        return sum(1 for v in self.verdicts if v.accepted)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return dict(Counter(reason_key(v.reason or "") for v in self.verdicts if not v.accepted))


def evaluate_shard(
    store: LedgerStore,
    plan: ShardPlan,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ShardReport:
    """Read the shard's candles and positions, evaluate every bot, record verdicts and rows."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    bots = {c.bot.id: c for group in plan.markets.values() for c in group}
    tick = plan.tick_time
    requests = {
        (ex, sym, c.spec.timeframe) for (ex, sym), group in plan.markets.items() for c in group
    }
    candles = store.read_market_candles(
        requests, end=timeframes.floor(tick, "1m"), bars=plan.history_bars
    )
    positions = store.open_positions(sorted(bots))
    accounts: dict[str, ExchangeAccount] | None = None
    t1 = time.perf_counter()
    outcomes: list[BotOutcome] = []
    for (ex, sym), group in plan.markets.items():
        market_candles = {tf: f for (e, s, tf), f in candles.items() if (e, s) == (ex, sym)}
        funding = None
        if any(c.spec.needs_funding for c in group):
            accounts = accounts if accounts is not None else store.exchange_accounts()
            start = tick - timedelta(hours=plan.history_bars)
            funding = funding_series(accounts.get(ex), sym, start, tick)
        outcomes += evaluate_market(group, market_candles, positions, funding, tick)
    signals = [o.signal for o in outcomes if o.signal is not None]
    t2 = time.perf_counter()
    result = store.commit_signals(
        signals,
        lambda view: decide(signals, bots, view, plan.correlations, plan.limits, now or _now()),
        now=now,
        dry_run=dry_run,
    )
    t3 = time.perf_counter()
    return ShardReport(
        index=plan.index,
        markets=len(plan.markets),
        bots=len(bots),
        evaluated=sum(1 for o in outcomes if o.evaluation is not None),
        outcomes=tuple(outcomes),
        verdicts=tuple(result.verdicts),
        queue_rows=result.queue_rows_written,
        duplicates=len(result.duplicates),
        seconds={"read": t1 - t0, "evaluate": t2 - t1, "commit": t3 - t2},
        cpu_seconds=time.process_time() - cpu0,
    )


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- check now


@dataclass(frozen=True)
class CheckReport:
    """One bot evaluated on demand: the outcome, the verdict (if a signal), what was written."""

    bot: ClaimedBot
    outcome: BotOutcome
    verdict: Verdict | None
    dry_run: bool
    queue_rows: int

    @property
    def signal(self) -> Signal | None:
        return self.outcome.signal


def check_bot(
    store: LedgerStore,
    bot_id: str,
    *,
    now: datetime | None = None,
    dry_run: bool = True,
    settings: TickSettings = TickSettings(),
) -> CheckReport:
    """Evaluate one bot now without claiming it (its scheduled checks do not move).

    ``dry_run``: judge the signal against the ledger but write nothing.
    """
    now = now or _now()
    claimed = store.bot_snapshot(bot_id)
    if claimed is None:
        raise LookupError(f"no bot {bot_id!r}")
    market = (claimed.bot.exchange, claimed.bot.symbol)
    plan = ShardPlan(
        0,
        now,
        {market: (claimed,)},
        market_correlations(store, store.active_markets(), now, settings.limits.correlation_window),
        settings.limits,
        settings.history_bars,
    )
    report = evaluate_shard(store, plan, now=now, dry_run=dry_run)
    verdict = report.verdicts[0] if report.verdicts else None
    return CheckReport(claimed, report.outcomes[0], verdict, dry_run, report.queue_rows)
