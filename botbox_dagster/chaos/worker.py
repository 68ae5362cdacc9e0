"""One execution pass for an account without Dagster: what a run's op does, in a bare process.

``python -m botbox_dagster.chaos.worker --account fake --run-id ID`` builds the account's venues
exactly as ``execute_trades_job`` does (``adapters/venues.py``) and runs the :class:`Executor`
once. It starts in ~1 s instead of a Dagster run's ~4 s, which is what lets the crash trials kill
it at random points many times within a test's budget. Prints the report as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.exchanges.paper import PaperSettings
from botbox_dagster.adapters.executor import ExecutionSettings, Executor
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.venues import live_venue, paper_venue
from botbox_dagster.domain.circuit_breaker import BreakerConfig
from botbox_dagster.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """Run one execution pass; exit 0 when it finished (whatever it did to the rows)."""
    parser = argparse.ArgumentParser(prog="python -m botbox_dagster.chaos.worker")
    parser.add_argument("--account", required=True)
    parser.add_argument("--run-id", default=f"worker-{os.getpid()}")
    parser.add_argument("--max-seconds", type=float, default=45.0)
    parser.add_argument("--retry-base-seconds", type=float, default=0.2)
    args = parser.parse_args(argv)
    settings = load_settings()
    store = LedgerStore(settings.ledger_path)
    account = store.exchange_accounts()[args.account]
    executor = Executor(
        store,
        account.id,
        paper_venue(store, account.id, PaperSettings()),
        live_venue(store, account, timeout_ms=5_000),
        LedgerCircuitBreaker(
            store, account.id, BreakerConfig(open_seconds=settings.breaker_open_seconds)
        ),
        ExecutionSettings(
            max_run_seconds=args.max_seconds,
            retry_base_seconds=args.retry_base_seconds,
            retry_cap_seconds=2.0,
            live_trading_enabled=settings.live_trading_enabled,
        ),
        args.run_id,
        # A bare worker knows no other live runs: whatever is EXECUTING is reconciled.
        lambda _run_id: False,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    report = executor.run()
    print(
        json.dumps(
            {
                "claimed": report.claimed,
                "filled": report.filled,
                "reconciled": report.reconciled,
                "requeued": report.requeued,
                "failed": dict(report.failed),
                "stopped_by": report.stopped_by,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
