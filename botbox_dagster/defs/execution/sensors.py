"""``trade_queue_sensor``: turns PENDING trade-queue rows into execution runs."""

import time
from datetime import UTC, datetime

import dagster as dg

from botbox_dagster.defs.execution.jobs import EXCHANGE_TAG
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.runs import active_run_id
from botbox_dagster.domain.validation import breaker_is_open


def build_trade_queue_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Every 5 s: for each exchange account with due PENDING rows (or EXECUTING rows left "
            "by a dead run), launch one execute_trades_job run tagged botbox/exchange=<account>, "
            "unless one is already queued or running for it. The run key fingerprints the batch "
            "(newest row id and last change), so a re-evaluated tick never launches it twice; "
            "rows that arrive while a run is active are taken by the next run."
        ),
    )
    def trade_queue_sensor(
        context: dg.SensorEvaluationContext, ledger: LedgerResource
    ) -> dg.SensorResult | dg.SkipReason:
        now = datetime.now(UTC)
        work = ledger.store().pending_accounts(now)
        requests, waiting = [], []
        store = ledger.store()
        for account, info in sorted(work.items()):
            breaker = store.update_breaker(account, lambda row: (row, row))
            if breaker_is_open(breaker, now):
                # Runs would only release the rows again; the hold ends by itself.
                waiting.append(f"{account} ({info['pending']} pending, circuit open)")
                continue
            if active_run_id(context.instance, job.name, {EXCHANGE_TAG: account}):
                waiting.append(f"{account} ({info['pending']} pending, run active)")
                continue
            # EXECUTING rows with no live run need a reconciling run even if nothing changed.
            retry_bucket = int(time.time() // 60) if info["executing"] else 0
            requests.append(
                dg.RunRequest(
                    run_key=f"{account}:{info['max_id']}:{info['stamp']}:{retry_bucket}",
                    run_config={"ops": {"route_execution": {"config": {"account": account}}}},
                    tags={EXCHANGE_TAG: account, "botbox/pending": str(info["pending"])},
                )
            )
        if not requests:
            return dg.SkipReason("; ".join(waiting) or "trade queue empty")
        return dg.SensorResult(run_requests=requests)

    return trade_queue_sensor
