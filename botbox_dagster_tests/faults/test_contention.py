"""Ledger contention: Dagster runs, the sensor, the CLI and a signal writer on one DuckDB file.

For ~30 s: a writer process queues trades (as the signal tick does) and records every id it
committed; two Dagster execution runs at a time execute them; the trade-queue sensor is evaluated
through ``dagster sensor preview``; the CLI reads status and pauses/resumes a bot. Afterwards no
committed write is missing, the file opens and every table reads, the last CLI change stands,
no process gave up on the lock (LedgerBusyError) and every logged lock wait is under the bound.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.chaos import runs
from botbox_dagster.chaos.queue import rows
from botbox_dagster.chaos.world import chaos_world
from botbox_dagster.settings import instance_dir

SECONDS = 30
WRITER = """
import sys, time
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.chaos.queue import enqueue
from botbox_dagster.settings import load_settings
store = LedgerStore(load_settings().ledger_path)
bots = sys.argv[1].split(",")
symbols = sys.argv[2].split(",")
end = time.monotonic() + float(sys.argv[3])
n = 0
while time.monotonic() < end:
    i = n % len(bots)
    # A fresh bot id per row: every insert is a new PENDING row (executions cancel them).
    row = enqueue(store, f"ghost-{n:05d}", symbols[i], "LONG", f"bb-cont-{n:05d}", ttl_seconds=5)
    if row is not None:
        print(row, flush=True)
    n += 1
    time.sleep(0.05)
print("max_wait", store.connector.stats.max_wait_seconds)
"""
TABLES = ("bots", "trade_queue", "orders", "fills", "positions", "rate_limit_buckets")


@pytest.mark.integration
def test_runs_sensor_cli_and_writer_share_the_ledger_without_losing_writes(
    tmp_path: Path,
) -> None:
    with chaos_world(bots=20) as w:
        bots = sorted(w.bots)
        writer_out = tmp_path / "writer.out"
        with writer_out.open("w") as out:
            writer = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WRITER,
                    ",".join(bots),
                    ",".join(w.bots[b] for b in bots),
                    str(SECONDS),
                ],
                env=w.env,
                cwd=instance_dir(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + SECONDS
        procs: list[subprocess.Popen[bytes]] = []
        cli_log = w.log_path("cli").open("ab")
        sensor_log = w.log_path("sensor")
        sensor = None
        paused = False
        n = 0
        while time.monotonic() < end:
            procs = [p for p in procs if p.poll() is None]
            if len(procs) < 2:
                procs.append(runs.start_execute_run(w.env, w.log_path(f"run-{n}")))
                n += 1
            if sensor is None or sensor.poll() is not None:
                with sensor_log.open("ab") as log:
                    sensor = subprocess.Popen(
                        [
                            runs.tool("dagster"),
                            "sensor",
                            "preview",
                            "trade_queue_sensor",
                            "-m",
                            "botbox_dagster.definitions",
                        ],
                        env=w.env,
                        cwd=instance_dir(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
            command = "resume" if paused else "pause"
            subprocess.run(
                [runs.tool("botbox"), "bots", command, bots[0]],
                env=w.env,
                check=True,
                stdout=cli_log,
                stderr=subprocess.STDOUT,
            )
            paused = not paused
            subprocess.run(
                [runs.tool("botbox"), "status", "--json"],
                env=w.env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=cli_log,
            )
        assert writer.wait(timeout=60) == 0, writer_out.read_text()[-2000:]
        for p in [*procs, sensor]:
            if p is not None:
                p.wait(timeout=180)
        cli_log.close()

        committed = {int(x) for x in re.findall(r"^(\d+)$", writer_out.read_text(), re.M)}
        assert len(committed) > 50
        store = LedgerStore(w.home / "botbox.duckdb")
        stored = {r["id"] for r in rows(store, "SELECT id FROM trade_queue")}
        assert committed <= stored, f"lost writes: {sorted(committed - stored)[:10]}"
        for table in TABLES:
            rows(store, f"SELECT count(*) FROM {table}")
        status = rows(store, "SELECT status FROM bots WHERE id = ?", [bots[0]])[0]["status"]
        assert status == ("PAUSED" if paused else "ACTIVE")
        logs = "\n".join(p.read_text(errors="replace") for p in (w.home / "logs").glob("*.log"))
        assert "LedgerBusyError" not in logs
        waits = [float(x) for x in re.findall(r"waited ([\d.]+)s for the lock", logs)]
        assert all(wait < 30 for wait in waits), waits
