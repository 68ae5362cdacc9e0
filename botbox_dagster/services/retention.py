"""Retention: what BotBox deletes, and when (README, "Retention").

Every minute BotBox starts several Dagster runs and writes signals, exchange calls and candles;
nothing in Dagster deletes runs or their event logs by itself (``dagster.yaml``'s ``retention:``
covers schedule and sensor ticks only). This module holds the decisions, from a
:class:`RetentionPolicy` and the current time: which finished runs are old enough to delete
(successes after ``success_days``; failures, cancellations and backfill runs after longer), and
which ledger rows are archived and deleted. Runs still queued or in progress are never deleted.
The Dagster side (``defs/operations/retention.py``) asks these functions; the ledger side runs
through :class:`~botbox_dagster.adapters.ledger.retention.RetentionTables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.ledger.retention import PruneResult

# Dagster's run statuses that end a run (DagsterRunStatus values); every other status (QUEUED,
# NOT_STARTED, STARTING, STARTED, CANCELING, MANAGED) is a run that may still write.
FINISHED_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
# The tag Dagster puts on every run a backfill launches.
BACKFILL_TAG = "dagster/backfill"

# The strategies read at most ``history_bars`` (300) bars of their timeframe and the risk check
# 100 one-minute returns (services/signal_tick.py, domain/risk.py): 300 one-minute bars are five
# hours. Longer timeframes are stored bars of their own and are never pruned, so a 1-hour
# strategy's 300 hours of 1h bars stay. A day of 1-minute bars is the floor.
MIN_CANDLE_1M_DAYS = 1.0


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of record is kept, in days."""

    success_days: float = 2.0
    """Successful runs (with their event logs)."""
    failure_days: float = 14.0
    """Failed and cancelled runs: kept longer, to investigate."""
    backfill_days: float = 14.0
    """Runs launched by a backfill (tag ``dagster/backfill``), whatever their status."""
    untraded_signals_days: float = 7.0
    """Signals no trade_queue row refers to (rejected, or never queued)."""
    exchange_calls_days: float = 7.0
    """The exchange call log (the rate-limit metrics read its last minutes)."""
    candles_1m_days: float = 30.0
    """1-minute candles (5m, 15m and 1h bars are kept)."""
    minute_slots_days: float = 7.0
    """The minute loop's slot records (tick lag, skipped slots: the metrics read 15 minutes)."""

    def problems(self) -> list[str]:
        """Why this policy is refused (empty: it is valid)."""
        out = [
            f"{name} must be positive, got {value}"
            for name, value in vars(self).items()
            if not value > 0
        ]
        if self.candles_1m_days < MIN_CANDLE_1M_DAYS:
            out.append(
                f"candles_1m_days must be at least {MIN_CANDLE_1M_DAYS:g} (the strategies read "
                f"up to 300 one-minute bars), got {self.candles_1m_days}"
            )
        return out


@dataclass(frozen=True)
class RunCutoffs:
    """Finished runs last updated before these times are deleted."""

    success: datetime
    failure: datetime
    backfill: datetime


@dataclass(frozen=True)
class RunSweep:
    """One query for expired runs: every run it matches is to be deleted.

    ``exclude_backfills`` leaves out backfill runs (Dagster's ``exclude_subruns``);
    ``backfill_only`` restricts it to backfill runs, named by their backfill ids.
    """

    name: str
    statuses: tuple[str, ...]
    updated_before: datetime
    exclude_backfills: bool
    backfill_only: bool


def run_cutoffs(policy: RetentionPolicy, now: datetime) -> RunCutoffs:
    return RunCutoffs(
        success=now - timedelta(days=policy.success_days),
        failure=now - timedelta(days=policy.failure_days),
        backfill=now - timedelta(days=policy.backfill_days),
    )


def run_sweeps(cutoffs: RunCutoffs) -> list[RunSweep]:
    """The queries that find expired runs, each one's matches all expired, so a sweep that
    deletes batch after batch never meets a run it must keep and always ends."""
    return [
        RunSweep("success", ("SUCCESS",), cutoffs.success, True, False),
        RunSweep("failure", ("FAILURE", "CANCELED"), cutoffs.failure, True, False),
        RunSweep("backfill", FINISHED_STATUSES, cutoffs.backfill, False, True),
    ]


def run_is_expired(
    status: str, tags: Mapping[str, str], updated_at: datetime, cutoffs: RunCutoffs
) -> bool:
    """The rule the sweeps implement, for one run: checked again on every run before it goes."""
    if status not in FINISHED_STATUSES:
        return False
    if BACKFILL_TAG in tags:
        return updated_at < cutoffs.backfill
    if status == "SUCCESS":
        return updated_at < cutoffs.success
    return updated_at < cutoffs.failure


@dataclass(frozen=True)
class LedgerCutoffs:
    """Ledger rows older than these are archived and deleted."""

    untraded_signals: datetime
    exchange_calls: datetime
    candles_1m: datetime
    minute_slots: datetime


def ledger_cutoffs(policy: RetentionPolicy, now: datetime) -> LedgerCutoffs:
    return LedgerCutoffs(
        untraded_signals=now - timedelta(days=policy.untraded_signals_days),
        exchange_calls=now - timedelta(days=policy.exchange_calls_days),
        candles_1m=now - timedelta(days=max(policy.candles_1m_days, MIN_CANDLE_1M_DAYS)),
        minute_slots=now - timedelta(days=policy.minute_slots_days),
    )


def prune_ledger(
    store: LedgerStore, policy: RetentionPolicy, archive_dir: Path, now: datetime
) -> list[PruneResult]:
    """Archive to ``archive_dir/<table>/<day>.parquet`` and delete, one transaction per table:
    untraded signals, exchange calls, 1-minute candles, minute-slot records. Trades, orders, fills and positions
    are never deleted."""
    problems = policy.problems()
    if problems:
        raise ValueError("; ".join(problems))
    cut = ledger_cutoffs(policy, now)
    return [
        store.prune_untraded_signals(cut.untraded_signals, archive_dir),
        store.prune_exchange_calls(cut.exchange_calls, archive_dir),
        store.prune_candles(cut.candles_1m, archive_dir, timeframe="1m"),
        store.prune_minute_slots(cut.minute_slots, archive_dir),
    ]
