"""Processes that live and die together, and one copy per BOTBOX_HOME (real processes, real
signals; botbox_dagster/adapters/supervision.py, README "Quickstart").

Deadlines are generous and polled: nothing here asserts how fast anything is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import pytest

from botbox_dagster.adapters.supervision import HomeInUseError, acquire_home_lock
from botbox_dagster_tests.support.daemon import (
    botbox_env,
    free_port,
    processes_with_home,
    wait_until,
)

# Every test starts real processes; the two that start `dagster dev` are also marked slow.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads /proc and relies on Linux signals"
    ),
]

# Starting `dagster dev` takes 20-40 s on a 2-core machine; its first answer may take longer.
START_TIMEOUT = 240
# The watchdog's grace is 20 s, then SIGKILL: everything is gone well within this.
GONE_TIMEOUT = 60


BOTBOX = str(Path(sys.executable).with_name("botbox"))


def _kill_all(home: Path) -> None:
    """Teardown: whatever a failed test left behind."""
    for pid in processes_with_home(home):
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _holder(home: Path) -> str:
    """Who a second copy is told holds the serve lock ("" once it is free)."""
    try:
        acquire_home_lock(home, "serve", "second copy").close()
    except HomeInUseError as exc:
        return str(exc)
    return ""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@contextmanager
def _started(
    home: Path, log: Path, cmd: Sequence[str], **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` on ``home`` with its output in ``log``; whatever is left of it is killed."""
    out: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd,
        env={**botbox_env(home), **env},
        cwd=home.parent,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        with suppress(OSError):
            proc.kill()
        proc.wait()
        _kill_all(home)
        out.close()


def _refused(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BOTBOX, *args],
        env={**botbox_env(home), **env},
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wait_for(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(url):
        assert proc.poll() is None, f"exited {proc.returncode} before {url} answered:\n{_tail(log)}"
        assert time.monotonic() < deadline, f"{url} did not answer:\n{_tail(log)}"
        time.sleep(1)


def _assert_all_gone(home: Path, log: Path, timeout: float = GONE_TIMEOUT) -> None:
    gone = wait_until(lambda: not processes_with_home(home), timeout=timeout, interval=1)
    assert gone, f"still alive: {processes_with_home(home)}\n{_tail(log)}"


# A stand-in supervisor that starts in a second: a shell whose background child leaves its
# session (setsid) and a Python child that ignores SIGTERM, so both the environment sweep and
# the SIGKILL after the grace period are needed.
_SUPERVISOR = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from botbox_dagster.adapters.supervision import Supervisor, acquire_home_lock

    lock = acquire_home_lock(Path(os.environ["BOTBOX_HOME"]), "serve", "test supervisor")
    supervisor = Supervisor(lock, grace_seconds=10)
    supervisor.popen(["sh", "-c", "setsid sleep 600 & sleep 600"], env=os.environ)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    supervisor.popen([sys.executable, "-c", stubborn], env=os.environ)
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_sigkill_of_a_supervisor_ends_children_grandchildren_and_escapees(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = tmp_path / "supervisor.log"
    with _started(home, log, [sys.executable, "-c", _SUPERVISOR]) as proc:
        # supervisor, watchdog, sh, sleep, setsid'd sleep, stubborn python
        assert wait_until(lambda: len(processes_with_home(home)) >= 6, timeout=60, interval=0.5), (
            processes_with_home(home),
            _tail(log),
        )
        with pytest.raises(HomeInUseError, match=f"PID {proc.pid} \\(test supervisor"):
            acquire_home_lock(home, "serve", "second copy")
        proc.kill()
        proc.wait()
        # The watchdog took the lock over: it holds it until the stubborn child is killed
        # (after its 10 s grace), and says so.
        assert wait_until(
            lambda: "botbox watchdog of PID" in _holder(home), timeout=60, interval=0.1
        )
        _assert_all_gone(home, log)
        with acquire_home_lock(home, "serve", "after"):
            pass
        assert "needed SIGKILL" in _tail(log)


def test_a_second_dashboard_on_the_same_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    log = tmp_path / "dashboard.log"
    with _started(home, log, [BOTBOX, "dashboard", "--port", str(port)]) as first:
        _wait_for(first, f"http://127.0.0.1:{port}/healthz", log)
        second = _refused(home, "dashboard", "--port", str(free_port()))
        assert second.returncode == 2, second
        assert f"PID {first.pid} (botbox dashboard" in second.stderr
        assert f"BOTBOX_HOME {home} is already in use" in second.stderr
        assert _answers(f"http://127.0.0.1:{port}/healthz")
        # Another home is not refused.
        other, other_port = tmp_path / "other", free_port()
        other_log = tmp_path / "other.log"
        with _started(other, other_log, [BOTBOX, "dashboard", "--port", str(other_port)]) as third:
            _wait_for(third, f"http://127.0.0.1:{other_port}/healthz", other_log)


@pytest.mark.slow
def test_sigkill_of_botbox_demo_leaves_no_process_and_a_second_copy_is_refused(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    port, dash_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    ports = {"PORT": str(port), "BOTBOX_DASHBOARD_PORT": str(dash_port)}
    with _started(home, log, [BOTBOX, "demo"], **ports) as demo:
        _wait_for(demo, f"http://127.0.0.1:{port}/server_info", log)
        _wait_for(demo, f"http://127.0.0.1:{dash_port}/healthz", log)
        running = processes_with_home(home)
        assert len(running) >= 5, running  # watchdog, dagster dev, webserver, daemon, dashboard

        serve = _refused(home, "serve", PORT=str(free_port()))
        assert serve.returncode == 2, serve
        assert f"PID {demo.pid} (botbox demo" in serve.stderr, serve.stderr
        assert f"BOTBOX_HOME {home} is already in use" in serve.stderr
        dashboard = _refused(home, "dashboard", "--port", str(free_port()))
        assert dashboard.returncode == 2, dashboard
        assert "(botbox dashboard" in dashboard.stderr, dashboard.stderr

        demo.send_signal(signal.SIGKILL)
        demo.wait()
        _assert_all_gone(home, log)
        with acquire_home_lock(home, "serve", "after"), acquire_home_lock(home, "dashboard", "x"):
            pass


@pytest.mark.slow
def test_sigterm_stops_botbox_serve_and_everything_it_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    log = tmp_path / "serve.log"
    with _started(home, log, [BOTBOX, "serve"], PORT=str(port)) as serve:
        _wait_for(serve, f"http://127.0.0.1:{port}/server_info", log)
        assert len(processes_with_home(home)) >= 4  # watchdog, dagster dev, webserver, daemon
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=180) == 0, _tail(log)
        # The supervisor returns only once its watchdog has seen everything gone.
        _assert_all_gone(home, log, timeout=10)
        assert "botbox: stopped" in _tail(log)
        assert "restarting Dagster" not in log.read_text()  # a stop is never a crash
