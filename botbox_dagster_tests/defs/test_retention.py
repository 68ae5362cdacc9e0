"""``retention_job`` on a real SQLite Dagster instance with finished runs of known ages.

Runs are created as the run coordinator creates them (``create_run_for_job``) and then given
their life through the events a run writes (start, log lines, end), each stamped with the time
it happened: Dagster dates a run by the timestamp of its last status event, so a run that ended
three days ago looks exactly like one that really did. Expected counts are written by hand from
the fixture below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.operations.retention import (
    delete_expired_runs,
    retention_job,
    retention_schedule,
    storage_dir,
)
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.services.retention import BACKFILL_TAG, RetentionPolicy
from botbox_dagster_tests.support.seed import add_signal, add_trade


@dg.op
def _noop() -> None:
    pass


@dg.job
def minute_like_job() -> None:
    _noop()


@dg.job
def execution_like_job() -> None:
    _noop()


END_EVENT = {
    "SUCCESS": DagsterEventType.RUN_SUCCESS,
    "FAILURE": DagsterEventType.RUN_FAILURE,
    "CANCELED": DagsterEventType.RUN_CANCELED,
    "STARTED": None,  # started, never ended
    "CANCELING": DagsterEventType.RUN_CANCELING,
}


def add_run(
    instance: dg.DagsterInstance,
    status: str,
    ended: datetime,
    *,
    job: dg.JobDefinition = minute_like_job,
    tags: dict[str, str] | None = None,
    log_lines: int = 5,
) -> str:
    """A run that started 5 s before ``ended``, logged ``log_lines`` lines and reached
    ``status`` at ``ended``; returns its id."""
    run = instance.create_run_for_job(job_def=job, tags=tags or {})
    start = (ended - timedelta(seconds=5)).timestamp()
    instance.report_dagster_event(
        DagsterEvent(DagsterEventType.RUN_START.value, job.name), run.run_id, timestamp=start
    )
    for i in range(log_lines):
        instance.handle_new_event(
            EventLogEntry(
                error_info=None,
                level=logging.INFO,
                user_message=f"line {i}",
                run_id=run.run_id,
                timestamp=start + 1 + i * 0.1,
                job_name=job.name,
            )
        )
    end = END_EVENT[status]
    if end is not None:
        instance.report_dagster_event(
            DagsterEvent(end.value, job.name), run.run_id, timestamp=ended.timestamp()
        )
    return run.run_id


@dataclass
class Fleet:
    instance: dg.DagsterInstance
    now: datetime
    expired: set[str]
    kept: set[str]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Thirteen runs: six past their age, seven to keep (defaults: successes 2 days; failures,
    cancellations and backfills 14 days)."""
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        now = datetime.now(UTC)
        day = timedelta(days=1)
        expired = {
            *(add_run(instance, "SUCCESS", now - 3 * day) for _ in range(3)),
            add_run(instance, "FAILURE", now - 15 * day, job=execution_like_job),
            add_run(instance, "CANCELED", now - 20 * day, job=execution_like_job),
            add_run(instance, "FAILURE", now - 15 * day, tags={BACKFILL_TAG: "bf-old"}),
        }
        kept = {
            *(add_run(instance, "SUCCESS", now - 1 * day) for _ in range(2)),
            add_run(instance, "FAILURE", now - 3 * day, job=execution_like_job),
            # never finished, far older than every cutoff: never deleted
            add_run(instance, "STARTED", now - 30 * day),
            add_run(instance, "CANCELING", now - 30 * day, job=execution_like_job),
            # a backfill's successful run, older than the success age
            add_run(instance, "SUCCESS", now - 3 * day, tags={BACKFILL_TAG: "bf-new"}),
        }
        real = minute_like_job.execute_in_process(instance=instance)  # a real run, just now
        kept.add(real.run_id)
        assert len(expired) == 6 and len(kept) == 7
        yield Fleet(instance, now, expired, kept)


def run_ids(instance: dg.DagsterInstance) -> set[str]:
    return {r.dagster_run.run_id for r in instance.get_run_records()}


def shard(instance: dg.DagsterInstance, run_id: str) -> Path:
    return Path(instance.event_log_storage.path_for_shard(run_id))  # type: ignore[attr-defined]


