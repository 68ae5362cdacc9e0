"""BotBox's Dagster definitions: assembled here, defined under ``defs/``."""

from __future__ import annotations

import dagster as dg

from botbox_dagster.defs.execution.controls import close_bot_job, pause_all_job, resume_all_job
from botbox_dagster.defs.execution.jobs import execute_trades_job
from botbox_dagster.defs.execution.sensors import build_trade_queue_sensor
from botbox_dagster.defs.market_data.assets import candles
from botbox_dagster.defs.market_data.checks import candles_fresh
from botbox_dagster.defs.market_data.jobs import market_data_job
from botbox_dagster.defs.operations.assets import fleet_status
from botbox_dagster.defs.operations.checks import fleet_health_checks
from botbox_dagster.defs.operations.jobs import fleet_status_job, fleet_status_schedule
from botbox_dagster.defs.operations.resources import operations_resources
from botbox_dagster.defs.operations.retention import retention_job, retention_schedule
from botbox_dagster.defs.operations.sensors import alert_sensor, run_failure_alert_sensor
from botbox_dagster.defs.resources import default_resources
from botbox_dagster.defs.signals.check import check_bot_job
from botbox_dagster.defs.signals.tick import signal_tick_job
from botbox_dagster.defs.trading.minute import trading_minute_job, trading_minute_schedule
from botbox_dagster.defs.trading.tables import TRADING_TABLES

defs = dg.Definitions(
    assets=[candles, *TRADING_TABLES, fleet_status],
    asset_checks=[candles_fresh, fleet_health_checks],
    jobs=[
        trading_minute_job,
        market_data_job,
        signal_tick_job,
        check_bot_job,
        execute_trades_job,
        pause_all_job,
        resume_all_job,
        close_bot_job,
        fleet_status_job,
        retention_job,
    ],
    schedules=[trading_minute_schedule, fleet_status_schedule, retention_schedule],
    sensors=[
        build_trade_queue_sensor(execute_trades_job),
        alert_sensor,
        run_failure_alert_sensor,
    ],
    resources={**default_resources(), **operations_resources()},
    # Steps run in the run's own process: ~0.1 s a step instead of ~2 s for a spawned one.
    executor=dg.in_process_executor,
)
