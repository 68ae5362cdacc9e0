"""The orchestrator's own faults: the Dagster daemon, the code server and the webserver of a
``botbox serve`` stack SIGKILLed while runs are in progress (README, "Guarantees").

One stack for the module, trading the demo fleet on replay data with paper fills; the
components are killed one after the other, each while a run is going. After each kill the
supervisor restarts the stack by itself and a new ``trading_minute_job`` run succeeds; the runs
that were going end (the killed ones FAILURE with a message, which the run-failure sensor turns
into an alert); at the end no queue row is lost and no trade was made twice, counted at the
paper venue (each flat bot's cash is its capital plus its realized P&L; one fill per order).

Deadlines are generous and polled: nothing here asserts how fast anything is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.chaos.runs import init_instance
from botbox_dagster.settings import instance_dir
from botbox_dagster_tests.support.daemon import (
    botbox_env,
    flat_paper_bots,
    free_port,
    prepare_trading_demo,
    processes_with_home,
    wait_until,
)
from botbox_dagster_tests.support.receiver import Receiver, receiver

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads /proc and relies on Linux signals"
    ),
]

BOTBOX = str(Path(sys.executable).with_name("botbox"))
START_TIMEOUT = 300  # `dagster dev` takes 20-60 s to start on a loaded 2-core machine
BACK_TIMEOUT = 420  # restart (backoff, stop of the old stack, new start) + a minute run
FINAL = {"FILLED", "FAILED", "EXPIRED", "CANCELLED"}
IN_PROGRESS = ("STARTING", "STARTED", "CANCELING")


@dataclass
class Stack:
    home: Path
    log: Path
    proc: subprocess.Popen[bytes]
    store: LedgerStore
    alerts: Receiver
    instance: Any  # dagster.DagsterInstance on the stack's storage
    killed_runs: list[str] = field(default_factory=list)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def component(self, marker: str) -> int | None:
        pids = [pid for pid, cmd in processes_with_home(self.home).items() if marker in cmd]
        return min(pids) if pids else None

    def runs(self, job: str | None = None, since: float = 0.0) -> list[Any]:
        from dagster import RunsFilter

        records = self.instance.get_run_records(
            filters=RunsFilter(job_name=job) if job else None, limit=200
        )
        return [r for r in records if (r.start_time or r.create_timestamp.timestamp()) >= since]

    def minute_run_succeeded_since(self, since: float) -> bool:
        return any(
            r.dagster_run.status.value == "SUCCESS" and (r.start_time or 0) > since
            for r in self.runs("trading_minute_job", since)
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("orchestrator") / "home"
    prepare_trading_demo(home)
    log = home.parent / "serve.log"
    out: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed below
    env = botbox_env(home)
    with receiver() as alerts, pytest.MonkeyPatch.context() as mp:
        env["BOTBOX_ALERT_WEBHOOK_URL"] = alerts.url("/alerts")
        for key in ("DAGSTER_HOME", "BOTBOX_DAGSTER_STORAGE", "BOTBOX_HOME"):
            mp.setenv(key, env[key])
        from dagster import DagsterInstance

        # This process reads the stack's storage: create it first (processes that open a
        # fresh SQLite instance at once race to stamp its schema).
        init_instance(env)
        instance = DagsterInstance.from_config(str(instance_dir()))
        proc = subprocess.Popen(
            [BOTBOX, "serve", "--port", str(free_port())],
            env=env,
            cwd=home.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        s = Stack(home, log, proc, LedgerStore(home / "botbox.duckdb"), alerts, instance)
        try:
            started = time.time()
            assert wait_until(
                lambda: proc.poll() is None and s.minute_run_succeeded_since(started),
                timeout=START_TIMEOUT,
                interval=2,
            ), f"no minute run succeeded after the start:\n{s.tail()}"
            yield s
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pid in processes_with_home(home):
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            instance.dispose()
            out.close()


def _kill_mid_run(s: Stack, marker: str, what: str) -> None:
    """SIGKILL the stack's ``marker`` process while a run is going; then the stack must come
    back by itself, the supervisor must say what died and that it restarts, and the runs that
    were going must end (the killed ones FAILURE with a message)."""
    deadline = time.monotonic() + 240
    while True:
        going = [
            r for r in s.runs(since=time.time() - 600) if r.dagster_run.status.value == "STARTED"
        ]
        if going:
            break
        assert time.monotonic() < deadline, f"no run in progress to kill {what} under"
        time.sleep(0.3)
    pid = s.component(marker)
    assert pid is not None, f"no {what} process:\n{s.tail()}"
    offset = len(s.log.read_bytes())
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    ids = [r.dagster_run.run_id for r in going]
    s.killed_runs.extend(ids)

    def said() -> list[str]:
        text = s.log.read_bytes()[offset:].decode(errors="replace")
        return [line for line in text.splitlines() if line.startswith("botbox: ")]

    assert wait_until(
        lambda: any("restarting Dagster in" in line for line in said()),
        timeout=BACK_TIMEOUT,
        interval=2,
    ), f"the supervisor did not restart the stack after the {what} was killed:\n{s.tail()}"
    assert any(f"{what} (PID {pid})" in line for line in said()), said()
    assert wait_until(
        lambda: s.minute_run_succeeded_since(killed_at), timeout=BACK_TIMEOUT, interval=2
    ), f"no minute run succeeded after the {what} was killed:\n{s.tail()}"
    assert s.proc.poll() is None, s.tail()

    def ended() -> bool:
        runs = [s.instance.get_run_by_id(run_id) for run_id in ids]
        return all(run is not None and run.status.value not in IN_PROGRESS for run in runs)

    # A run that lost its worker is failed by run monitoring (every 30 s) once the new
    # daemon runs.
    assert wait_until(ended, timeout=BACK_TIMEOUT, interval=2), (
        [s.instance.get_run_by_id(i).status for i in ids],
        s.tail(),
    )


@pytest.mark.parametrize(
    ("marker", "what"),
    [
        ("-m dagster._daemon run", "daemon"),
        ("dagster api grpc", "code server"),
        ("-m dagster_webserver", "webserver"),
    ],
)
def test_a_killed_component_is_restarted_and_the_loop_resumes(
    stack: Stack, marker: str, what: str
) -> None:
    _kill_mid_run(stack, marker, what)


def _failure_message(s: Stack, run_id: str) -> str:
    from dagster import DagsterEventType

    events = s.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    return " ".join(e.message for e in events)


def test_killed_runs_are_visible_and_no_trade_is_lost_or_duplicated(stack: Stack) -> None:
    s = stack
    assert s.killed_runs, "no run was going at any kill"
    failed = [
        run_id
        for run_id in s.killed_runs
        if s.instance.get_run_by_id(run_id).status.value == "FAILURE"
    ]
    assert failed, "no run that was going at a kill failed: the kills proved nothing"
    for run_id in failed:
        assert _failure_message(s, run_id).strip(), f"run {run_id} failed without a message"
    # The run-failure sensor turned the failures into alerts.
    assert wait_until(
        lambda: any("run failed" in str(b.get("title")) for b in s.alerts.bodies("/alerts")),
        timeout=240,
        interval=2,
    ), (s.alerts.posts, s.tail())

    # No row lost: each is final with a reason, PENDING within its TTL (a little slack for the
    # next execution run, which expires it), or being executed.
    def rows_accounted_for() -> list[Any]:
        slack = datetime.now(UTC) - timedelta(seconds=90)
        rows = s.store.run(
            lambda c: c.execute(
                "SELECT id, status, reason, expires_at, direction FROM trade_queue"
            ).fetchall()
        )
        return [
            r
            for r in rows
            if not (
                (r[1] in FINAL and r[2])
                # CLOSE rows never expire: they protect capital.
                or (r[1] == "PENDING" and (r[3] > slack or r[4] == "CLOSE"))
                or r[1] == "EXECUTING"
            )
        ]

    assert wait_until(lambda: not rows_accounted_for(), timeout=180, interval=3), (
        rows_accounted_for()
    )
    # Wait for the rows in flight to settle before counting at the venue.
    assert wait_until(
        lambda: _count(s.store, "SELECT count(*) FROM trade_queue WHERE status = 'EXECUTING'") == 0,
        timeout=240,
        interval=2,
    )
    filled = _count(s.store, "SELECT count(*) FROM trade_queue WHERE status = 'FILLED'")
    assert filled >= 1, "nothing traded: the fleet proved nothing"
    # One order per queue row, one fill per paper order.
    assert (
        _count(
            s.store,
            "SELECT count(*) FROM (SELECT queue_id FROM orders GROUP BY queue_id "
            "HAVING count(*) > 1)",
        )
        == 0
    )
    assert (
        _count(
            s.store,
            "SELECT count(*) FROM (SELECT order_id FROM fills GROUP BY order_id "
            "HAVING count(*) > 1)",
        )
        == 0
    )
    # At the paper venue: a flat bot's cash moved once per order it executed, so it is its
    # capital plus the realized P&L of its closed positions.
    flat_bots = flat_paper_bots(s.store)
    for bot_id, capital, balance, pnl in flat_bots:
        assert balance == pytest.approx(capital + pnl, abs=1e-9), bot_id


def _count(store: LedgerStore, sql: str) -> int:
    return int(store.run(lambda c: c.execute(sql).fetchone()[0]))
