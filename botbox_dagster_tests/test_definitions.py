"""The Definitions load and hold exactly the expected objects.

A snapshot: adding or removing an asset, check, job, schedule or sensor must update this file, so
the change shows in review.
"""

from __future__ import annotations

import dagster as dg

EXPECTED_ASSETS = {"candles", "fleet_status"}
EXPECTED_CHECKS = {
    "candles_fresh",
    "circuit_breakers_closed",
    "execution_failure_rate",
    "market_data_fresh",
    "no_rate_limit_violations",
    "orders_settled",
    "queue_depth",
    "rejection_rate",
    "signal_latency",
}
EXPECTED_JOBS = {
    "check_bot_job",
    "close_bot_job",
    "execute_trades_job",
    "fleet_status_job",
    "market_data_job",
    "pause_all_job",
    "resume_all_job",
    "signal_tick_job",
}
EXPECTED_SCHEDULES = {"fleet_status_schedule", "market_data_schedule", "signal_tick_schedule"}
EXPECTED_SENSORS = {"alert_sensor", "run_failure_alert_sensor", "trade_queue_sensor"}


def test_definitions_load_with_expected_objects(botbox_repository) -> None:  # type: ignore[no-untyped-def]
    repo = botbox_repository
    assets = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert assets == EXPECTED_ASSETS
    checks = {k.name for k in repo.asset_graph.asset_check_keys}
    assert checks == EXPECTED_CHECKS
    jobs = {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")}
    assert jobs == EXPECTED_JOBS
    assert {s.name for s in repo.schedule_defs} == EXPECTED_SCHEDULES
    assert {s.name for s in repo.sensor_defs} == EXPECTED_SENSORS


def test_every_operator_facing_object_is_documented(botbox_repository) -> None:  # type: ignore[no-untyped-def]
    repo = botbox_repository
    for spec in repo.asset_graph.get_all_asset_keys():
        node = repo.asset_graph.get(spec)
        assert node.description, f"asset {spec.to_user_string()} has no docstring"
    for schedule in repo.schedule_defs:
        assert schedule.description, f"schedule {schedule.name} has no docstring"
    for sensor in repo.sensor_defs:
        assert sensor.description, f"sensor {sensor.name} has no docstring"
    for job in repo.get_all_jobs():
        if not job.name.startswith("__"):
            assert job.description, f"job {job.name} has no description"


def test_schedules_and_sensors_run_by_default(botbox_repository) -> None:  # type: ignore[no-untyped-def]
    repo = botbox_repository
    for schedule in repo.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for sensor in repo.sensor_defs:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name
