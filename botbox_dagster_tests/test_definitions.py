"""The Definitions load and hold exactly the expected objects.

A snapshot: adding or removing an asset, check, job, schedule or sensor must update this file, so
the change shows in review.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

EXPECTED_ASSETS = {"candles", "fleet_status", "signals", "trade_queue", "orders", "positions"}
EXPECTED_CHECKS = {
    "candles_fresh",
    "circuit_breakers_closed",
    "execution_failure_rate",
    "market_data_fresh",
    "minute_loop_on_time",
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
    "retention_job",
    "signal_tick_job",
    "trading_minute_job",
}
EXPECTED_SCHEDULES = {"fleet_status_schedule", "retention_schedule", "trading_minute_schedule"}
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


# What an operator relies on, written out: each job's tags and ops (with their pools), each
# schedule's cron, each sensor's target and cadence, each health check's severity.
JOB_SNAPSHOT = {
    "check_bot_job": ({"botbox/layer": "signals"}, {"check_bot_now": None}),
    "close_bot_job": ({"botbox/layer": "controls"}, {"close_bot": None}),
    "execute_trades_job": (
        {"botbox/layer": "execution", "dagster/max_runtime": "300"},
        {"execute_trades": None},
    ),
    "fleet_status_job": (
        {"botbox/layer": "operations"},
        {"fleet_status": None, "fleet_health_checks": None},
    ),
    "market_data_job": (
        {"botbox/singleton": "market_data"},
        {"candles": None, "candles_candles_fresh": None},
    ),
    "pause_all_job": ({"botbox/layer": "controls"}, {"pause_all": None}),
    "resume_all_job": ({"botbox/layer": "controls"}, {"resume_all": None}),
    "retention_job": (
        {"botbox/layer": "operations", "botbox/singleton": "retention"},
        {"prune_dagster_runs": None, "prune_ledger_tables": None},
    ),
    "signal_tick_job": (
        {"botbox/singleton": "signal_tick", "botbox/layer": "signals"},
        {"plan_signal_tick": None, "evaluate_signal_shard": None, "summarize_signal_tick": None},
    ),
    "trading_minute_job": (
        {
            "botbox/singleton": "trading_minute",
            "botbox/layer": "signals",
            "dagster/max_runtime": "600",
        },
        {
            "refresh_candles": None,
            "monitor_open_positions": None,
            "plan_signal_tick": None,
            "evaluate_signal_shard": None,
            "summarize_signal_tick": None,
        },
    ),
}
SCHEDULE_SNAPSHOT = {
    "fleet_status_schedule": ("* * * * *", "fleet_status_job", "UTC"),
    "retention_schedule": ("17 * * * *", "retention_job", "UTC"),
    "trading_minute_schedule": ("* * * * *", "trading_minute_job", "UTC"),
}
SENSOR_SNAPSHOT = {
    "alert_sensor": 30,
    "run_failure_alert_sensor": 30,
    "trade_queue_sensor": 5,
}
CHECK_SEVERITY = {
    "circuit_breakers_closed": "ERROR",
    "no_rate_limit_violations": "ERROR",
    "execution_failure_rate": "ERROR",
    "orders_settled": "ERROR",
    "signal_latency": "WARN",
    "queue_depth": "WARN",
    "rejection_rate": "WARN",
    "market_data_fresh": "WARN",
    "minute_loop_on_time": "WARN",
}


def test_definitions_snapshot(botbox_repository) -> None:  # type: ignore[no-untyped-def]
    repo = botbox_repository
    jobs = {
        j.name: (dict(j.tags), {n.name: n.definition.pool for n in j.graph.nodes})
        for j in repo.get_all_jobs()
        if not j.name.startswith("__")
    }
    assert jobs == JOB_SNAPSHOT
    schedules = {
        s.name: (s.cron_schedule, s.job_name, s.execution_timezone) for s in repo.schedule_defs
    }
    assert schedules == SCHEDULE_SNAPSHOT
    assert {s.name: s.minimum_interval_seconds for s in repo.sensor_defs} == SENSOR_SNAPSHOT
    assert repo.get_sensor_def("trade_queue_sensor").job_name == "execute_trades_job"
    severity = {}
    for key in repo.asset_graph.asset_check_keys:
        if key.asset_key.to_user_string() == "fleet_status":
            description = repo.asset_graph.get_check_spec(key).description or ""
            severity[key.name] = description.rsplit("(", 1)[-1].split()[0]
    assert severity == CHECK_SEVERITY


def test_loading_the_definitions_never_touches_the_ledger(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A code location loads (the UI, every run process) without opening the ledger: with a
    ledger in place, any LedgerStore built during the import ends the process."""
    import os
    import subprocess
    import sys

    from botbox_dagster.adapters.ledger import LedgerStore

    home = tmp_path / "home"
    LedgerStore(home / "botbox.duckdb").exchange_accounts()  # a migrated ledger exists
    env = {**os.environ, "BOTBOX_HOME": str(home)}
    env.pop("BOTBOX_LEDGER", None)
    probe = (
        "import os\n"
        "from botbox_dagster.adapters.ledger import store\n"
        "store.LedgerStore.__init__ = lambda *a, **k: os._exit(3)\n"
        "import botbox_dagster.definitions\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_deployment_settings_enter_as_env_var_resources(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Nothing is baked into the definitions: each setting is a dg.EnvVar, resolved when a run
    # or sensor starts, from the variables `botbox serve` gives every Dagster process.
    from botbox_dagster.definitions import defs
    from botbox_dagster.settings import dagster_environment, load_settings

    fields = {
        "ledger": {"path": "BOTBOX_LEDGER"},
        "trading": {
            "live_trading": "BOTBOX_LIVE_TRADING",
            "breaker_open_seconds": "BOTBOX_BREAKER_OPEN_SECONDS",
        },
        "alerts": {"dashboard_url": "BOTBOX_DASHBOARD_URL"},
    }
    for resource, names in fields.items():
        for field, var in names.items():
            assert getattr(defs.resources[resource], field).env_var_name == var
    served = dagster_environment(load_settings({"BOTBOX_HOME": str(tmp_path / "elsewhere")}))
    assert set(served) >= {v for names in fields.values() for v in names.values()}
    for name, value in served.items():
        monkeypatch.setenv(name, value)
    ledger = defs.resources["ledger"].process_config_and_initialize()
    assert ledger.store().path == tmp_path / "elsewhere" / "botbox.duckdb"
    trading = defs.resources["trading"].process_config_and_initialize()
    assert trading.live_trading_enabled() is False  # paper unless the deployment says so
    assert trading.breaker_seconds() == 60.0
    alerts = defs.resources["alerts"].process_config_and_initialize()
    assert alerts.dashboard_url == "http://127.0.0.1:3001"


def test_a_wheel_install_keeps_state_outside_site_packages(tmp_path: Path) -> None:
    """Installed from a wheel, the package has no checkout above it: the instance config is the
    copy the wheel ships (pyproject's force-include) and state defaults to ~/.botbox."""
    import runpy
    import shutil
    import tomllib

    import botbox_dagster.settings as settings

    repo = Path(settings.__file__).resolve().parents[1]
    build = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    shipped = build["targets"]["wheel"]["force-include"]
    assert shipped == {
        "dagster.yaml": "botbox_dagster/instance/dagster.yaml",
        "workspace.yaml": "botbox_dagster/instance/workspace.yaml",
    }
    site = tmp_path / "site-packages"
    for source, target in shipped.items():
        (site / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / source, site / target)
    shutil.copy(settings.__file__, site / "botbox_dagster" / "settings.py")
    wheel = runpy.run_path(str(site / "botbox_dagster" / "settings.py"))
    assert wheel["REPO_ROOT"] is None
    assert wheel["instance_dir"]() == site / "botbox_dagster" / "instance"
    assert (wheel["workspace_file"]()).is_file()
    loaded = wheel["load_settings"]({})
    assert loaded.home == Path.home() / ".botbox"
    env = wheel["dagster_environment"](loaded)
    assert env["DAGSTER_HOME"] == str(site / "botbox_dagster" / "instance")
    # and in the checkout, the repository's own files
    assert settings.instance_dir() == repo and settings.workspace_file() == repo / "workspace.yaml"
