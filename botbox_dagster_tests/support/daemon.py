"""Run BotBox the way an operator does: the real Dagster daemon on the project's dagster.yaml.

Used by the end-to-end test and the latency benchmark. Everything lives in a temporary
``BOTBOX_HOME``; the daemon loads ``workspace.yaml`` (starting its own code server), so
schedules, sensors, the run queue, tag limits and pools all behave as in ``make demo``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from botbox_dagster.settings import dagster_environment, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def botbox_env(home: Path) -> dict[str, str]:
    """A Dagster process's environment on ``home``, as ``botbox serve`` gives it (paper only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BOTBOX_"))}
    env.update(dagster_environment(load_settings({"BOTBOX_HOME": str(home)})))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def botbox(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_bin("botbox"), *args], env=botbox_env(home), check=True, capture_output=True, text=True
    )


@contextmanager
def running_daemon(home: Path, log_name: str = "daemon.log") -> Iterator[subprocess.Popen[bytes]]:
    """``dagster-daemon run`` on BotBox's instance until the block ends (SIGTERM, then kill)."""
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    log = open(home / log_name, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [_bin("dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
        env=botbox_env(home),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # The daemon's code server and any run still going belong to its session.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def wait_until(predicate, timeout: float, interval: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
