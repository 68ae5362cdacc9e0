"""``execute_trades_job``: one exchange account's trade queue → orders, fills, positions.

One static job for every account: the account comes from run config, and the run carries the
tag ``botbox/exchange=<account>``, on which the instance's run queue allows one run at a time
per account (``dagster.yaml``, ``tag_concurrency_limits``). Adding an account to the fleet
needs no code-location reload, and loading the definitions never touches the ledger. Two runs
of one account that bypass the queue (``dagster job execute``, a mislabelled launch) still
never send a row twice or pass the rate limit: rows are claimed in the ledger, and the rate
budget is shared there by every process (docs/architecture.md, Execution).
"""

import time
from datetime import UTC, datetime

import dagster as dg

from botbox_dagster.adapters.exchanges.paper import PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.execution.config import ExecutionConfig
from botbox_dagster.defs.resources import LedgerResource, TradingResource
from botbox_dagster.defs.runs import IN_PROGRESS
from botbox_dagster.domain.validation import pause_active
from botbox_dagster.services.execution import UnknownAccountError, build_executor
from botbox_dagster.services.executor import ExecutionReport, ExecutionSettings, Executor

EXCHANGE_TAG = "botbox/exchange"
EXECUTE_OP = "execute_trades"


def execution_run_config(account: str, **config: object) -> dict[str, object]:
    """Run config of ``execute_trades_job`` for one account."""
    return {"ops": {EXECUTE_OP: {"config": {"account": account, **config}}}}


@dg.op(
    name=EXECUTE_OP,
    description=(
        "Execute the configured exchange account's trade queue: expire stale entries, "
        "reconcile interrupted rows by client order id, then place orders (CLOSE first) "
        "through the account's shared rate limiter and circuit breaker."
    ),
    tags={"botbox/layer": "execution"},
)
def execute_trades(
    context: dg.OpExecutionContext,
    config: ExecutionConfig,
    ledger: LedgerResource,
    trading: TradingResource,
) -> dg.Output:
    tagged = context.run.tags.get(EXCHANGE_TAG)
    if tagged is not None and tagged != config.account:
        raise dg.Failure(
            f"run tagged {EXCHANGE_TAG}={tagged} but configured for account "
            f"{config.account!r}: the tag is what limits each account to one run"
        )
    if tagged is None:
        context.log.warning(
            f"no {EXCHANGE_TAG} tag: this run is not held to one run per account by the run "
            "queue (rows are still claimed once and the rate budget is still shared)"
        )
    store = ledger.store()
    instance = context.instance

    def alive(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.status in IN_PROGRESS

    try:
        executor = build_executor(
            store,
            config.account,
            run_id=context.run_id,
            alive=alive,
            settings=ExecutionSettings(
                batch_size=config.batch_size,
                max_attempts=config.max_attempts,
                orphan_after_seconds=config.orphan_after_seconds,
            ),
            paper=PaperSettings(**config.paper.model_dump()),
            breaker_open_seconds=trading.breaker_seconds(),
            live_trading_enabled=trading.live_trading_enabled(),
            log=context.log.warning,
        )
    except UnknownAccountError as exc:
        raise dg.Failure(str(exc)) from exc
    began = time.monotonic()
    report, paused = _drain_and_linger(context, store, executor, config)
    lifetime = time.monotonic() - began
    for line in report.lines:
        context.log.info(line)
    lat = sorted(report.latencies)
    if report.claimed or report.reconciled or report.expired:
        # What the run wrote, on the ledger tables' assets (lineage from the queue to fills).
        context.log_event(
            dg.AssetMaterialization(
                asset_key="orders",
                metadata={"account": config.account, "filled": report.filled},
            )
        )
        context.log_event(
            dg.AssetMaterialization(
                asset_key="positions",
                metadata={"account": config.account, "trades": report.filled},
            )
        )
    return dg.Output(
        None,
        metadata={
            "account": config.account,
            "fleet_paused": paused,
            "linger_seconds": config.linger_seconds,
            "executing_for_s": round(lifetime, 1),
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


def _drain_and_linger(
    context: dg.OpExecutionContext, store: LedgerStore, executor: Executor, config: ExecutionConfig
) -> tuple[ExecutionReport, bool]:
    """Drain the account's queue; then, with ``linger_seconds``, keep polling it and execute
    each new row as it comes, until no row has come for ``linger_seconds``, the run reaches
    ``max_lifetime_seconds``, or a pass stopped (an open circuit). The pause is read before
    every pass. Returns the report of every pass and whether the last pass ran paused."""
    born = time.monotonic()
    paused = pause_active(store.get_control("pause_all"), datetime.now(UTC))
    report = executor.run(closes_only=paused)
    last_work = time.monotonic()
    while config.linger_seconds > 0 and not report.stopped_by:
        now = time.monotonic()
        if now - last_work >= config.linger_seconds or now - born >= config.max_lifetime_seconds:
            break
        time.sleep(config.poll_seconds)
        due = store.pending_accounts(datetime.now(UTC)).get(config.account)
        if not due:
            continue
        paused = pause_active(store.get_control("pause_all"), datetime.now(UTC))
        if paused and not due["closes"] and not due["executing"]:
            continue  # only entries, held by the pause: nothing this run may do
        before = (report.claimed, report.reconciled, report.expired)
        report = executor.run(closes_only=paused)
        if (report.claimed, report.reconciled, report.expired) != before:
            last_work = time.monotonic()
            context.log.info(f"lingering: {report.claimed} claimed, {report.filled} filled so far")
    return report, paused


@dg.job(
    name="execute_trades_job",
    description=(
        "Execute one exchange account's trade queue (launched by trade_queue_sensor with the "
        "tag botbox/exchange=<account>, at most one run per account at a time). Config: the "
        "account, batch and retry settings, and the paper fill model's settings."
    ),
    config=dg.RunConfig(ops={EXECUTE_OP: ExecutionConfig()}),
    # Run monitoring fails a run past this (even one whose process was killed and cannot say
    # so); without it a crashed run would hold its account's run slot.
    tags={"botbox/layer": "execution", "dagster/max_runtime": "300"},
)
def execute_trades_job() -> None:
    execute_trades()
