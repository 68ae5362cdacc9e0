"""``execute_trades_job``: one exchange account's trade queue → orders, fills, positions.

The job routes to one op per exchange account known when the code location loaded, each in the
Dagster pool ``exchange-<account>`` (pools are fixed when an op is defined), plus a catch-all
branch for accounts added later (pool ``exchange-other``) until the code location is reloaded.
Only the chosen branch runs; the others are skipped and never take a pool slot.
"""

import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.exchanges.paper import PaperSettings
from botbox_dagster.adapters.executor import ExecutionSettings, Executor
from botbox_dagster.adapters.venues import live_venue, paper_venue
from botbox_dagster.defs.execution.config import ExecutionConfig
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.runs import IN_PROGRESS
from botbox_dagster.domain.circuit_breaker import BreakerConfig
from botbox_dagster.domain.validation import pause_active
from botbox_dagster.settings import load_settings

EXCHANGE_TAG = "botbox/exchange"
OTHER = "other"


def branch_name(account: str) -> str:
    """An op-name-safe name for an account; accounts that differ only in '-' vs '_' stay apart."""
    safe = re.sub(r"[^a-z0-9_]", "_", account)
    return safe if safe == account else f"{safe}_{zlib.crc32(account.encode()):08x}"


def _execute(
    context: dg.OpExecutionContext, ledger: LedgerResource, config: ExecutionConfig
) -> dg.Output:
    store = ledger.store()
    accounts = store.exchange_accounts()
    account = accounts.get(config.account)
    if account is None:
        raise dg.Failure(
            f"unknown exchange account {config.account!r} (known: {', '.join(accounts)})"
        )
    paper = paper_venue(store, account.id, PaperSettings(**config.paper.model_dump()))
    instance = context.instance

    def alive(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.status in IN_PROGRESS

    settings = load_settings()
    cooldown = settings.breaker_open_seconds
    executor = Executor(
        store,
        account.id,
        paper,
        live_venue(store, account),
        LedgerCircuitBreaker(
            store, account.id, BreakerConfig(open_seconds=cooldown, probe_timeout_seconds=60.0)
        ),
        ExecutionSettings(
            batch_size=config.batch_size,
            max_attempts=config.max_attempts,
            orphan_after_seconds=config.orphan_after_seconds,
            live_trading_enabled=settings.live_trading_enabled,
        ),
        context.run_id,
        alive,
        log=context.log.warning,
    )
    paused = pause_active(store.get_control("pause_all"), datetime.now(UTC))
    report = executor.run(closes_only=paused)
    for line in report.lines:
        context.log.info(line)
    lat = sorted(report.latencies)
    return dg.Output(
        None,
        metadata={
            "account": account.id,
            "fleet_paused": paused,
            "claimed": report.claimed,
            "filled": report.filled,
            "requeued": report.requeued,
            "expired": report.expired,
            "reconciled": report.reconciled,
            "released": report.released,
            "failed": sum(report.failed.values()),
            "cancelled": sum(report.cancelled.values()),
            "stopped_by": report.stopped_by or "",
            "queue_to_fill_p50_s": lat[len(lat) // 2] if lat else 0.0,
            "queue_to_fill_max_s": lat[-1] if lat else 0.0,
            "failures": dg.MetadataValue.md(
                "\n".join(f"- {k}: {v}" for k, v in report.failed.items()) or "none"
            ),
            "trades": dg.MetadataValue.md(
                "\n".join(f"- {x}" for x in report.lines[:200]) or "none"
            ),
        },
    )


def _branch_op(account: str, pool: str) -> dg.OpDefinition:
    @dg.op(
        name=f"execute_trades__{branch_name(account)}",
        pool=pool,
        description=(
            f"Execute the trade queue of exchange account '{account}' in pool '{pool}': expire stale "
            "rows, reconcile interrupted ones by client order id, then place orders "
            "(CLOSE first) through the shared rate limiter and circuit breaker."
            if account != OTHER
            else "Execute the queue of an account added after the code location loaded."
        ),
        tags={"botbox/layer": "execution"},
    )
    def execute_branch(
        context: dg.OpExecutionContext, ledger: LedgerResource, settings: dict
    ) -> dg.Output:
        return _execute(context, ledger, ExecutionConfig(**settings))

    return execute_branch


def build_execute_trades_job(accounts: list[str]) -> dg.JobDefinition:
    """The execution job with one pooled branch per known account."""
    names = sorted({branch_name(a): a for a in accounts}.items())
    branches = [*(n for n, _ in names), OTHER]

    @dg.op(
        out={b: dg.Out(dict, is_required=False) for b in branches},
        description="Choose the branch (and so the Dagster pool) of the configured account.",
    )
    def route_execution(config: ExecutionConfig) -> Iterator[dg.Output]:
        branch = branch_name(config.account)
        yield dg.Output(config.model_dump(), output_name=branch if branch in branches else OTHER)

    ops = {n: _branch_op(a, f"exchange-{a}") for n, a in names}
    ops[OTHER] = _branch_op(OTHER, "exchange-other")

    @dg.graph
    def execute_trades() -> None:
        routed = route_execution()
        handles = dict(zip(branches, routed, strict=True)) if len(branches) > 1 else {OTHER: routed}
        for name in branches:
            ops[name](handles[name])

    return execute_trades.to_job(
        name="execute_trades_job",
        description=(
            "Execute one exchange account's trade queue (launched by trade_queue_sensor, at most "
            "one run per account at a time). Paper settings are run config."
        ),
        config=dg.RunConfig(ops={"route_execution": ExecutionConfig()}),
        # Run monitoring fails a run past this (even one whose process was killed and cannot
        # say so), then frees its pool slot; without it a crashed run would block its account.
        tags={"botbox/layer": "execution", "dagster/max_runtime": "300"},
    )


def known_accounts() -> list[str]:
    """Exchange accounts in the ledger when the code location loads (none if it is absent)."""
    path = load_settings().ledger_path
    if not path.exists():
        return []
    try:
        from botbox_dagster.adapters.ledger import LedgerStore

        return sorted(LedgerStore(path, max_wait_seconds=10).exchange_accounts())
    except Exception as exc:  # a busy or broken ledger must not stop the UI from loading
        import logging

        logging.getLogger("botbox").warning("could not read exchange accounts: %s", exc)
        return []
