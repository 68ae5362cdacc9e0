"""``botbox demo``: prepare the paper-trading demo and run Dagster until interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from types import FrameType

from botbox_dagster.adapters.fleet_file import load_fleet_file
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.supervision import HomeLock, Supervisor, popen_dying_with_parent
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


def serve(
    host: str, port: int, dashboard_port: int | None = None, home_lock: HomeLock | None = None
) -> int:
    """Run ``dagster dev`` (webserver, daemon, code server) until Ctrl-C or SIGTERM, and the
    operator dashboard beside it when ``dashboard_port`` is given.

    Every process started here ends when this one does, however it ends, and ``home_lock``
    stays held until they all have (botbox_dagster/adapters/supervision.py)."""
    with Supervisor(home_lock) as supervisor:
        return _serve(supervisor, host, port, dashboard_port)


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
    child = supervisor.popen(cmd, env=env, cwd=instance_dir())
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print(
                f"\nbotbox: {signal.Signals(signum).name} received, stopping Dagster...", flush=True
            )
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while child.poll() is None:
        time.sleep(0.2)
        if not stopping and not supervisor.watchdog_alive():
            # Without its watchdog the stack could outlive this process: stop it now.
            print("botbox: the watchdog exited, stopping Dagster...", flush=True)
            stop(signal.SIGTERM, None)
        if stopping:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    if dashboard is not None:
        dashboard.terminate()
        try:
            dashboard.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dashboard.kill()
            dashboard.wait()
    # What dagster dev left (a run worker still going) is the watchdog's to stop.
    supervisor.close()
    print("botbox: stopped", flush=True)
    return 0 if stopping else (child.returncode or 0)


def main(
    host: str, port: int, dashboard_port: int | None = 3001, home_lock: HomeLock | None = None
) -> int:
    settings = load_settings()
    print(prepare(settings), flush=True)
    print(f"botbox: Dagster UI on http://{host}:{port} (state in {settings.home})", flush=True)
    if dashboard_port:
        print(f"botbox: operator dashboard on http://{host}:{dashboard_port}", flush=True)
    return serve(host, port, dashboard_port, home_lock)
