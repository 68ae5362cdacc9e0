"""The run launcher of BotBox's instance (``dagster.yaml``): Dagster's default one, plus a
health check that lets the daemon's run monitoring fail a run whose worker process is gone.

Dagster's ``DefaultRunLauncher`` starts each run as a child process of the code server and
cannot tell run monitoring whether that process still lives; a run whose code server dies with
it (a killed or restarted ``dagster dev`` stack, the OOM killer) then stays STARTED until its
``dagster/max_runtime``, and a job without one, like ``trading_minute_job``, stays STARTED
forever: its schedule skips every minute while "the previous run is still going". This launcher
answers run monitoring's health check from the PID the run worker reported in its first event
("Started process for run (pid: N)"): the run is marked FAILURE, with a message naming the
process, within ``run_monitoring.poll_interval_seconds`` of its death. Every run process is
local (this is the default launcher), so the PID is looked up in ``/proc``.

See docs/architecture.md, "Concurrency", and the README, "Guarantees".
"""

from __future__ import annotations

from pathlib import Path

from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.storage.dagster_run import DagsterRun

_STARTED = "Started process for run"


def process_alive(pid: int) -> bool:
    """A live (not zombie) process with this PID that is a run worker (a multiprocessing child,
    which is how the code server starts runs; a reused PID is something else)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat[stat.rindex(b")") + 2 :].split()[0]
    return state not in (b"Z", b"X") and b"multiprocessing" in cmdline


class BotBoxRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers run monitoring can check."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = self._worker_pid(run.run_id)
        if pid is None:
            # Not started by a code server (``dagster job execute``), or not reported yet: left
            # to the run's ``dagster/max_runtime`` (any other answer would fail the run).
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker PID reported")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker PID {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run worker process (PID {pid}) is gone: it was killed or its code server "
            "stopped (a crash or a restart of the Dagster stack). Rows it was executing are "
            "reconciled by the next run (README, Execution).",
        )

    def _worker_pid(self, run_id: str) -> int | None:
        events = self._instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
        for entry in reversed(events):
            event = entry.dagster_event
            if event is not None and event.pid is not None and entry.message.startswith(_STARTED):
                return int(event.pid)
        return None
