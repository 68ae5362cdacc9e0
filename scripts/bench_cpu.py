"""CPU the demo fleet costs per minute: every BotBox and Dagster process, measured (prints figures).

Runs ``botbox serve`` (``dagster dev``: webserver, daemon, code server, and the run processes the
daemon launches) on a temporary BOTBOX_HOME with the demo fleet on replayed market data, lets it
warm up, then reads the CPU time (user + system, from /proc/PID/stat) of every process whose
environment carries that BOTBOX_HOME at the start and the end of the window. A process that ends
inside the window is counted through its parent's ``cutime``/``cstime`` once the parent reaps it,
so short-lived run processes are included.

    .venv/bin/python scripts/bench_cpu.py                    # 2 min warm-up, 5 min measured
    .venv/bin/python scripts/bench_cpu.py --paused           # the fleet paused: nothing trades
    .venv/bin/python scripts/bench_cpu.py --warmup 1 --minutes 3
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster_tests.support.daemon import botbox, botbox_env

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role(cmdline: str) -> str:
    """Which part of the stack a process is, from its command line."""
    for needle, name in (
        # the code server starts each run in a multiprocessing "spawn" child
        ("spawn_main", "run processes"),
        ("execute_run", "run processes"),
        ("execute_step", "run processes"),
        ("api grpc", "code server"),
        ("dagster-webserver", "webserver"),
        ("dagster_webserver", "webserver"),
        ("dagster-daemon", "daemon"),
        ("dagster_daemon", "daemon"),
        ("dashboard", "dashboard"),
        ("dagster dev", "dagster dev"),
        ("dagster\x00dev", "dagster dev"),
    ):
        if needle in cmdline:
            return name
    return "other: " + " ".join(Path(a).name for a in cmdline.split()[:4])


def sample(home: Path, *, children: bool = True) -> dict[int, tuple[str, float]]:
    """pid -> (role, CPU seconds, with its reaped children's unless ``children`` is False) of
    every process on ``home``."""
    token = f"BOTBOX_HOME={home}".encode()
    out: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
            if token not in env.split(b"\x00"):
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\x00", b" ").decode()
        except OSError:  # gone, or not ours to read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the command)
        cpu = sum(int(x) for x in fields[11 : 15 if children else 13]) / TICKS
        out[int(entry)] = (role(cmd), cpu)
    return out


def runs_started(storage: Path, since: float, until: float) -> int:
    db = storage / "history" / "runs.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM runs WHERE create_timestamp >= datetime(?, 'unixepoch') "
            "AND create_timestamp < datetime(?, 'unixepoch')",
            [since, until],
        ).fetchone()
    return int(rows[0])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before measuring")
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes measured")
    parser.add_argument("--paused", action="store_true", help="pause the fleet (nothing trades)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botbox-cpu-") as tmp:
        home = Path(tmp) / "home"
        botbox(home, "demo-prepare")
        if args.paused:
            botbox(home, "pause-all", "--reason", "bench_cpu: idle fleet", "--minutes", "600")
        env = botbox_env(home)
        port = free_port()
        env["BOTBOX_DASHBOARD_URL"] = "http://127.0.0.1:1"  # no dashboard in this measurement
        log = open(home / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("botbox")), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                    break
                except OSError:
                    time.sleep(2)
            else:
                print("the webserver did not answer in 300 s; see", home / "serve.log")
                return 1
            print(f"serving on port {port}; warming up {args.warmup:g} min ...", flush=True)
            time.sleep(args.warmup * 60)
            t0, before = time.time(), sample(home)
            print(f"measuring {args.minutes:g} min ...", flush=True)
            # Run processes are short-lived: poll them so their own share can be told apart
            # from the code server's (which reaps them and so also counts them).
            runs_cpu: dict[int, float] = {}
            while time.time() < t0 + args.minutes * 60:
                for pid, (name, cpu) in sample(home, children=False).items():
                    if name == "run processes" and pid not in before:
                        runs_cpu[pid] = cpu
                time.sleep(0.5)
            t1, after = time.time(), sample(home)
            runs = runs_started(home / "dagster", t0, t1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
        store = LedgerStore(home / "botbox.duckdb")
        bots, filled = store.run(
            lambda c: (
                c.execute("SELECT count(*) FROM bots WHERE status = 'ACTIVE'").fetchone()[0],
                c.execute(
                    "SELECT count(*) FROM orders WHERE status = 'FILLED' "
                    "AND epoch(created_at) >= ? AND epoch(created_at) < ?",
                    [t0, t1],
                ).fetchone()[0],
            )
        )
    minutes = (t1 - t0) / 60
    by_role: dict[str, float] = defaultdict(float)
    for pid, (name, cpu) in after.items():
        by_role[name] += cpu - (before[pid][1] if pid in before else 0.0)
    for pid, (name, cpu) in before.items():
        if pid not in after:
            # ended and reaped: its time is in its parent's cutime at the end, not here
            by_role[name] -= cpu
    total = sum(by_role.values())
    # what the run processes used, as last polled, moves from their parent's line to theirs
    polled = sum(runs_cpu.values())
    by_role["code server"] -= polled
    by_role["run processes"] += polled
    print(
        f"fleet: {bots} active bots{' (paused)' if args.paused else ''}; window {minutes:.1f} min; "
        f"runs started {runs} ({runs / minutes:.1f}/min); orders filled {filled}"
    )
    if runs:
        print(f"CPU per run process: {polled / len(runs_cpu) if runs_cpu else 0:.1f} s")
    print(f"{'process':<40} {'CPU s/min':>10}")
    for name, cpu in sorted(by_role.items(), key=lambda kv: -kv[1]):
        print(f"{name:<40} {cpu / minutes:10.2f}")
    print(
        f"{'total':<40} {total / minutes:10.2f}  ({100 * total / (minutes * 60):.0f}% of one core)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
