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


def start_dashboard(host: str, port: int) -> subprocess.Popen[bytes]:
    """The operator dashboard (``botbox dashboard``) as a child process next to Dagster."""
    cmd = [str(Path(sys.executable).with_name("botbox")), "dashboard", "--host", host]
    return subprocess.Popen(
        [*cmd, "--port", str(port)],
        env={**os.environ, **dagster_environment()},
        cwd=instance_dir(),
        start_new_session=True,
    )


def serve(host: str, port: int, dashboard_port: int | None = None) -> int:
    """Run ``dagster dev`` (webserver, daemon, code server) until Ctrl-C or SIGTERM, and the
    operator dashboard beside it when ``dashboard_port`` is given."""
    env = {**os.environ, **dagster_environment()}
    dashboard = None
    if dashboard_port:
        env["BOTBOX_DASHBOARD_URL"] = f"http://{host}:{dashboard_port}"
        dashboard = start_dashboard(host, dashboard_port)
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
    child = subprocess.Popen(cmd, env=env, cwd=instance_dir(), start_new_session=True)
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
    print("botbox: stopped", flush=True)
    return 0 if stopping else (child.returncode or 0)


def main(host: str, port: int, dashboard_port: int | None = 3001) -> int:
    settings = load_settings()
    print(prepare(settings), flush=True)
    print(f"botbox: Dagster UI on http://{host}:{port} (state in {settings.home})", flush=True)
    if dashboard_port:
        print(f"botbox: operator dashboard on http://{host}:{dashboard_port}", flush=True)
    return serve(host, port, dashboard_port)
