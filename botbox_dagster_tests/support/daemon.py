"""Run BotBox the way an operator does: the real Dagster daemon on the project's dagster.yaml.

Used by the end-to-end test and the latency benchmark. Everything lives in a temporary
``BOTBOX_HOME``; the daemon loads ``workspace.yaml`` (starting its own code server), so
schedules, sensors, the run queue, tag limits and pools all behave as in ``make demo``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.demo.run import demo_fleet_file
from botbox_dagster.settings import dagster_environment, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# Tight scalping stops so positions open and close within the few minutes a test runs.
TIGHT_SCALPING = {"extends": "scalping", "stop_loss": {"pct": 0.08}, "take_profit": {"pct": 0.08}}


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


def prepare_trading_demo(home: Path) -> None:
    """The demo (its replay recording and fleet) on ``home``, its 1m scalpers with tight stops
    and targets so that positions open and close within minutes."""
    botbox(home, "demo-prepare")
    fleet: dict[str, Any] = yaml.safe_load(demo_fleet_file().read_text())
    fleet["strategies"]["scalp-1m"] = TIGHT_SCALPING
    fleet_file = home / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet))
    botbox(home, "bots", "load", str(fleet_file))


def flat_paper_bots(store: LedgerStore) -> list[tuple[str, float, float, float]]:
    """(bot, capital, cash at the paper venue, realized P&L) of each bot with no open position
    and nothing queued or in flight. The venue's cash moves once per order it executes, so a
    flat bot's cash is its capital plus its realized P&L (after both fees, recorded per
    position, not per order); an order executed twice would move it twice."""
    return store.run(
        lambda c: c.execute(
            "SELECT b.id, b.capital, pb.balance, "
            "(SELECT coalesce(sum(realized_pnl), 0) FROM positions p WHERE p.bot_id = b.id) "
            "FROM bots b JOIN paper_balances pb ON pb.bot_id = b.id "
            "WHERE NOT EXISTS (SELECT 1 FROM positions p WHERE p.bot_id = b.id "
            "AND p.status = 'OPEN') "
            "AND NOT EXISTS (SELECT 1 FROM trade_queue q WHERE q.bot_id = b.id "
            "AND q.status IN ('PENDING', 'EXECUTING'))"
        ).fetchall()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_with_home(home: Path) -> dict[int, str]:
    """Live processes whose environment has ``BOTBOX_HOME=home``: PID -> command line."""
    entry = f"BOTBOX_HOME={home}".encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if entry in environ.split(b"\0"):  # a zombie's environ reads empty
            found[int(name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:160]
    return found


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
