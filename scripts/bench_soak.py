"""Soak benchmark of retention: N simulated days of the demo fleet's storage growth (prints figures).

1. Capture: in a temporary BOTBOX_HOME, the demo fleet (25 paper bots, 6 replayed markets) runs
   its real jobs once on a SQLite Dagster instance on disk: a ``trading_minute_job`` run (after a
   first one that seeds the markets' history, the next minute's), a ``fleet_status_job`` run and
   an ``execute_trades_job`` run. What each run wrote is measured: its events (count, bytes of
   its event-log file) and, for the minute run, the ledger rows it added (signals, exchange
   calls, candles).
2. Soak: an accelerated clock replays that minute ``--days`` days long, twice, into two fresh
   storages (Dagster instance and ledger), one with retention and one without. Every simulated
   minute stores a copy of each captured run (new run id, the same events restamped at the
   simulated time, through Dagster's own storage calls; ``--execution-every`` minutes for the
   execution run) and, per simulated hour, the ledger rows of those minutes (the captured
   counts, shaped like the real ones: REJECTED signals, fetch calls, 1m bars and their
   resampled 5m/15m/1h bars). With retention, ``delete_expired_runs`` and ``prune_ledger``
   (the functions ``retention_job`` runs) run every simulated hour at the simulated time.

Retention windows are shortened so that a two-day soak shows the plateau: successful runs and
untraded signals / exchange calls are kept ``--keep-days`` (0.5), 1-minute candles 1 day (the
floor). The figures scale: at the defaults (2 days of runs, 7 of signals), the plateau is that
window times the per-day growth printed here.

Not a test: ``.venv/bin/python scripts/bench_soak.py [--days 2] [--keep-days 0.5]``.
"""

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry

MINUTE = timedelta(minutes=1)
PRUNED = ("signals", "exchange_calls", "candles")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def new_instance(folder: Path) -> dg.DagsterInstance:
    """A SQLite instance on disk laid out like BotBox's (storage: sqlite: base_dir)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(
        f"storage:\n  sqlite:\n    base_dir: {folder / 'storage'}\ntelemetry:\n  enabled: false\n"
    )
    return dg.DagsterInstance.from_config(str(folder))


@dataclass
class RunTemplate:
    job_name: str
    tags: dict[str, str]
    events: list[EventLogEntry]
    shard: Path  # a copy of the run's event-log file

    @property
    def shard_bytes(self) -> int:
        return self.shard.stat().st_size


@dataclass
class Capture:
    runs: dict[str, RunTemplate]
    rows_per_minute: dict[str, int]
    seconds: float


def table_counts(store: Any) -> dict[str, int]:
    def work(conn: Any) -> dict[str, int]:
        out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in PRUNED}
        out["candles_1m"] = conn.execute(
            "SELECT count(*) FROM candles WHERE timeframe = '1m'"
        ).fetchone()[0]
        return out

    return store.run(work)


def capture(home: Path, wait: bool) -> Capture:
    """Run the demo fleet's jobs for real and keep what their runs wrote."""
    started = time.perf_counter()
    os.environ["BOTBOX_HOME"] = str(home)
    os.environ.pop("BOTBOX_LEDGER", None)
    from botbox_dagster.settings import dagster_environment

    os.environ.update(dagster_environment())  # what `botbox serve` gives every Dagster process
    from botbox_dagster.adapters.fleet_file import load_fleet_file
    from botbox_dagster.adapters.ledger import LedgerStore
    from botbox_dagster.definitions import defs
    from botbox_dagster.defs.execution.jobs import execution_run_config
    from botbox_dagster.demo.recording import write_recording
    from botbox_dagster.demo.run import demo_fleet_file

    write_recording(home / "replay")
    store = LedgerStore(home / "botbox.duckdb")
    store.load_fleet(load_fleet_file(demo_fleet_file()))
    instance = new_instance(home / "dagster")
    minute_job = defs.resolve_job_def("trading_minute_job")
    assert minute_job.execute_in_process(instance=instance).success  # seeds 3 days of bars
    if wait:  # the next minute: one new bar per market, the 1m bots due again
        time.sleep(61 - datetime.now(UTC).second)
    before = table_counts(store)
    minute = minute_job.execute_in_process(instance=instance)
    after = table_counts(store)
    status = defs.resolve_job_def("fleet_status_job").execute_in_process(instance=instance)
    execute = defs.resolve_job_def("execute_trades_job").execute_in_process(
        instance=instance, run_config=execution_run_config("paper")
    )
    runs = {}
    for name, result in (("minute", minute), ("status", status), ("execute", execute)):
        assert result.success, name
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        events = list(instance.all_logs(result.run_id))
        shard = home / f"{name}-run.db"
        shutil.copyfile(instance.event_log_storage.path_for_shard(result.run_id), shard)  # type: ignore[attr-defined]
        runs[name] = RunTemplate(run.job_name, dict(run.tags), events, shard)
    rows = {t: after[t] - before[t] for t in (*PRUNED, "candles_1m")}
    instance.dispose()
    return Capture(runs, rows, time.perf_counter() - started)


