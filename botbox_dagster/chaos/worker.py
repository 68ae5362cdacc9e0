"""One execution pass for an account without Dagster: what a run's op does, in a bare process.

``python -m botbox_dagster.chaos.worker --account fake --run-id ID`` builds the account's executor
exactly as ``execute_trades_job`` does (``services/execution.py``) and runs the :class:`Executor`
once. It starts in ~1 s instead of a Dagster run's ~4 s, which is what lets the crash trials kill
it at random points many times within a test's budget. Prints the report as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from botbox_dagster.adapters.exchanges.paper import PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.services.execution import build_executor
from botbox_dagster.services.executor import ExecutionSettings
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
    executor = build_executor(
        store,
        args.account,
        run_id=args.run_id,
        # A bare worker knows no other live runs: whatever is EXECUTING is reconciled.
        alive=lambda _run_id: False,
        settings=ExecutionSettings(
            max_run_seconds=args.max_seconds,
            retry_base_seconds=args.retry_base_seconds,
            retry_cap_seconds=2.0,
        ),
        paper=PaperSettings(),
        breaker_open_seconds=settings.breaker_open_seconds,
        live_trading_enabled=settings.live_trading_enabled,
        live_timeout_ms=5_000,
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
