"""Candle close → order filled latency through the real Dagster daemon (prints figures).

Runs BotBox as `make demo` does (dagster-daemon on the project's dagster.yaml, replayed market
data, paper execution) on a temporary BOTBOX_HOME for a few minutes, then reads the ledger:
for every order filled from a signal, the time from the close of the candle the signal was
computed on to the fill, split into stages (close → signal logged → queued → filled).

    .venv/bin/python scripts/bench_latency.py                 # the demo fleet, 6 minutes
    .venv/bin/python scripts/bench_latency.py --bots 200 --minutes 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.demo.run import demo_fleet_file
from botbox_dagster_tests.support.daemon import botbox, running_daemon, wait_until


def scaled_fleet(bots: int) -> dict[str, Any]:
    fleet: dict[str, Any] = yaml.safe_load(demo_fleet_file().read_text())
    base = fleet["bots"]
    if bots <= len(base):
        fleet["bots"] = base[:bots]
        return fleet
    out = []
    for i in range(bots):
        bot = dict(base[i % len(base)])
        bot["id"] = f"{bot['id']}-{i // len(base)}"
        bot["name"] = f"{bot['name']} #{i // len(base)}"
        out.append(bot)
    fleet["bots"] = out
    return fleet


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


# The tick that evaluated a signal started at the close of the minute it ran in: that 1m candle
# close is where the clock starts (a bot checked for the first time may use an older bar of its
# own timeframe, which says nothing about the pipeline's speed).
STAGES_SQL = """
SELECT
  epoch(s.evaluated_at) - epoch(date_trunc('minute', s.evaluated_at)),
  epoch(q.created_at) - epoch(s.evaluated_at),
  epoch(o.created_at) - epoch(q.created_at),
  epoch(o.created_at) - epoch(date_trunc('minute', s.evaluated_at))
FROM orders o
JOIN trade_queue q ON q.client_order_id = o.client_order_id
JOIN signals s ON s.id = q.signal_id
WHERE o.status = 'FILLED'
  -- the first tick is a cold start (3 days of history seeded for every market): steady state only
  AND date_trunc('minute', s.evaluated_at) > (SELECT min(date_trunc('minute', evaluated_at)) FROM signals)
"""


# Where the minute run's time goes: its first step's start and its tick's end, after the minute
# (the first slot excluded, as above).
SLOTS_SQL = """
SELECT epoch(started_at) - epoch(slot), epoch(finished_at) - epoch(slot)
FROM minute_slots
WHERE started_at IS NOT NULL AND finished_at IS NOT NULL
  AND slot > (SELECT min(slot) FROM minute_slots)
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bots", type=int, default=0, help="0 = the demo fleet as shipped")
    parser.add_argument("--minutes", type=float, default=6.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botbox-latency-") as tmp:
        home = Path(tmp) / "home"
        botbox(home, "demo-prepare")
        if args.bots:
            fleet_file = home / "fleet.yaml"
            fleet_file.write_text(yaml.safe_dump(scaled_fleet(args.bots)))
            botbox(home, "bots", "load", str(fleet_file))
        store = LedgerStore(home / "botbox.duckdb")
        bots = store.run(lambda c: c.execute("SELECT count(*) FROM bots").fetchone()[0])
        print(
            f"fleet: {bots} bots; running the daemon for {args.minutes:g} minutes ...", flush=True
        )
        with running_daemon(home):
            wait_until(lambda: False, timeout=args.minutes * 60, interval=10)
        rows = store.run(lambda c: c.execute(STAGES_SQL).fetchall())
        slots = store.run(lambda c: c.execute(SLOTS_SQL).fetchall())
        runs = store.run(lambda c: c.execute("SELECT count(*) FROM orders").fetchone()[0])
    if not rows:
        print("no order was filled from a signal: nothing to measure")
        return 1
    columns = list(zip(*rows, strict=True))
    names = [
        "candle close -> signal logged",
        "signal -> queued",
        "queued -> filled",
        "candle close -> filled",
    ]
    print(f"orders filled: {runs} ({len(rows)} from signals after the first tick)")
    print(f"{'stage':<32} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
    for name, values in zip(names, columns, strict=True):
        vals = [float(v) for v in values]
        print(
            f"{name:<32} {percentile(vals, 0.5):8.1f} {percentile(vals, 0.95):8.1f} {max(vals):8.1f}"
        )
    if slots:
        starts, ends = ([float(v) for v in col] for col in zip(*slots, strict=True))
        print(f"minute runs: {len(slots)} after the first")
        for name, vals in (("minute -> run's first step", starts), ("minute -> tick done", ends)):
            print(
                f"{name:<32} {percentile(vals, 0.5):8.1f} {percentile(vals, 0.95):8.1f} "
                f"{max(vals):8.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
