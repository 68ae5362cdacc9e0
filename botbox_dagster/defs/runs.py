"""Run-status helpers shared by the schedules and sensors."""

import dagster as dg

SINGLETON_TAG = "botbox/singleton"

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def active_run(
    instance: dg.DagsterInstance, job_name: str, tags: dict[str, str]
) -> dg.RunRecord | None:
    """The newest queued or running run of ``job_name`` with ``tags``, if there is one."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS, tags=tags), limit=1
    )
    return records[0] if records else None


def active_run_id(instance: dg.DagsterInstance, job_name: str, tags: dict[str, str]) -> str | None:
    """The id of a queued or running run of ``job_name`` with ``tags``, if there is one."""
    record = active_run(instance, job_name, tags)
    return record.dagster_run.run_id if record else None


def latest_run_id(instance: dg.DagsterInstance, job_name: str, tags: dict[str, str]) -> str | None:
    """The id of the newest run of ``job_name`` with ``tags``, whatever its status."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, tags=tags), limit=1)
    return records[0].dagster_run.run_id if records else None
