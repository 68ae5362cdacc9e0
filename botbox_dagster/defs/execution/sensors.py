"""``trade_queue_sensor``: turns PENDING trade-queue rows into execution runs."""

from datetime import UTC, datetime

import dagster as dg

from botbox_dagster.defs.execution.jobs import EXCHANGE_TAG, execution_run_config
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.defs.runs import active_run_id, latest_run_id
from botbox_dagster.domain.validation import breaker_is_open, pause_active

# Each run it launches keeps polling its account's queue for this long after draining it, so the
# next minute's trades are executed by a warm run within a second or so of being queued instead
# of waiting for the sensor and a new process (README, "Execution"; the run ends by 240 s).
LINGER_SECONDS = 90.0


def build_trade_queue_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Every 5 s: for each exchange account with due PENDING rows (or EXECUTING rows left "
            "by a dead run), launch one execute_trades_job run tagged botbox/exchange=<account>, "
            "unless one is already queued or running for it. Each run keeps polling its queue for "
            f"{LINGER_SECONDS:.0f} s after draining it (a warm run for the next minute's trades). "
            "The run key names the account's "
            "newest run, so a re-evaluated tick never launches twice after one run, and rows "
            "left waiting by a run (paused, failed before claiming) always get the next one."
        ),
    )
    def trade_queue_sensor(
        context: dg.SensorEvaluationContext, ledger: LedgerResource
    ) -> dg.SensorResult | dg.SkipReason:
        now = datetime.now(UTC)
        work = ledger.store().pending_accounts(now)
        requests, waiting = [], []
        store = ledger.store()
        paused = pause_active(store.get_control("pause_all"), now)
        for account, info in sorted(work.items()):
            breaker = store.update_breaker(account, lambda row: (row, row))
            if breaker_is_open(breaker, now):
                # Runs would only release the rows again; the hold ends by itself.
                waiting.append(f"{account} ({info['pending']} pending, circuit open)")
                continue
            if paused and not info["closes"] and not info["executing"]:
                # Entries wait out a pause untouched (they expire by TTL): no run is owed.
                waiting.append(f"{account} ({info['pending']} entries held by the pause)")
                continue
            if active_run_id(context.instance, job.name, {EXCHANGE_TAG: account}):
                waiting.append(f"{account} ({info['pending']} pending, run active)")
                continue
            # No run is active, and due rows wait: a run is owed. Keyed by the newest run so
            # far, the key is new exactly once per finished run: it can never repeat while
            # rows wait (a key built from the rows would, when a run leaves them untouched).
            after = latest_run_id(context.instance, job.name, {EXCHANGE_TAG: account})
            requests.append(
                dg.RunRequest(
                    run_key=f"{account}:after:{after or 'none'}",
                    run_config=execution_run_config(account, linger_seconds=LINGER_SECONDS),
                    tags={EXCHANGE_TAG: account, "botbox/pending": str(info["pending"])},
                )
            )
        if not requests:
            return dg.SkipReason("; ".join(waiting) or "trade queue empty")
        return dg.SensorResult(run_requests=requests)

    return trade_queue_sensor
