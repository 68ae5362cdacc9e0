"""The pieces the supervisor's restarts are made of, without starting a stack: the backoff,
the reading of the webserver's health answer, the run launcher's worker check (README,
"Guarantees"; botbox_dagster_tests/faults/test_orchestrator.py kills real processes)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from botbox_dagster.adapters.supervision import RestartBackoff
from botbox_dagster.defs.operations.run_launcher import process_alive
from botbox_dagster.demo.health import _problem, stack_problem
from botbox_dagster_tests.support.daemon import wait_until


def test_backoff_doubles_to_its_cap_and_resets_after_a_healthy_run() -> None:
    backoff = RestartBackoff(first=1, cap=60, reset_after=300)
    delays = [backoff.next_delay(healthy_for=5) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.next_delay(healthy_for=300) == 1
    assert backoff.next_delay(healthy_for=0) == 2
    assert backoff.restarts == 10


NOW = 1_800_000_000.0


def _answer(
    location: dict[str, Any], healthy: bool | None = True, heartbeat: float = NOW - 20
) -> dict[str, Any]:
    return {
        "workspaceOrError": {
            "__typename": "Workspace",
            "locationEntries": [
                {"name": "botbox", "loadStatus": "LOADED", "locationOrLoadError": location}
            ],
        },
        "instance": {
            "daemonHealth": {
                "allDaemonStatuses": [
                    {
                        "daemonType": "SCHEDULER",
                        "required": True,
                        "healthy": healthy,
                        "lastHeartbeatTime": heartbeat,
                    },
                    {"daemonType": "BACKFILL", "required": False, "healthy": False},
                ]
            }
        },
    }


def test_a_healthy_answer_is_no_problem() -> None:
    assert _problem(_answer({"__typename": "RepositoryLocation"}), NOW) is None


def test_an_unreachable_code_server_and_a_stale_daemon_are_named() -> None:
    error = {
        "__typename": "PythonError",
        "message": "DagsterUserCodeUnreachableError: Could not reach user code server.\nmore",
    }
    problem = _problem(_answer(error, healthy=False), NOW)
    assert problem == (
        "code location botbox: DagsterUserCodeUnreachableError: Could not reach user code "
        "server.; daemon SCHEDULER has no fresh heartbeat"
    )
    # Dagster still calls a daemon healthy 30 minutes after its last heartbeat: not BotBox.
    stale = _answer({"__typename": "RepositoryLocation"}, heartbeat=NOW - 200)
    assert _problem(stale, NOW) == "daemon SCHEDULER: last heartbeat 200 s ago"


def test_a_webserver_that_does_not_answer_is_a_problem() -> None:
    problem = stack_problem("127.0.0.1", 9, timeout=2)  # discard port: refused
    assert problem is not None and problem.startswith("the webserver does not answer")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_run_worker_is_alive_until_it_is_killed() -> None:
    code = "import multiprocessing, time; time.sleep(60)"  # "multiprocessing" on its cmdline
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        # Popen returns as the exec happens: its command line shows a moment later.
        assert wait_until(lambda: process_alive(proc.pid), timeout=10, interval=0.05)
        proc.kill()
        proc.wait()
        assert not process_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    other = subprocess.Popen(["sleep", "60"])  # alive, but no run worker: a reused PID
    try:
        time.sleep(0.5)
        assert not process_alive(other.pid)
    finally:
        other.kill()
        other.wait()
