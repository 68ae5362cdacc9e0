"""Benchmark the signal tick: N ACTIVE bots on M markets, all due at once (prints figures).

For each fleet size it builds a fresh DuckDB ledger (the five strategy presets dealt round
robin, 320 stored bars of every timeframe per market), then measures:

- evaluation: claim + shard evaluation + commit called directly (no Dagster), wall and CPU,
  CPU per bot, and the split read / evaluate / commit;
- Dagster: the same tick through ``signal_tick_job.execute_in_process`` on an in-memory
  instance and on a SQLite instance on disk (what the daemon uses); overhead = run wall -
  evaluation wall.

Not a test: ``.venv/bin/python scripts/bench_signal_tick.py [--sizes 100:5,1000:50]``.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.signals.tick import signal_tick_job
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.fleet import parse_fleet
from botbox_dagster.domain.indicators import warm_up
from botbox_dagster.services.signal_tick import TickSettings, evaluate_shard, plan_tick
from botbox_dagster_tests.signal_helpers import random_walk

PRESETS = {
    "scalping": 1,
    "mean_reversion": 5,
    "trend_following": 15,
    "grid": 5,
    "funding_arbitrage": 60,
}


def build(path: Path, bots: int, markets: int, tick: datetime) -> LedgerStore:
    symbols = [f"M{i:02d}/USDT" for i in range(markets)]
    names = list(PRESETS)

    def preset(i: int) -> str:  # every market gets every preset (and so every timeframe)
        return names[(i + i // markets) % len(names)]

    doc = {
        "exchanges": {
            "paper": {
                "venue": "binance",
                "replay_dir": "/nonexistent",
                "max_open_positions": 10_000,
            }
        },
        "bots": [
            {
                "id": f"bot-{i:04d}",
                "strategy": preset(i),
                "exchange": "paper",
                "symbol": symbols[i % markets],
                "check_interval_minutes": PRESETS[preset(i)],
                "capital": 1000.0,
                "limits": {"max_correlated_positions": 100},
            }
            for i in range(bots)
        ],
    }
    store = LedgerStore(path)
    store.load_fleet(parse_fleet(doc, "bench"), now=tick)
    for m, symbol in enumerate(symbols):
        for k, tf in enumerate(("1m", "5m", "15m", "1h")):
            end = timeframes.floor(tick, tf)
            frame = random_walk(end, tf, 320, seed=100 * m + k, start_price=50.0 + m)
            store.upsert_candles("paper", symbol, tf, frame, source="bench", now=tick)
    return store


def reset(store: LedgerStore) -> None:
    def work(conn: object) -> None:
        conn.execute("UPDATE bots SET last_check_at = NULL")  # type: ignore[attr-defined]
        conn.execute("DELETE FROM trade_queue")  # type: ignore[attr-defined]
        conn.execute("DELETE FROM signals")  # type: ignore[attr-defined]

    store.run(work)


def direct(store: LedgerStore, tick: datetime, shards: int) -> dict[str, Any]:
    reset(store)
    cpu0, t0 = time.process_time(), time.perf_counter()
    plans = plan_tick(store, tick, TickSettings(shards=shards))
    t_plan = time.perf_counter() - t0
    reports = [evaluate_shard(store, p) for p in plans]
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    bots = sum(r.bots for r in reports)
    return {
        "bots": bots,
        "signals": sum(r.signals for r in reports),
        "accepted": sum(r.accepted for r in reports),
        "rejected": dict(sum((Counter(r.rejected_by_reason) for r in reports), Counter())),
        "wall": wall,
        "cpu": cpu,
        "cpu_ms_per_bot": 1000 * cpu / bots,
        "plan": t_plan,
        "read": sum(r.seconds["read"] for r in reports),
        "evaluate": sum(r.seconds["evaluate"] for r in reports),
        "commit": sum(r.seconds["commit"] for r in reports),
    }


def through_dagster(
    store: LedgerStore, tick: datetime, shards: int, instance: dg.DagsterInstance
) -> float:
    reset(store)
    started = time.perf_counter()
    result = signal_tick_job.execute_in_process(
        run_config={
            "ops": {
                "plan_signal_tick": {
                    "config": {
                        "tick_time": tick.isoformat(),
                        "max_wait_seconds": 0,
                        "shards": shards,
                    }
                }
            }
        },
        resources={"ledger": LedgerResource(path=str(store.path))},
        instance=instance,
    )
    assert result.success
    return time.perf_counter() - started


def fresh_process_warmup() -> float:
    code = "from botbox_dagster.domain.indicators import warm_up; print(warm_up())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100:5,100:50,1000:50", help="bots:markets,...")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warm_up()
    tick = timeframes.floor(datetime.now(UTC), "1m")
    print(f"tick {tick.isoformat()}, {args.shards} shards, best of {args.repeat}")
    print(f"numba warm-up in a fresh process (paid once per run): {fresh_process_warmup():.2f}s")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            bots, markets = (int(x) for x in size.split(":"))
            store = build(Path(tmp) / f"bench-{bots}-{markets}.duckdb", bots, markets, tick)
            runs = [direct(store, tick, args.shards) for _ in range(args.repeat)]
            d = min(runs, key=lambda r: r["wall"])
            with dg.DagsterInstance.ephemeral() as mem:
                mem_wall = min(
                    through_dagster(store, tick, args.shards, mem) for _ in range(args.repeat)
                )
            home = Path(tmp) / f"dagster-{bots}-{markets}"
            home.mkdir()
            with dg.instance_for_test(temp_dir=str(home)) as disk:
                disk_wall = min(
                    through_dagster(store, tick, args.shards, disk) for _ in range(args.repeat)
                )
            print(
                f"\n{bots} bots on {markets} markets: {d['signals']:.0f} signals, "
                f"{d['accepted']:.0f} accepted; rejected by reason: {d['rejected']}"
            )
            print(
                f"  evaluation (no Dagster): wall {d['wall']:.2f}s, CPU {d['cpu']:.2f}s "
                f"= {d['cpu_ms_per_bot']:.2f} ms/bot  [claim+plan {d['plan']:.2f}s, "
                f"read {d['read']:.2f}s, evaluate {d['evaluate']:.2f}s, commit {d['commit']:.2f}s]"
            )
            print(
                f"  Dagster run, in-memory instance: wall {mem_wall:.2f}s "
                f"(overhead {mem_wall - d['wall']:.2f}s)"
            )
            print(
                f"  Dagster run, SQLite instance on disk: wall {disk_wall:.2f}s "
                f"(overhead {disk_wall - d['wall']:.2f}s)"
            )


if __name__ == "__main__":
    main()