class Arm:
    """One soak: a Dagster instance and a ledger, with or without retention."""

    def __init__(self, folder: Path, retention: bool, markets: list[str]):
        from botbox_dagster.adapters.ledger import LedgerStore

        self.folder = folder
        self.retention = retention
        self.instance = new_instance(folder / "dagster")
        self.storage = self.instance.event_log_storage
        self.store = LedgerStore(folder / "botbox.duckdb")
        self.markets = markets
        self.initial = self.sizes()
        self.deleted_runs = 0
        self.deleted_rows = 0
        self.retention_seconds = 0.0

    def add_run(self, template: RunTemplate, at: datetime) -> None:
        """A finished run as the captured one left it in storage, at simulated time ``at``: its
        run record (created, then started and ended through Dagster's status events), its
        event-log file (the captured file, byte for byte), and the events Dagster mirrors into
        the cross-run index (asset, check and status events, restamped with the new run id)."""
        run_id = str(uuid.uuid4())
        self.instance.add_run(
            dg.DagsterRun(job_name=template.job_name, run_id=run_id, tags=template.tags)
        )
        shutil.copyfile(template.shard, self.storage.path_for_shard(run_id))  # type: ignore[attr-defined]
        self.storage._initialized_dbs.add(run_id)  # type: ignore[attr-defined]
        t0 = template.events[0].timestamp
        mirrored = [
            e._replace(run_id=run_id, timestamp=at.timestamp() + e.timestamp - t0)
            for e in template.events
            if self._indexed(e)
        ]
        with self.storage.index_connection() as conn:  # type: ignore[attr-defined]
            for event in mirrored:
                conn.execute(self.storage.prepare_insert_event(event))  # type: ignore[attr-defined]
        # The run record takes its final status (and so its age) from the run's last status
        # event; the intermediate ones rewrite the same row.
        last = [e for e in mirrored if e.get_dagster_event().is_job_event][-1]
        self.instance.run_storage.handle_run_event(
            run_id, last.get_dagster_event(), datetime.fromtimestamp(last.timestamp, UTC)
        )

    @staticmethod
    def _indexed(event: EventLogEntry) -> bool:
        if not event.is_dagster_event:
            return False
        kind = event.dagster_event_type
        return (
            kind in ASSET_EVENTS
            or kind in ASSET_CHECK_EVENTS
            or kind in EVENT_TYPE_TO_PIPELINE_RUN_STATUS
        )

    def add_ledger_hour(self, start: datetime, rows: dict[str, int]) -> None:
        """An hour of the minute loop's ledger writes, in the captured counts per minute."""
        minutes = [start + i * MINUTE for i in range(60)]
        signals = [
            (
                f"soak-{uuid.uuid4().hex}",
                f"bot-{j:02d}",
                "scalp-1m",
                "paper",
                self.markets[j % len(self.markets)],
                "1m",
                "LONG",
                m - MINUTE,
                100.0,
                0.42,
                '{"rsi": {"value": 48.1, "score": 0.1, "weight": 1.0, "contribution": 0.1}}',
                "RANGING",
                "REJECTED",
                "regime not allowed: RANGING",
                m + timedelta(seconds=3),
                m + timedelta(seconds=3),
            )
            for m in minutes
            for j in range(rows["signals"])
        ]
        calls = [
            ("paper", "fetch_ohlcv", 2, "ok", None, m + timedelta(seconds=1))
            for m in minutes
            for _ in range(rows["exchange_calls"])
        ]

        def work(conn: Any) -> None:
            if signals:
                conn.executemany(
                    "INSERT INTO signals (signal_hash, bot_id, strategy_id, exchange, symbol, "
                    "timeframe, direction, candle_time, price, score, contributions, regime, "
                    "status, reason, evaluated_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    signals,
                )
            if calls:
                conn.executemany(
                    "INSERT INTO exchange_calls (account, purpose, weight, outcome, detail, "
                    "called_at) VALUES (?, ?, ?, ?, ?, ?)",
                    calls,
                )

        self.store.run(work)
        index = pd.DatetimeIndex(minutes) - MINUTE
        frame = pd.DataFrame(
            {c: 100.0 for c in ("open", "high", "low", "close")} | {"volume": 1.0}, index=index
        )
        for symbol in self.markets:
            self.store.upsert_candles("paper", symbol, "1m", frame, source="soak", now=start)
            self.store.resample_candles(
                "paper", symbol, ["5m", "15m", "1h"], start=index[0], end=start + 60 * MINUTE
            )

    def apply_retention(self, now: datetime, keep_days: float) -> None:
        from botbox_dagster.defs.operations.retention import delete_expired_runs
        from botbox_dagster.services.retention import RetentionPolicy, prune_ledger

        t = time.perf_counter()
        policy = RetentionPolicy(
            success_days=keep_days,
            failure_days=keep_days,
            backfill_days=keep_days,
            untraded_signals_days=keep_days,
            exchange_calls_days=keep_days,
            candles_1m_days=1.0,
        )
        self.deleted_runs += delete_expired_runs(
            self.instance, policy, now, max_runs=100_000
        ).deleted
        results = prune_ledger(self.store, policy, self.folder / "archive", now)
        self.deleted_rows += sum(r.rows_deleted for r in results)
        self.retention_seconds += time.perf_counter() - t

    def sizes(self) -> tuple[int, int, int]:
        runs = self.instance.get_runs_count()
        return dir_bytes(self.folder / "dagster"), self.store.path.stat().st_size, runs


