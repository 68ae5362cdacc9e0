"""Execution wiring: execute_trades_job, its pools, trade_queue_sensor, pause and resume."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.execution.controls import close_bot_job, pause_all_job, resume_all_job
from botbox_dagster.defs.execution.jobs import (
    EXCHANGE_TAG,
    execute_trades_job,
    execution_run_config,
)
from botbox_dagster.defs.execution.sensors import build_trade_queue_sensor
from botbox_dagster.defs.resources import LedgerResource, TradingResource
from botbox_dagster.domain.errors import ConfigErrors
from botbox_dagster.domain.fleet import parse_fleet
from botbox_dagster_tests.support.trading import (
    enqueue,
    fleet_doc,
    make_store,
    paper_bot,
    queue,
    set_market,
    table,
)

JOB = execute_trades_job
SENSOR = build_trade_queue_sensor(JOB)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LedgerStore:
    monkeypatch.delenv("BOTBOX_LIVE_TRADING", raising=False)
    return make_store(tmp_path, [paper_bot("b1"), paper_bot("b2"), paper_bot("b3")])


def resources(store: LedgerStore) -> dict[str, Any]:
    return {"ledger": LedgerResource(path=str(store.path)), "trading": TradingResource()}


def metadata(result: dg.ExecuteInProcessResult, step: str) -> dict[str, Any]:
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT" and event.step_key == step:
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError(f"no output from {step}")


def execute(
    store: LedgerStore, account: str = "paper", tag: str | None = "", **config: Any
) -> dg.ExecuteInProcessResult:
    """One run for ``account``, tagged as the sensor tags it (``tag=None``: untagged)."""
    tags = {} if tag is None else {EXCHANGE_TAG: tag or account}
    return JOB.execute_in_process(
        run_config=execution_run_config(account, **config),
        resources=resources(store),
        instance=dg.DagsterInstance.ephemeral(),
        tags=tags,
        raise_on_error=False,
    )


def test_one_static_job_serves_every_account_and_holds_no_pool() -> None:
    # The account is run config; one run per account is the run queue's tag limit.
    assert [node.name for node in JOB.graph.nodes] == ["execute_trades"]
    assert JOB.graph.nodes[0].definition.pool is None
    assert JOB.tags["dagster/max_runtime"] == "300"


def test_a_run_config_cannot_turn_live_trading_on(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Launchpad shows the trading resource; editing it to "true" on a deployment whose
    # environment does not enable live trading fails the run before anything is claimed.
    monkeypatch.setenv("BOTBOX_LIVE_TRADING", "false")
    row = enqueue(store, "b1", size=1.0)
    result = JOB.execute_in_process(
        run_config=execution_run_config("paper"),
        # what the resource resolves to when the Launchpad's value replaces the EnvVar
        resources={
            "ledger": LedgerResource(path=str(store.path)),
            "trading": TradingResource(live_trading="true"),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={EXCHANGE_TAG: "paper"},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "enabled by the deployment's environment" in str(failure.event_specific_data.error)
    assert queue(store)[row]["status"] == "PENDING"  # nothing claimed, nothing placed
    # The environment decides: with it, the same resource allows live orders; a run may
    # always turn them off.
    monkeypatch.setenv("BOTBOX_LIVE_TRADING", "true")
    assert TradingResource(live_trading="true").live_trading_enabled()
    assert not TradingResource(live_trading="false").live_trading_enabled()


def test_the_breaker_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TradingResource(breaker_open_seconds="45").breaker_seconds() == 45.0
    for bad in ("0", "-5", "soon"):
        with pytest.raises(dg.Failure, match="breaker_open_seconds must be a positive"):
            TradingResource(breaker_open_seconds=bad).breaker_seconds()


def test_the_job_executes_an_account_and_reports_it(store: LedgerStore) -> None:
    rows = [enqueue(store, "b1", size=1.0), enqueue(store, "b2", size=2.0)]
    result = execute(store, paper={"fee_bps": 0.0, "slippage_bps": 0.0, "starting_balance": 500})
    assert result.success
    meta = metadata(result, "execute_trades")
    assert meta["account"] == "paper" and meta["filled"] == 2 and meta["claimed"] == 2
    assert meta["failed"] == 0 and meta["fleet_paused"] is False
    assert "opened position" in meta["trades"]
    assert all(queue(store)[r]["status"] == "FILLED" for r in rows)
    assert {b["balance"] for b in table(store, "paper_balances")} == {400.0, 300.0}


def test_a_lingering_run_executes_rows_queued_after_it_drained(store: LedgerStore) -> None:
    # The sensor's runs stay warm: a row queued while the run polls is executed by that run,
    # with no new run; the run ends once nothing has come for linger_seconds.
    import threading

    first = enqueue(store, "b1", size=1.0)
    done: list[dg.ExecuteInProcessResult] = []
    run = threading.Thread(
        target=lambda: done.append(execute(store, linger_seconds=3.0, poll_seconds=0.2))
    )
    run.start()
    deadline = datetime.now(UTC).timestamp() + 120
    while queue(store)[first]["status"] != "FILLED" and datetime.now(UTC).timestamp() < deadline:
        run.join(0.1)
    assert queue(store)[first]["status"] == "FILLED" and run.is_alive()  # drained, lingering
    later = enqueue(store, "b2", size=2.0)
    run.join(180)
    assert not run.is_alive() and done[0].success
    meta = metadata(done[0], "execute_trades")
    assert meta["claimed"] == 2 and meta["filled"] == 2  # both rows, one run
    assert queue(store)[later]["status"] == "FILLED"
    assert len({r["run_id"] for r in table(store, "trade_queue")}) == 1


def test_a_lingering_run_ends_at_its_lifetime(store: LedgerStore) -> None:
    result = execute(store, linger_seconds=600.0, poll_seconds=0.2, max_lifetime_seconds=1.0)
    meta = metadata(result, "execute_trades")
    assert result.success and meta["claimed"] == 0 and meta["executing_for_s"] < 600


def test_an_unknown_account_fails_the_run_with_the_known_ones(store: LedgerStore) -> None:
    result = execute(store, "nope")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "execute_trades"
    assert "unknown exchange account 'nope' (known: paper)" in str(failure.event_specific_data)


def test_a_run_tagged_for_another_account_fails_and_an_untagged_one_runs(
    store: LedgerStore,
) -> None:
    row = enqueue(store, "b1", size=1.0)
    wrong = execute(store, "paper", tag="binance-main")
    assert not wrong.success and queue(store)[row]["status"] == "PENDING"
    failure = next(e for e in wrong.all_events if e.event_type_value == "STEP_FAILURE")
    assert "tagged botbox/exchange=binance-main but configured for account 'paper'" in str(
        failure.event_specific_data
    )
    # A Launchpad launch without the tag still executes (claims and the rate budget hold).
    assert execute(store, "paper", tag=None).success
    assert queue(store)[row]["status"] == "FILLED"


def test_pause_and_resume_write_the_control_and_gate_entries(store: LedgerStore) -> None:
    paused = pause_all_job.execute_in_process(
        run_config={
            "ops": {
                "pause_all": {"config": {"reason": "exchange incident", "resume_after_minutes": 30}}
            }
        },
        resources=resources(store),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert paused.success
    control = store.get_control("pause_all")
    assert control is not None and control["paused"] and control["reason"] == "exchange incident"
    assert datetime.fromisoformat(control["until"]) > datetime.now(UTC)
    assert control["updated_by"].startswith("dagster run ")

    entry = enqueue(store, "b1", size=1.0)
    result = execute(store)
    assert metadata(result, "execute_trades")["fleet_paused"] is True
    assert queue(store)[entry]["status"] == "PENDING"

    resumed = resume_all_job.execute_in_process(
        resources=resources(store), instance=dg.DagsterInstance.ephemeral()
    )
    assert resumed.success
    assert metadata(resumed, "resume_all")["was_paused_for"] == "exchange incident"
    assert store.get_control("pause_all")["paused"] is False
    execute(store)
    assert queue(store)[entry]["status"] == "FILLED"


def tick(store: LedgerStore, instance: dg.DagsterInstance) -> dg.SensorResult | dg.SkipReason:
    context = dg.build_sensor_context(instance=instance, resources=resources(store))
    return SENSOR(context)


def test_the_sensor_launches_one_run_per_account_with_work(store: LedgerStore) -> None:
    with dg.instance_for_test() as instance:
        skip = tick(store, instance)
        assert isinstance(skip, dg.SkipReason) and skip.skip_message == "trade queue empty"

        enqueue(store, "b1")
        enqueue(store, "b2")
        enqueue(store, "b3", exchange="binance-main")
        first = tick(store, instance)
        assert isinstance(first, dg.SensorResult)
        by_account = {r.tags[EXCHANGE_TAG]: r for r in first.run_requests}
        assert sorted(by_account) == ["binance-main", "paper"]
        paper = by_account["paper"]
        assert paper.tags["botbox/pending"] == "2"
        assert paper.run_config == {
            "ops": {"execute_trades": {"config": {"account": "paper", "linger_seconds": 90.0}}}
        }

        same = tick(store, instance)  # nothing changed: the same keys, deduplicated by the daemon
        assert [r.run_key for r in same.run_requests] == [r.run_key for r in first.run_requests]

        enqueue(store, "b2", "CLOSE")  # new rows alone do not make a second run owed
        again = {r.tags[EXCHANGE_TAG]: r.run_key for r in tick(store, instance).run_requests}
        assert again["paper"] == paper.run_key

        # A paper run ended and left every row untouched (paused, failed before claiming):
        # the rows still wait, so the next key is new and the daemon launches another run.
        instance.create_run_for_job(
            job_def=JOB,
            run_config=execution_run_config("paper"),
            tags={EXCHANGE_TAG: "paper"},
            status=dg.DagsterRunStatus.FAILURE,
        )
        changed = {r.tags[EXCHANGE_TAG]: r.run_key for r in tick(store, instance).run_requests}
        assert changed["paper"] != paper.run_key
        assert changed["binance-main"] == by_account["binance-main"].run_key

        instance.create_run_for_job(
            job_def=JOB,
            run_config=execution_run_config("paper"),
            tags={EXCHANGE_TAG: "paper"},
            status=dg.DagsterRunStatus.STARTING,
        )
        busy = tick(store, instance)
        assert [r.tags[EXCHANGE_TAG] for r in busy.run_requests] == ["binance-main"]


def test_the_sensor_skips_when_every_account_is_busy(store: LedgerStore) -> None:
    enqueue(store, "b1")
    with dg.instance_for_test() as instance:
        instance.create_run_for_job(
            job_def=JOB,
            run_config=execution_run_config("paper"),
            tags={EXCHANGE_TAG: "paper"},
            status=dg.DagsterRunStatus.STARTED,
        )
        skip = tick(store, instance)
        assert isinstance(skip, dg.SkipReason)
        assert skip.skip_message == "paper (1 pending, run active)"


def test_the_sensor_waits_out_an_open_circuit(store: LedgerStore) -> None:
    """While the breaker holds, a run would only release the rows again: launch none."""
    import time

    from botbox_dagster.adapters.circuit import LedgerCircuitBreaker

    enqueue(store, "b1")
    breaker = LedgerCircuitBreaker(store, "paper")
    for _ in range(5):
        breaker.failure("venue down")
    with dg.instance_for_test() as instance:
        skip = tick(store, instance)
        assert isinstance(skip, dg.SkipReason)
        assert "circuit open" in skip.skip_message
        # Past the hold the next run probes the venue.
        store.update_breaker("paper", lambda row: ({**row, "opened_at": time.time() - 120}, None))
        result = tick(store, instance)
        assert not isinstance(result, dg.SkipReason)


def test_a_bot_with_an_open_position_moves_symbol_only_after_close_bot_job(
    store: LedgerStore,
) -> None:
    enqueue(store, "b1", size=1.0)
    assert execute(store).success
    [position] = table(store, "positions")
    assert position["status"] == "OPEN"
    moved = [paper_bot("b1", symbol="ETH/USDT", capital=50.0), paper_bot("b2"), paper_bot("b3")]
    with pytest.raises(ConfigErrors) as refused:
        store.load_fleet(parse_fleet(fleet_doc(moved), "test fleet"))
    assert str(refused.value) == (
        f"bot 'b1': symbol holds open position {position['id']} in BTC/USDT on paper: close it "
        "(botbox bots close b1) before moving the bot to ETH/USDT on paper"
    )
    # All or nothing: b1's other change (capital) did not land either.
    assert store.get_bot("b1").bot.capital == 1000.0  # type: ignore[union-attr]

    closed = close_bot_job.execute_in_process(
        run_config={"ops": {"close_bot": {"config": {"bot_id": "b1", "reason": "move to ETH"}}}},
        resources=resources(store),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert closed.success
    assert metadata(closed, "close_bot")["closes_queued"] == 1
    [close] = [q for q in queue(store).values() if q["direction"] == "CLOSE"]
    assert close["position_size"] == position["amount"] and close["trigger_price"] is None
    set_market(store, 110.0)  # sold at the market's price now, not at a stored one
    assert execute(store, paper={"fee_bps": 0.0, "slippage_bps": 0.0}).success
    [position] = table(store, "positions")
    assert position["status"] == "CLOSED" and position["exit_price"] == pytest.approx(110.0)
    assert position["exit_reason"].startswith("closed by the operator: move to ETH")
    store.load_fleet(parse_fleet(fleet_doc(moved), "test fleet"))
    assert store.get_bot("b1").bot.symbol == "ETH/USDT"  # type: ignore[union-attr]


def test_close_bot_job_refuses_an_unknown_bot(store: LedgerStore) -> None:
    result = close_bot_job.execute_in_process(
        run_config={"ops": {"close_bot": {"config": {"bot_id": "ghost", "reason": "x"}}}},
        resources=resources(store),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success and queue(store) == {}
