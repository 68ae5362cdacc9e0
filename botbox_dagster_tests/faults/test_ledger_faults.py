"""The ledger out of reach: held by another process for longer than the lock timeout, and on a
full disk (README, "Guarantees").

Held: a real second process opens the DuckDB file and keeps a write transaction open (DuckDB
then refuses the file to every other process). Full: the ledger lives on a small tmpfs filled
to the last byte. Either way a ``trading_minute_job`` run and an ``execute_trades_job`` run fail
with a readable error (``LedgerBusyError`` naming the file, the time waited and the holder's PID;
DuckDB's "No space left on device" naming the file), write nothing (each unit of work is one
transaction), send nothing, and the runs after the release succeed and trade the queued row.
``run_failure_alert_sensor`` turns the failed run into an alert even though the ledger, where it
keeps its throttle, is out of reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.execution.jobs import (
    EXCHANGE_TAG,
    execute_trades_job,
    execution_run_config,
)
from botbox_dagster.defs.operations.resources import AlertsResource
from botbox_dagster.defs.operations.sensors import run_failure_alert_sensor
from botbox_dagster.defs.resources import LedgerResource, MarketDataResource, TradingResource
from botbox_dagster.defs.trading.minute import trading_minute_job
from botbox_dagster.services import alerting
from botbox_dagster_tests.support.daemon import botbox
from botbox_dagster_tests.support.receiver import receiver
from botbox_dagster_tests.support.trading import enqueue

pytestmark = pytest.mark.integration

WAIT = 2.0  # the runs' lock timeout (LedgerResource.max_wait_seconds), held for longer
TABLES = ("candles", "signals", "trade_queue", "orders", "fills", "positions", "minute_slots")

_HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1])
    conn.execute("BEGIN TRANSACTION")
    conn.execute("UPDATE bots SET name = name")
    print("held", flush=True)
    sys.stdin.read()  # until the test closes the pipe
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def held(path: Path) -> Iterator[int]:
    """Another process holds ``path`` (open, in a write transaction) until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


@pytest.fixture
def demo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    botbox(home, "demo-prepare")  # the demo fleet, on its replay recording
    monkeypatch.setenv("BOTBOX_HOME", str(home))  # where its replay_dir points
    # Alerts the ledger could not record are throttled per process: none sent yet.
    monkeypatch.setattr(alerting, "_UNRECORDED_SENT", {})
    return home


def _counts(store: LedgerStore) -> dict[str, int]:
    return store.run(
        lambda c: {t: int(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
    )


def _minute(ledger: Path, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return trading_minute_job.execute_in_process(
        resources={
            "ledger": LedgerResource(path=str(ledger), max_wait_seconds=WAIT),
            "market_data": MarketDataResource(request_timeout_ms=5000),
        },
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _alert_for(
    result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance, ledger: Path, url: str
) -> None:
    """What run_failure_alert_sensor does with the failed run, ``url`` its webhook."""
    failure = (
        instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        .records[0]
        .event_log_entry.dagster_event
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEST_FAULT_ALERT_HOOK", url)
        _sense(result, instance, ledger, failure)


def _sense(
    result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance, ledger: Path, failure: Any
) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={
            "ledger": LedgerResource(path=str(ledger), max_wait_seconds=WAIT),
            "alerts": AlertsResource(json_webhook_env="TEST_FAULT_ALERT_HOOK"),
        },
    ).for_run_failure()
    run_failure_alert_sensor(context)


def _execute(ledger: Path) -> dg.ExecuteInProcessResult:
    return execute_trades_job.execute_in_process(
        run_config=execution_run_config("paper"),
        resources={
            "ledger": LedgerResource(path=str(ledger), max_wait_seconds=WAIT),
            "trading": TradingResource(live_trading="false"),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={EXCHANGE_TAG: "paper"},
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run failed without a failed step"
    error: Any = failures[0].event_specific_data.error
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause  # the op's own exception, as the UI shows it below Dagster's
    return f"{error.cls_name}: {error.message}"


def _runs_fail_write_nothing_then_resume(ledger: Path, fault: Any, expected: list[str]) -> None:
    """Under ``fault`` (a context manager) both runs fail with ``expected`` in their error and
    write nothing; after it, both succeed and the queued row is traded."""
    store = LedgerStore(ledger)
    row = enqueue(store, "btc-scalper", symbol="BTC/USDT", size=0.001)
    before = _counts(store)

    instance = dg.DagsterInstance.ephemeral()
    with fault as holder, receiver() as hooks:
        minute = _minute(ledger, instance)
        execution = _execute(ledger)
        # The operator hears of it although the ledger cannot record the alert.
        _alert_for(minute, instance, ledger, hooks.url("/hook"))
        [alert] = hooks.bodies("/hook")
        assert alert["severity"] == "critical", alert
        assert alert["title"].startswith("run failed: trading_minute_job"), alert
        assert "the ledger could not record this alert" in alert["text"], alert
        for text in expected:
            assert text.format(holder=holder, ledger=ledger) in alert["text"], alert
    for result in (minute, execution):
        assert not result.success
        message = _failure(result)
        for text in expected:
            assert text.format(holder=holder, ledger=ledger) in message, message
    # Nothing partial: the runs wrote nothing at all, and the row was not claimed.
    assert _counts(store) == before
    status = store.run(
        lambda c: c.execute(f"SELECT status FROM trade_queue WHERE id = {row}").fetchone()
    )
    assert status[0] == "PENDING"

    # Released: the next runs succeed and the loop goes on where it stopped.
    assert _minute(ledger).success
    assert _execute(ledger).success
    assert _counts(store)["candles"] > before["candles"]
    final = store.run(
        lambda c: c.execute(f"SELECT status, reason FROM trade_queue WHERE id = {row}").fetchone()
    )
    assert final[0] in ("FILLED", "FAILED", "EXPIRED"), final
    orders = store.run(
        lambda c: c.execute(f"SELECT count(*) FROM orders WHERE queue_id = {row}").fetchone()
    )
    assert orders[0] == (1 if final[0] == "FILLED" else 0), (final, orders)


def test_a_ledger_held_past_the_lock_timeout_fails_runs_clearly_and_writes_nothing(
    demo_home: Path,
) -> None:
    ledger = demo_home / "botbox.duckdb"
    expected = ["LedgerBusyError: ledger {ledger} stayed locked for", "(PID {holder})"]
    _runs_fail_write_nothing_then_resume(ledger, held(ledger), expected)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def full(directory: Path) -> Iterator[None]:
    """``directory``'s file system has not a byte left until the block ends."""
    filler = directory / "filler"
    with filler.open("wb") as f, suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    try:
        yield None
    finally:
        filler.unlink()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mounts a tmpfs")
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_fails_runs_readably_writes_nothing_and_the_loop_resumes(
    demo_home: Path,
) -> None:
    with tmpfs(demo_home / "ledger", "48m") as mnt:
        ledger = mnt / "botbox.duckdb"
        shutil.copy(demo_home / "botbox.duckdb", ledger)
        expected = ["Could not write file", "{ledger}", "No space left on device"]
        _runs_fail_write_nothing_then_resume(ledger, full(mnt), expected)