@dataclass
class SoakResult:
    rows: list[tuple[float, int, int, int]]  # (hour, Dagster bytes, ledger bytes, runs)
    initial: tuple[int, int, int]
    deleted_runs: int
    deleted_rows: int
    retention_seconds: float
    seconds: float


def soak(
    folder: Path, retention: bool, cap: Capture, args: argparse.Namespace, runs: bool = True
) -> SoakResult:
    """One arm of the soak: ``--days`` of simulated minutes (``runs=False``: the ledger only)."""
    from botbox_dagster.demo.recording import DEMO_MARKETS

    t0 = time.perf_counter()
    arm = Arm(folder, retention, [m.symbol for m in DEMO_MARKETS])
    minutes = int(args.days * 1440)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=args.days)
    report_every = int(args.report_hours * 60)
    rows: list[tuple[float, int, int, int]] = []
    for i in range(minutes):
        at = start + i * MINUTE
        if i % 60 == 0:
            arm.add_ledger_hour(at, cap.rows_per_minute)
        if runs:
            arm.add_run(cap.runs["minute"], at + timedelta(seconds=1))
            arm.add_run(cap.runs["status"], at + timedelta(seconds=2))
            if i % args.execution_every == 0:
                arm.add_run(cap.runs["execute"], at + timedelta(seconds=20))
        if retention and i % 60 == 59:
            arm.apply_retention(at + MINUTE, args.keep_days)
        if (i + 1) % report_every == 0 or i + 1 == minutes:
            rows.append(((i + 1) / 60, *arm.sizes()))
            if runs and retention:
                hour, dagster, _ledger, count = rows[-1]
                print(
                    f"  ... hour {hour:.0f}: {dagster / 1e6:.0f} MB, {count} runs, "
                    f"{time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    arm.instance.dispose()
    return SoakResult(
        rows,
        arm.initial,
        arm.deleted_runs,
        arm.deleted_rows,
        arm.retention_seconds,
        time.perf_counter() - t0,
    )


def extrapolate(w: SoakResult, keep_days: float) -> list[tuple[float, float, int]]:
    """The storage without retention: until the first retention pass that can delete anything
    (after ``keep_days``) it is the measured one, byte for byte; after it, nothing would shrink
    and every simulated hour adds the same runs and rows, so it grows on at the rate measured
    before (checked against a measured run with ``--measure-without``)."""
    before = [r for r in w.rows if r[0] <= keep_days * 24]
    if not before:
        raise SystemExit("--report-hours must be at most --keep-days * 24 to extrapolate")
    hour, dagster, ledger, runs = before[-1]
    rates = [(x - y) / hour for x, y in zip((dagster, ledger, runs), w.initial, strict=True)]
    # (the ledger's file grows by whole blocks: its extrapolation is rough; main measures it)
    out = []
    for r in w.rows:
        if r[0] <= hour:
            out.append((float(r[1]), float(r[2]), r[3]))
        else:
            extra = r[0] - hour
            out.append(
                (
                    dagster + rates[0] * extra,
                    ledger + rates[1] * extra,
                    round(runs + rates[2] * extra),
                )
            )
    return out


def mb(n: float) -> str:
    return f"{n / 1e6:8.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=float, default=2.0, help="simulated days (2)")
    parser.add_argument("--keep-days", type=float, default=0.5, help="retention window (0.5)")
    parser.add_argument(
        "--execution-every", type=int, default=5, help="an execution run every N minutes (5)"
    )
    parser.add_argument("--report-hours", type=float, default=6.0, help="print every N hours")
    parser.add_argument("--no-wait", action="store_true", help="capture without the 1-min wait")
    parser.add_argument(
        "--measure-without",
        action="store_true",
        help="fill a second storage without retention (in a parallel process) instead of "
        "extrapolating it; about twice the work",
    )
    parser.add_argument(
        "--dir",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="where the storages go (default /dev/shm: sizes are the same, fsyncs are free)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="botbox-soak-", dir=args.dir) as tmp:
        root = Path(tmp)
        cap = capture(root / "capture", wait=not args.no_wait)
        print(f"capture ({cap.seconds:.0f} s): one run of each job on the demo fleet, SQLite")
        for t in cap.runs.values():
            kinds = sum(1 for e in t.events if e.is_dagster_event)
            print(
                f"  {t.job_name:22s} {len(t.events):3d} events ({kinds} Dagster events), "
                f"event-log file {t.shard_bytes / 1e3:.0f} kB"
            )
        rows = cap.rows_per_minute
        print(
            f"  ledger rows per minute: {rows['signals']} signals, {rows['exchange_calls']} "
            f"exchange calls, {rows['candles_1m']} 1m candles ({rows['candles']} with resampled)"
        )
        runs_a_day = 2 * 1440 + 1440 // args.execution_every
        print(
            f"\nsoak: {args.days:g} simulated days of {runs_a_day} runs a day; retention every "
            f"simulated hour (runs, untraded signals, exchange calls kept {args.keep_days:g} d, "
            "1m candles 1 d)"
        )
        sys.stdout.flush()
        if args.measure_without:
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
                futures = {
                    name: pool.submit(soak, root / name, name == "with", cap, args)
                    for name in ("with", "without")
                }
                w, wo = futures["with"].result(), futures["without"].result()
            without: list[tuple[float, float, int]] = [
                (float(r[1]), float(r[2]), r[3]) for r in wo.rows
            ]
            label = "measured"
        else:
            w = soak(root / "with", True, cap, args)
            ledger = soak(root / "without", False, cap, args, runs=False)
            without = [
                (d, float(lr[2]), n)
                for (d, _l, n), lr in zip(extrapolate(w, args.keep_days), ledger.rows, strict=True)
            ]
            label = f"ledger measured; Dagster extrapolated after hour {args.keep_days * 24:g}"
        print(
            f"  hour | Dagster MB with / without | runs with / without | ledger MB with / "
            f"without   (without: {label})"
        )
        for a, b in zip(w.rows, without, strict=True):
            print(
                f"  {a[0]:4.0f} | {mb(a[1])} / {mb(b[0])}   | {a[3]:6d} / {b[2]:6d}"
                f"     | {mb(a[2])} / {mb(b[1])}"
            )
        per_day = [(a, b) for a, b in zip(w.rows, without, strict=True) if a[0] % 24 == 0]
        if per_day:
            print("\nend of day | Dagster MB with / without | ledger MB with / without")
            for a, b in per_day:
                print(
                    f"  day {a[0] / 24:.0f}    | {mb(a[1])} / {mb(b[0])}   | {mb(a[2])} / {mb(b[1])}"
                )
        days = w.rows[-1][0] / 24
        print(
            f"\nwithout retention: Dagster storage +{(without[-1][0] - w.initial[0]) / 1e6 / days:.0f}"
            f" MB a day, ledger +{(without[-1][1] - w.initial[1]) / 1e6 / days:.1f} MB a day"
        )
        print(
            f"with retention: {w.deleted_runs} runs and {w.deleted_rows} ledger rows deleted in "
            f"{w.retention_seconds:.1f} s over {int(args.days * 24)} hourly passes; the soak "
            f"took {w.seconds:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
