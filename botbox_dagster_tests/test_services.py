"""The service layer: one implementation of each fleet control, whoever calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.cli import EXIT_CONFIG, main
from botbox_dagster.services.controls import fleet_paused, pause_fleet, resume_fleet

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_pause_is_one_record_whoever_writes_it(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    value = pause_fleet(
        store, " incident ", minutes=30, source="dashboard", by="dashboard", now=NOW
    )
    assert value == {
        "paused": True,
        "reason": "incident",
        "until": (NOW + timedelta(minutes=30)).isoformat(),
        "since": NOW.isoformat(),
        "source": "dashboard",
    }
    assert fleet_paused(store, NOW + timedelta(minutes=29))
    assert not fleet_paused(store, NOW + timedelta(minutes=31))  # it ends by itself
    before = resume_fleet(store, source="dagster", by="dagster run 1234", now=NOW)
    assert before["reason"] == "incident" and not fleet_paused(store, NOW)


@pytest.mark.parametrize(("reason", "minutes"), [("", None), ("  ", 5), ("ok", 0), ("ok", -3)])
def test_a_pause_without_a_reason_or_with_a_bad_duration_writes_nothing(
    tmp_path: Path, reason: str, minutes: int | None
) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    with pytest.raises(ValueError):
        pause_fleet(store, reason, minutes=minutes, source="cli", by="cli:test", now=NOW)
    assert store.get_control("pause_all") is None


def test_the_cli_pauses_and_resumes_through_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOTBOX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BOTBOX_LEDGER", raising=False)
    assert main(["pause-all", "--reason", "exchange incident", "--minutes", "15"]) == 0
    assert "fleet paused: exchange incident (resumes at " in capsys.readouterr().out
    store = LedgerStore(tmp_path / "home" / "botbox.duckdb")
    control = store.get_control("pause_all")
    assert control is not None and control["source"] == "cli" and control["paused"]
    assert control["updated_by"].startswith("cli:") and fleet_paused(store)
    assert main(["pause-all", "--reason", "x", "--minutes", "0"]) == EXIT_CONFIG
    assert main(["resume-all"]) == 0 and not fleet_paused(store)


def test_check_now_gives_one_verdict_to_the_cli_the_dashboard_and_the_launchpad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dagster as dg

    from botbox_dagster.dashboard import actions
    from botbox_dagster.defs.resources import LedgerResource
    from botbox_dagster.defs.signals.check import check_bot_job
    from botbox_dagster.domain import timeframes
    from botbox_dagster_tests.signal_helpers import bot, make_ledger

    monkeypatch.setenv("BOTBOX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BOTBOX_LEDGER", raising=False)
    path = tmp_path / "home" / "botbox.duckdb"
    path.parent.mkdir()
    # always-long on fresh candles: a LONG that passes every rule.
    store = make_ledger(path, [bot("b1")], end=timeframes.floor(datetime.now(UTC), "1m"))
    assert main(["check", "b1"]) == 0
    out = capsys.readouterr().out
    assert "verdict: LONG ACCEPTED\n" in out and "dry run: nothing written" in out
    record = actions.check_now(store, "b1")
    assert (record["verdict"], record["direction"], record["source"]) == (
        "ACCEPTED",
        "LONG",
        "dashboard",
    )
    result = check_bot_job.execute_in_process(
        run_config={"ops": {"check_bot_now": {"config": {"bot_id": "b1"}}}},
        resources={"ledger": LedgerResource(path=str(path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    [meta] = [
        e.event_specific_data.metadata
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT"
    ]
    assert (meta["verdict"].value, meta["direction"].value) == ("ACCEPTED", "LONG")
    # Three dry runs: nothing was logged or queued.
    assert store.run(lambda c: c.execute("SELECT count(*) FROM signals").fetchone()[0]) == 0
    assert store.queue_rows() == []
