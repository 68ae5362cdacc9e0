"""The minute loop's timeliness through the real Dagster daemon (prints figures, asserts nothing).

Runs the demo fleet as ``make demo`` does (dagster-daemon on the project's dagster.yaml, replayed
market data, paper execution) on a temporary BOTBOX_HOME for a few minutes, optionally beside
``--burn`` busy processes that take CPU from it, then prints every minute slot from the ledger's
``minute_slots`` table (README, "The minute loop" → Overload): when its run started and when its
tick finished after the minute began (start lag, tick lag), the minute it evaluated, and the
skipped slots with their reasons. The tests check what the loop does when it falls behind; how
far behind it falls on a machine is this script's figure.

    .venv/bin/python scripts/bench_minute_loop.py                  # 5 minutes
    .venv/bin/python scripts/bench_minute_loop.py --minutes 8 --burn 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.demo.run import demo_fleet_file
from botbox_dagster.domain.metrics import percentile
from botbox_dagster_tests.support.daemon import botbox, running_daemon


def _burn() -> None:  # pragma: no cover - a CPU hog until terminated
    while True:
        pass


def _secs(value: float | None, width: int = 0) -> str:
    return ("-" if value is None else f"{value:.1f} s").rjust(width)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--burn", type=int, default=0, help="busy processes beside BotBox")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botbox-bench-loop-") as tmp:
        home = Path(tmp) / "home"
        botbox(home, "demo-prepare")
        botbox(home, "bots", "load", str(demo_fleet_file()))
        burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burn)]
        for p in burners:
            p.start()
        try:
            with running_daemon(home):
                time.sleep(args.minutes * 60)
        finally:
            for p in burners:
                p.terminate()
                p.join()
        store = LedgerStore(home / "botbox.duckdb")
        rows = store.run(
            lambda c: c.execute(
                "SELECT slot, status, started_at, finished_at, evaluated_slot, reason "
                "FROM minute_slots ORDER BY slot"
            ).fetchall()
        )
    print(f"minute loop, demo fleet, {args.minutes:g} min, {args.burn} busy process(es) beside")
    print("  slot   status    start lag   tick lag  evaluated  reason")
    lags, starts = [], []
    for slot, status, started, finished, evaluated, reason in rows:
        start = (started - slot).total_seconds() if started else None
        lag = (finished - slot).total_seconds() if finished else None
        starts += [start] if start is not None else []
        lags += [lag] if lag is not None else []
        when = evaluated.strftime("%H:%M") if evaluated else "-"
        print(
            f"  {slot:%H:%M}  {status:<8}  {_secs(start, 9)}  {_secs(lag, 9)}  {when:>9}  "
            f"{reason or ''}"
        )
    skipped = sum(1 for r in rows if r[1] == "SKIPPED")
    stale = sum(1 for r in rows if r[4] is not None and r[4] > r[0])
    print(
        f"{len(rows)} slots: {skipped} skipped, {stale} stale; tick lag p50 "
        f"{_secs(percentile(lags, 0.5))}, p95 {_secs(percentile(lags, 0.95))}, max "
        f"{_secs(max(lags, default=None))}; start lag p95 {_secs(percentile(starts, 0.95))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
