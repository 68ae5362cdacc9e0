"""``retention_job`` and its hourly schedule: old Dagster runs and ledger rows, deleted.

Dagster never deletes runs or their event logs by itself (``dagster.yaml``'s ``retention:`` only
covers schedule and sensor ticks), and BotBox starts several runs a minute. This job deletes
finished runs past their age (``services/retention.py`` decides which), with their event logs
and, on SQLite storage, each run's event-log file; and it archives then deletes the ledger's
high-volume rows. What is kept, for how long, and how to change it: README, "Retention".
"""

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.runs import SINGLETON_TAG
from botbox_dagster.services.retention import (
    BACKFILL_TAG,
    RetentionPolicy,
    prune_ledger,
    run_cutoffs,
    run_is_expired,
    run_sweeps,
)

_DEFAULTS = RetentionPolicy()


@dataclass
class RunDeletion:
    """What one pass over the run storage deleted."""

    deleted: int = 0
    by_job: Counter[str] = field(default_factory=Counter)
    by_sweep: Counter[str] = field(default_factory=Counter)
    files_removed: int = 0
    reached_limit: bool = False


def directory_bytes(path: Path | None) -> int | None:
    """Bytes of every file under ``path`` (None when there is no such directory)."""
    if path is None or not path.is_dir():
        return None
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we walked
                total += os.path.getsize(os.path.join(root, name))
    return total


def storage_dir(instance: dg.DagsterInstance) -> Path | None:
    """The directory of the instance's SQLite storage (``$BOTBOX_HOME/dagster`` for BotBox):
    the parent of the per-run event-log folder. None for other storages."""
    event_logs = instance.event_log_storage
    if not getattr(event_logs, "is_run_sharded", False) or not hasattr(
        event_logs, "path_for_shard"
    ):
        return None
    return Path(event_logs.path_for_shard("index")).parent.parent


