"""``botbox demo``: prepare the paper-trading demo and run Dagster until interrupted."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import FrameType

from botbox_dagster.adapters.fleet_file import load_fleet_file
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.supervision import (
    HomeLock,
    RestartBackoff,
    Supervisor,
    popen_dying_with_parent,
)
from botbox_dagster.demo.health import stack_components, stack_problem
from botbox_dagster.demo.recording import write_recording
from botbox_dagster.settings import (
    Settings,
    dagster_environment,
    instance_dir,
    load_settings,
    workspace_file,
)


def demo_fleet_file() -> Path:
    return Path(str(resources.files("botbox_dagster") / "demo" / "fleet.yaml"))


def prepare(settings: Settings) -> str:
    """Write the replay recording, load the demo fleet; return a one-line summary."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.dagster_storage.mkdir(parents=True, exist_ok=True)
    written = write_recording(settings.home / "replay")
    fleet = load_fleet_file(demo_fleet_file())
    report = LedgerStore(settings.ledger_path).load_fleet(fleet)
    return (
        f"demo fleet: {len(fleet.bots)} bots on {len(fleet.markets())} markets "
        f"({len(report.added)} added, {len(report.unchanged)} unchanged); "
        f"replay recording: {len(written)} files written to {settings.home / 'replay'}"
    )


def start_dashboard(
    host: str, port: int, supervisor: Supervisor | None = None
) -> subprocess.Popen[bytes]:
    """The operator dashboard (``botbox dashboard``) as a child process next to Dagster; it
    dies with this process (and, under ``supervisor``, with everything the supervisor started)."""
    cmd = [str(Path(sys.executable).with_name("botbox")), "dashboard", "--host", host]
    start = popen_dying_with_parent if supervisor is None else supervisor.popen
    return start(
        [*cmd, "--port", str(port)],
        env={**os.environ, **dagster_environment()},
        cwd=instance_dir(),
    )


# Restarts (README, "Guarantees"): a stack that is not healthy this long after it started, or
# that stays unhealthy this long once it was, is restarted; its health is asked this often.
START_SECONDS = 300.0
UNHEALTHY_SECONDS = 60.0
CHECK_SECONDS = 10.0


def serve(
    host: str, port: int, dashboard_port: int | None = None, home_lock: HomeLock | None = None
) -> int:
    """Run ``dagster dev`` (webserver, daemon, code server) until Ctrl-C or SIGTERM, and the
    operator dashboard beside it when ``dashboard_port`` is given.

    Every process started here ends when this one does, however it ends, and ``home_lock``
    stays held until they all have (botbox_dagster/adapters/supervision.py). When ``dagster
    dev`` or one of its processes dies, or the stack stops being healthy
    (botbox_dagster/demo/health.py), the stack is restarted with a backoff, never after Ctrl-C
    or SIGTERM."""
    with Supervisor(home_lock) as supervisor:
        return _serve(supervisor, host, port, dashboard_port)


def _say(text: str) -> None:
    print(f"botbox: {text}", flush=True)


