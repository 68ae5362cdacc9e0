"""Real execution processes against a chaos home: Dagster runs and bare workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from botbox_dagster.chaos.fleet import ACCOUNT, KEY_ENV, SECRET_ENV
from botbox_dagster.settings import (
    BREAKER_OPEN_ENV,
    LIVE_TRADING_ENV,
    dagster_environment,
    instance_dir,
    load_settings,
)


def chaos_env(home: Path, *, breaker_open_seconds: float = 60.0) -> dict[str, str]:
    """The environment of every process of a chaos run: its own home and Dagster storage, live
    trading enabled (only here), fake API keys, the breaker cooldown."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BOTBOX_"))}
    deployment = {
        "BOTBOX_HOME": str(home),
        LIVE_TRADING_ENV: "1",
        BREAKER_OPEN_ENV: str(breaker_open_seconds),
    }
    env.update(dagster_environment(load_settings(deployment)))
    env.update({KEY_ENV: "chaos-key", SECRET_ENV: "chaos-secret", "PYTHONUNBUFFERED": "1"})
    return env


def tool(name: str) -> str:
    """A console script of this virtualenv (``dagster``, ``botbox``)."""
    return str(Path(sys.executable).with_name(name))


# Open every SQLite database a run writes to: runs, the event-log index (which holds the
# concurrency tables) and the schedule storage.
_INIT_INSTANCE = """
import dagster as dg
instance = dg.DagsterInstance.get()
instance.get_runs(limit=1)
instance.event_log_storage.get_concurrency_keys()
instance.get_asset_keys()
instance.all_instigator_state()
"""


def init_instance(env: dict[str, str]) -> None:
    """Create the chaos instance's Dagster storage once, before any run starts: processes that
    open a fresh SQLite instance at the same moment race to stamp its schema (Dagster then
    refuses it: "alembic_version has more than one head")."""
    Path(env["BOTBOX_DAGSTER_STORAGE"]).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", _INIT_INSTANCE],
        env=env,
        cwd=instance_dir(),
        check=True,
        capture_output=True,
    )


def start_execute_run(
    env: dict[str, str],
    log_path: Path,
    account: str = ACCOUNT,
    orphan_after_seconds: float | None = None,
) -> subprocess.Popen[bytes]:
    """``dagster job execute`` of ``execute_trades_job`` for ``account`` (a real Dagster run)."""
    config = log_path.with_suffix(".yaml")
    op_config: dict[str, object] = {"account": account}
    if orphan_after_seconds is not None:
        op_config["orphan_after_seconds"] = orphan_after_seconds
    config.write_text(yaml.safe_dump({"ops": {"execute_trades": {"config": op_config}}}))
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            [
                tool("dagster"),
                "job",
                "execute",
                "-m",
                "botbox_dagster.definitions",
                "-j",
                "execute_trades_job",
                "-c",
                str(config),
            ],
            env=env,
            cwd=instance_dir(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def execute_run(
    env: dict[str, str],
    log_path: Path,
    timeout: float = 240.0,
    orphan_after_seconds: float | None = None,
) -> int:
    """One Dagster execution run to completion; its exit code."""
    proc = start_execute_run(env, log_path, orphan_after_seconds=orphan_after_seconds)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def start_worker(
    env: dict[str, str], log_path: Path, run_id: str, account: str = ACCOUNT
) -> subprocess.Popen[bytes]:
    """A bare execution pass (``chaos/worker.py``): fast to start, made to be killed."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "botbox_dagster.chaos.worker",
                "--account",
                account,
                "--run-id",
                run_id,
            ],
            env=env,
            cwd=instance_dir(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


_MONITOR = """
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
instance = DagsterInstance.get()
alive = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]
for record in instance.get_run_records(filters=RunsFilter(statuses=alive)):
    instance.report_run_failed(record.dagster_run, "process killed (chaos)")
    instance.event_log_storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
"""


def fail_killed_runs(env: dict[str, str]) -> None:
    """What the daemon's run monitoring does for a run past its ``dagster/max_runtime``: mark
    the killed runs failed and free any concurrency slots they held (nobody else would: a
    SIGKILLed ``dagster job execute`` process leaves its run STARTED)."""
    subprocess.run(
        [sys.executable, "-c", _MONITOR],
        env=env,
        cwd=instance_dir(),
        check=True,
        capture_output=True,
    )