def test_expired_finished_runs_go_with_their_event_logs_the_rest_stay(fleet: Fleet) -> None:
    instance = fleet.instance
    assert all(shard(instance, r).exists() for r in fleet.expired)
    assert all(instance.all_logs(r) for r in fleet.expired)

    result = delete_expired_runs(instance, RetentionPolicy(), fleet.now, batch_size=2)

    assert result.deleted == 6
    assert dict(result.by_sweep) == {"success": 3, "failure": 2, "backfill": 1}
    assert dict(result.by_job) == {"minute_like_job": 4, "execution_like_job": 2}
    assert not result.reached_limit
    assert run_ids(instance) == fleet.kept
    for run_id in fleet.expired:
        assert not shard(instance, run_id).exists()  # the run's event log, file and all
        assert instance.get_run_by_id(run_id) is None
    assert instance.all_logs(next(iter(fleet.expired))) == []
    for run_id in fleet.kept:
        assert instance.all_logs(run_id), run_id
    statuses = {instance.get_run_by_id(r).status.value for r in fleet.kept}  # type: ignore[union-attr]
    assert {"STARTED", "CANCELING"} <= statuses

    again = delete_expired_runs(instance, RetentionPolicy(), fleet.now)
    assert again.deleted == 0


def test_max_runs_bounds_one_pass_and_the_next_pass_continues(fleet: Fleet) -> None:
    first = delete_expired_runs(fleet.instance, RetentionPolicy(), fleet.now, max_runs=4)
    assert first.deleted == 4 and first.reached_limit
    second = delete_expired_runs(fleet.instance, RetentionPolicy(), fleet.now, max_runs=4)
    assert second.deleted == 2 and not second.reached_limit
    assert run_ids(fleet.instance) == fleet.kept


def test_ages_are_config(fleet: Fleet) -> None:
    """Successes kept 4 days instead of 2: the three 3-day-old successes stay."""
    policy = RetentionPolicy(success_days=4)
    result = delete_expired_runs(fleet.instance, policy, fleet.now)
    assert result.deleted == 3
    assert dict(result.by_sweep) == {"failure": 2, "backfill": 1}
    with pytest.raises(ValueError, match="success_days must be positive"):
        delete_expired_runs(fleet.instance, RetentionPolicy(success_days=0), fleet.now)


def test_the_job_reports_what_it_deleted_and_prunes_the_ledger(
    fleet: Fleet, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.duckdb"
    store = LedgerStore(ledger)
    old = fleet.now - timedelta(days=8)
    add_signal(store, "bot-a", "REJECTED", at=old, reason="regime")
    add_signal(store, "bot-a", "REJECTED", at=fleet.now, reason="regime")
    add_trade(store, "bot-a", opened=fleet.now - timedelta(days=60))
    archive = tmp_path / "archive"

    result = retention_job.execute_in_process(
        instance=fleet.instance,
        resources={"ledger": LedgerResource(path=str(ledger))},
        run_config={"ops": {"prune_ledger_tables": {"config": {"archive_dir": str(archive)}}}},
    )

    assert result.success
    md: dict[str | None, dict[str, Any]] = {
        node: {k: v.value for k, v in event.step_output_data.metadata.items()}
        for event in result.all_events
        if event.event_type_value == "STEP_OUTPUT"
        for node in [event.step_key]
    }
    assert md["prune_dagster_runs"]["runs_deleted"] == 6
    assert md["prune_dagster_runs"]["runs_deleted_success"] == 3
    assert md["prune_dagster_runs"]["runs_kept"] == 8  # the seven, and this run
    before = md["prune_dagster_runs"]["storage_bytes_before"]
    after = md["prune_dagster_runs"]["storage_bytes_after"]
    assert after < before
    assert md["prune_dagster_runs"]["storage_dir"] == str(storage_dir(fleet.instance))
    assert "oldest_kept_run_created" in md["prune_dagster_runs"]
    assert md["prune_ledger_tables"]["signals_untraded_deleted"] == 1
    assert "| signals | 1 | 1 |" in md["prune_ledger_tables"]["tables"]
    assert (archive / "signals" / f"{old.date().isoformat()}.parquet").exists()
    assert run_ids(fleet.instance) == fleet.kept | {result.run_id}


def test_the_schedule_runs_hourly_by_default() -> None:
    assert retention_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert retention_schedule.cron_schedule == "17 * * * *"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 12, 4, 10, 17, tzinfo=UTC)
    )
    request = retention_schedule.evaluate_tick(context).run_requests
    assert request and request[0].run_config == {}