class _Stack:
    """One ``dagster dev`` under the supervisor, watched until it dies or must be stopped."""

    def __init__(self, supervisor: Supervisor, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = supervisor.popen(cmd, env=env, cwd=instance_dir())
        self.started = time.monotonic()
        self.healthy_since: float | None = None
        self.problem_since: float | None = None
        self.components: dict[int, str] = {}
        self.lost: str | None = None  # the first component seen, then gone: "daemon (PID 1)"
        self.lost_at = 0.0

    def healthy_for(self) -> float:
        """How long the stack ran healthily before its problem began (or until now)."""
        if self.healthy_since is None:
            return 0.0
        return (self.problem_since or time.monotonic()) - self.healthy_since

    def look(self) -> None:
        now = stack_components(self.proc.pid)
        for pid, name in self.components.items():
            # The first to go is the one that died: dagster dev stops the others after it.
            if pid not in now and self.lost is None and self.proc.poll() is None:
                self.lost, self.lost_at = f"{name} (PID {pid})", time.monotonic()
                _say(f"the Dagster {self.lost} is gone")
        self.components = now

    def problem(self, host: str, port: int) -> str | None:
        """Why this stack must be restarted now, or None."""
        now = time.monotonic()
        problem = stack_problem(host, port)
        if problem is None:
            # The webserver may take a while to notice a lost code server: a loss is over once
            # the stack has answered healthy for a good while after it.
            if self.lost is not None and now - self.lost_at > 2 * UNHEALTHY_SECONDS:
                _say(f"the Dagster stack recovered by itself from the loss of {self.lost}")
                self.lost = None
            self.problem_since = None
            self.healthy_since = self.healthy_since or now
            return None
        if self.healthy_since is None:
            waited = now - self.started
            if waited < START_SECONDS:
                return None
            return f"the Dagster stack was not healthy {waited:.0f} s after it started: {problem}"
        self.problem_since = self.problem_since or now
        if now - self.problem_since < UNHEALTHY_SECONDS:
            return None
        died = f"the Dagster {self.lost} died and " if self.lost else ""
        return f"{died}the stack has been unhealthy for {UNHEALTHY_SECONDS:.0f} s: {problem}"

    def exit_reason(self) -> str:
        died = f"the Dagster {self.lost} died; " if self.lost else ""
        return f"{died}dagster dev exited unexpectedly (code {self.proc.returncode})"


def _serve(supervisor: Supervisor, host: str, port: int, dashboard_port: int | None) -> int:
    env = {**os.environ, **dagster_environment()}
    dashboard = None
    if dashboard_port:
        env["BOTBOX_DASHBOARD_URL"] = f"http://{host}:{dashboard_port}"
        dashboard = start_dashboard(host, dashboard_port, supervisor)
    cmd = [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-w",
        str(workspace_file()),
        "-h",
        host,
        "-p",
        str(port),
    ]
    stack = _Stack(supervisor, cmd, env)
    stopping = False
    backoff = RestartBackoff()

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            _say(f"{signal.Signals(signum).name} received, stopping Dagster...")
            with contextlib.suppress(OSError):
                stack.proc.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        reason = _watch(stack, supervisor, host, port, stop, lambda: stopping)
        if stopping:
            _stop_stack(stack, interrupt=False)  # stop() sent it SIGINT (a second aborts it)
            break
        delay = backoff.next_delay(stack.healthy_for())
        _say(f"{reason}; restarting Dagster in {delay:g} s (restart {backoff.restarts})")
        _stop_stack(stack)
        termed, killed = supervisor.stop_group(stack.proc.pid)
        if termed:
            _say(f"stopped {termed} processes the old stack left ({killed} needed SIGKILL)")
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            break
        stack = _Stack(supervisor, cmd, env)
        _say(f"Dagster restarted (dagster dev PID {stack.proc.pid})")
    if dashboard is not None:
        dashboard.terminate()
        try:
            dashboard.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dashboard.kill()
            dashboard.wait()
    # What dagster dev left (a run worker still going) is the watchdog's to stop.
    supervisor.close()
    _say("stopped")
    return 0


def _watch(
    stack: _Stack,
    supervisor: Supervisor,
    host: str,
    port: int,
    stop: Callable[[int, FrameType | None], None],
    stopping: Callable[[], bool],
) -> str:
    """Wait until ``stack`` must be restarted (the reason) or a stop was asked ("")."""
    last_look = last_check = time.monotonic()
    while not stopping():
        time.sleep(0.2)
        if stack.proc.poll() is not None:
            return stack.exit_reason()
        if not supervisor.watchdog_alive():
            # Without its watchdog the stack could outlive this process: stop it now.
            _say("the watchdog exited, stopping Dagster...")
            stop(signal.SIGTERM, None)
            return ""
        now = time.monotonic()
        if now - last_look >= 1.0:
            stack.look()
            last_look = now
        if now - last_check >= CHECK_SECONDS:
            if problem := stack.problem(host, port):
                return problem
            last_check = time.monotonic()
    return ""


def _stop_stack(stack: _Stack, interrupt: bool = True) -> None:
    """SIGINT to ``dagster dev`` (its clean shutdown), up to 30 s, then SIGKILL its group."""
    if interrupt:
        with contextlib.suppress(OSError):
            stack.proc.send_signal(signal.SIGINT)
    try:
        stack.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(stack.proc.pid, signal.SIGKILL)
        stack.proc.wait()


def main(
    host: str, port: int, dashboard_port: int | None = 3001, home_lock: HomeLock | None = None
) -> int:
    settings = load_settings()
    print(prepare(settings), flush=True)
    print(f"botbox: Dagster UI on http://{host}:{port} (state in {settings.home})", flush=True)
    if dashboard_port:
        print(f"botbox: operator dashboard on http://{host}:{dashboard_port}", flush=True)
    return serve(host, port, dashboard_port, home_lock)