def _remove_run_files(instance: dg.DagsterInstance, run_id: str) -> int:
    """SQLite keeps each run's events in ``storage/<run_id>.db``; ``delete_run`` empties it but
    leaves the file. Remove it (the run is finished: nothing writes to it any more)."""
    event_logs = instance.event_log_storage
    if not getattr(event_logs, "is_run_sharded", False) or not hasattr(
        event_logs, "path_for_shard"
    ):
        return 0
    base = event_logs.path_for_shard(run_id)
    # The storage remembers which run files it created; forget this one, so that reading the
    # deleted run's events later finds none instead of an empty file without tables.
    getattr(event_logs, "_initialized_dbs", set()).discard(run_id)
    removed = 0
    for path in (base, base + "-wal", base + "-shm", base + "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed += 1
    return removed


def delete_expired_runs(
    instance: dg.DagsterInstance,
    policy: RetentionPolicy,
    now: datetime,
    *,
    batch_size: int = 200,
    max_runs: int = 5000,
    log: Callable[[str], None] = lambda _m: None,
) -> RunDeletion:
    """Delete finished runs past their age, oldest first, ``batch_size`` per query and at most
    ``max_runs`` in all (the next pass continues). Queued and running runs are never matched."""
    problems = policy.problems()
    if problems:
        raise ValueError("; ".join(problems))
    cutoffs = run_cutoffs(policy, now)
    result = RunDeletion()
    backfills = sorted(
        {v for key, values in instance.get_run_tags(tag_keys=[BACKFILL_TAG]) for v in values}
    )
    for sweep in run_sweeps(cutoffs):
        if sweep.backfill_only and not backfills:
            continue
        filters = dg.RunsFilter(
            statuses=[dg.DagsterRunStatus(s) for s in sweep.statuses],
            updated_before=sweep.updated_before,
            exclude_subruns=sweep.exclude_backfills or None,
            tags={BACKFILL_TAG: backfills} if sweep.backfill_only else None,
        )
        while True:
            room = max_runs - result.deleted
            if room <= 0:
                result.reached_limit = True
                return result
            records = instance.get_run_records(
                filters=filters, limit=min(batch_size, room), ascending=True
            )
            progressed = False
            for record in records:
                run = record.dagster_run
                if not run_is_expired(run.status.value, run.tags, record.update_timestamp, cutoffs):
                    continue  # the filter and the rule disagree: keep it, never guess
                instance.delete_run(run.run_id)
                result.files_removed += _remove_run_files(instance, run.run_id)
                result.deleted += 1
                result.by_job[run.job_name] += 1
                result.by_sweep[sweep.name] += 1
                progressed = True
            if not progressed:
                break
            log(f"{sweep.name}: {result.by_sweep[sweep.name]} runs deleted so far")
    return result


def _counts_table(header: str, counts: Counter[str]) -> str:
    rows = [f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join([f"| {header} | runs |", "|---|---|", *rows]) if rows else "none"


class RunRetentionConfig(dg.Config):
    """How long finished Dagster runs are kept (runs still queued or running always are)."""

    success_days: float = _DEFAULTS.success_days
    """Successful runs are deleted, with their event logs, this many days after they ended."""
    failure_days: float = _DEFAULTS.failure_days
    """Failed and cancelled runs: kept longer, to investigate."""
    backfill_days: float = _DEFAULTS.backfill_days
    """Runs of a backfill (tag dagster/backfill), whatever their status."""
    batch_size: int = 200
    """Runs fetched per query."""
    max_runs: int = 5000
    """At most this many runs are deleted per run of the job; the next run continues."""


class LedgerRetentionConfig(dg.Config):
    """How long the ledger's high-volume rows are kept; older ones are archived to Parquet,
    then deleted. Trades, orders, fills and positions are never deleted."""

    untraded_signals_days: float = _DEFAULTS.untraded_signals_days
    """Signals that led to no trade (no trade_queue row refers to them)."""
    exchange_calls_days: float = _DEFAULTS.exchange_calls_days
    """The exchange call log."""
    candles_1m_days: float = _DEFAULTS.candles_1m_days
    """1-minute candles (at least 1 day: the strategies read up to 300 one-minute bars; 5m, 15m
    and 1h bars are kept)."""
    minute_slots_days: float = _DEFAULTS.minute_slots_days
    """The minute loop's slot records (tick lag and skipped slots)."""
    archive_dir: str = ""
    """Where archived rows go, as <archive_dir>/<table>/<day>.parquet; empty: ``archive/``
    beside the ledger file ($BOTBOX_HOME/archive for the default ledger)."""


@dg.op(
    description=(
        "Delete finished Dagster runs older than their retention (successes 2 days, failures, "
        "cancellations and backfill runs 14 days by default) with their event logs, oldest "
        "first, in batches. Never touches a run that is queued or in progress."
    )
)
def prune_dagster_runs(context: dg.OpExecutionContext, config: RunRetentionConfig) -> dg.Output:
    instance = context.instance
    policy = RetentionPolicy(
        success_days=config.success_days,
        failure_days=config.failure_days,
        backfill_days=config.backfill_days,
    )
    problems = policy.problems()
    if problems:
        raise dg.Failure("retention not applied: " + "; ".join(problems))
    folder = storage_dir(instance)
    before = directory_bytes(folder)
    started = time.perf_counter()
    now = datetime.now(UTC)
    result = delete_expired_runs(
        instance,
        policy,
        now,
        batch_size=config.batch_size,
        max_runs=config.max_runs,
        log=context.log.debug,
    )
    after = directory_bytes(folder)
    oldest = instance.get_run_records(limit=1, order_by="create_timestamp", ascending=True)
    context.log.info(
        f"deleted {result.deleted} runs ({dict(result.by_sweep)}); "
        f"storage {before} -> {after} bytes"
        + (" (limit reached: the next run continues)" if result.reached_limit else "")
    )
    cut = run_cutoffs(policy, now)
    metadata: dict[str, Any] = {
        "runs_deleted": result.deleted,
        "runs_deleted_by_job": dg.MetadataValue.md(_counts_table("job", result.by_job)),
        "runs_deleted_success": result.by_sweep["success"],
        "runs_deleted_failure_or_canceled": result.by_sweep["failure"],
        "runs_deleted_backfill": result.by_sweep["backfill"],
        "event_log_files_removed": result.files_removed,
        "reached_max_runs": result.reached_limit,
        "runs_kept": instance.get_runs_count(),
        "success_cutoff": cut.success.isoformat(timespec="seconds"),
        "failure_cutoff": cut.failure.isoformat(timespec="seconds"),
        "backfill_cutoff": cut.backfill.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if oldest:
        metadata["oldest_kept_run_created"] = oldest[0].create_timestamp.isoformat(
            timespec="seconds"
        )
        metadata["oldest_kept_run_id"] = oldest[0].dagster_run.run_id
    if folder is not None:
        metadata["storage_dir"] = str(folder)
    if before is not None and after is not None:
        metadata["storage_bytes_before"] = before
        metadata["storage_bytes_after"] = after
        metadata["storage_mb_after"] = round(after / 1e6, 2)
    return dg.Output(None, metadata=metadata)


@dg.op(
    description=(
        "Archive, then delete, the ledger's high-volume rows: signals that led to no trade "
        "(7 days), exchange_calls (7 days) and 1-minute candles (30 days), each table in one "
        "transaction, to <archive>/<table>/<day>.parquet. Trades, orders, fills and positions "
        "are never deleted."
    )
)
def prune_ledger_tables(
    context: dg.OpExecutionContext, config: LedgerRetentionConfig, ledger: LedgerResource
) -> dg.Output:
    policy = RetentionPolicy(
        untraded_signals_days=config.untraded_signals_days,
        exchange_calls_days=config.exchange_calls_days,
        candles_1m_days=config.candles_1m_days,
        minute_slots_days=config.minute_slots_days,
    )
    store = ledger.store()
    # beside the ledger file: $BOTBOX_HOME/archive for the default ledger path
    archive = Path(config.archive_dir) if config.archive_dir else store.path.parent / "archive"
    size_before = store.path.stat().st_size if store.path.exists() else 0
    started = time.perf_counter()
    try:
        results = prune_ledger(store, policy, archive, datetime.now(UTC))
    except ValueError as exc:
        raise dg.Failure(f"retention not applied: {exc}") from exc
    size_after = store.path.stat().st_size if store.path.exists() else 0
    metadata: dict[str, Any] = {
        "archive_dir": str(archive),
        "ledger_bytes_before": size_before,
        "ledger_bytes_after": size_after,
        "seconds": round(time.perf_counter() - started, 2),
    }
    rows = [
        "| table | deleted | kept | oldest kept | cutoff | archive files |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        key = "signals_untraded" if r.table == "signals" else r.table
        metadata[f"{key}_deleted"] = r.rows_deleted
        oldest = r.oldest_kept.isoformat(timespec="seconds") if r.oldest_kept else "none"
        files = ", ".join(p.name for p in r.archive_files) or "none"
        rows.append(
            f"| {r.table} | {r.rows_deleted} | {r.rows_kept} | {oldest} | "
            f"{r.cutoff.isoformat(timespec='seconds')} | {files} |"
        )
        context.log.info(f"{r.table}: {r.rows_deleted} rows archived and deleted ({files})")
    metadata["tables"] = dg.MetadataValue.md("\n".join(rows))
    return dg.Output(None, metadata=metadata)


@dg.job(
    description=(
        "Retention: delete finished Dagster runs past their age with their event logs "
        "(successes after 2 days; failures, cancellations and backfills after 14), and archive "
        "then delete old ledger rows (untraded signals and exchange calls after 7 days, "
        "1-minute candles after 30) to $BOTBOX_HOME/archive. Every age is run config."
    ),
    tags={"botbox/layer": "operations", SINGLETON_TAG: "retention"},
)
def retention_job() -> None:
    prune_dagster_runs()
    prune_ledger_tables()


@dg.schedule(
    cron_schedule="17 * * * *",
    job=retention_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Hourly: run retention_job with its default ages, so Dagster's storage and the ledger "
        "stay flat over weeks of unattended operation. Turn it off here to keep everything."
    ),
)
def retention_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Hourly: apply the default retention (README, "Retention")."""
    tick = context.scheduled_execution_time
    return dg.RunRequest(run_key=None, tags={"botbox/tick": tick.isoformat()})
