"""Fleet and per-bot metrics on a real DuckDB ledger with the demo fleet and seeded activity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain.metrics import percentile, reason_key
from botbox_dagster.services.fleet_summary import fleet_summary
from botbox_dagster_tests.support.seed import (
    add_bar,
    add_queue_row,
    add_signal,
    add_trade,
    add_unpriced_eur_trade,
    busy_demo_ledger,
    minute,
    mixed_currency_ledger,
    overloaded_minute_loop,
)

NOW = minute(datetime.now(UTC)) + timedelta(seconds=30)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LedgerStore:
    return busy_demo_ledger(tmp_path_factory.mktemp("metrics") / "ledger.duckdb", NOW)


def test_fleet_counts(store: LedgerStore) -> None:
    m = store.fleet_metrics(now=NOW)
    assert m.active_bots == 25
    assert m.signals_hour == {"EXECUTED": 6, "REJECTED": 6}
    assert m.acceptance_rate_hour == pytest.approx(0.5)
    assert m.rejection_reasons_day == {"data too old": 6}
    assert m.signals_by_strategy_day == {"scalp-1m": 12}
    assert m.signals_by_bot_day == {"btc-scalper": 6, "eth-scalper": 6}
    assert m.trades_hour == 3 and m.trades_day == 3
    assert m.queue_by_status == {"FILLED": 3, "PENDING": 1}
    assert m.queue_depth == 1
    assert m.fill_rate_day == 1.0
    assert m.execution_failure_rate_hour == 0.0
    assert m.open_positions == 1
    # Every seeded position is BTC/USDT: all P&L is in USDT, the reporting currency.
    assert m.realized_pnl_by_currency == {"USDT": pytest.approx(4.0 - 1.0)}
    assert m.realized_pnl_day_by_currency == {"USDT": pytest.approx(4.0 - 1.0)}
    assert m.unrealized_pnl_by_currency == {"USDT": pytest.approx(2.0)}
    assert m.reporting_currency == "USDT" and m.conversion_rates == {}
    assert (m.realized_pnl_total.currency, m.realized_pnl_total.amount) == ("USDT", 3.0)
    assert m.unrealized_pnl_total.amount == pytest.approx(2.0)
    assert m.realized_pnl_total.complete and m.unconverted_currencies == []


def test_latencies(store: LedgerStore) -> None:
    m = store.fleet_metrics(now=NOW)
    # Fills were seeded two seconds after their queue rows.
    assert m.order_latency_p50 == pytest.approx(2.0)
    assert m.order_latency_p95 == pytest.approx(2.0)
    # Signals were evaluated 2 s and 3 s into their one-minute slots.
    assert m.signal_latency_p50 == pytest.approx(2.5)
    assert m.signal_latency_p95 == pytest.approx(3.0, abs=0.01)


def test_exchange_health_and_market_freshness(store: LedgerStore) -> None:
    m = store.fleet_metrics(now=NOW)
    [paper] = m.exchanges
    assert (paper.account, paper.circuit, paper.rate_limited_recent) == ("paper", "CLOSED", 0)
    assert len(m.markets) == 6 and not m.stale_markets
    # 25 bots on 6 markets: 19 fetches saved per refresh.
    assert m.fetches_saved_per_refresh == 19
    assert m.pause == {"paused": False}
    later = store.fleet_metrics(now=NOW + timedelta(minutes=5))
    assert len(later.stale_markets) == 6


def test_health_inputs_follow_the_ledger(tmp_path: Path) -> None:
    store = busy_demo_ledger(tmp_path / "l.duckdb", NOW)
    store.log_exchange_call("paper", "rate_limited", 0, "rate_limited", "429 Too Many Requests")
    store.run(
        lambda c: c.execute(
            "INSERT INTO circuit_breakers (exchange, state, updated_at) VALUES ('paper', ?, ?)",
            [json.dumps({"status": "OPEN", "consecutive_failures": 5}), NOW],
        )
    )
    for _ in range(3):
        add_queue_row(store, "btc-scalper", "FAILED", created=NOW - timedelta(minutes=1))
    inputs = store.fleet_metrics(now=datetime.now(UTC)).health_inputs()
    assert inputs.open_breakers == {"paper": "OPEN"}
    assert inputs.rate_limited == {"paper": 1}
    assert (inputs.executions_finished, inputs.executions_failed) == (6, 3)


def test_pnl_is_kept_per_quote_currency_and_converted_at_the_newest_close(
    tmp_path: Path,
) -> None:
    # +12 USDT (BTC/USDT) and +0.001 BTC (ETH/BTC); BTC/USDT's newest close is 50,000.
    m = mixed_currency_ledger(tmp_path / "l.duckdb", NOW).fleet_metrics(now=NOW)
    assert m.realized_pnl_by_currency == {"BTC": pytest.approx(0.001), "USDT": 12.0}
    assert m.realized_pnl_day_by_currency == {"BTC": pytest.approx(0.001), "USDT": 12.0}
    assert m.unrealized_pnl_by_currency == {} and m.open_positions == 0
    rate = m.conversion_rates["BTC"]
    assert (rate.rate, rate.source.symbol, rate.source.exchange, rate.source.timeframe) == (
        50_000.0,
        "BTC/USDT",
        "paper",
        "1m",
    )
    total = m.realized_pnl_total
    assert total.currency == "USDT"
    assert total.amount == pytest.approx(12 + 0.001 * 50_000)  # 62 USDT
    assert total.amount == pytest.approx(62.0)
    assert total.rates == {"BTC": 50_000.0} and total.unconverted == {}
    assert m.realized_pnl_day_total.amount == pytest.approx(62.0)
    assert m.unrealized_pnl_total.amount == 0.0 and m.unconverted_currencies == []


def test_a_currency_without_a_price_is_reported_unconverted(tmp_path: Path) -> None:
    store = mixed_currency_ledger(tmp_path / "l.duckdb", NOW)
    # +3 EUR realized and +2 EUR unrealized: nothing prices EUR in USDT.
    add_unpriced_eur_trade(store, NOW)
    add_trade(store, "eth-eur-bot", opened=NOW - timedelta(minutes=5), symbol="ETH/EUR")
    add_bar(store, "EUR/BTC", minute(NOW) - timedelta(minutes=1), 0.00002)  # not a USDT price
    m = store.fleet_metrics(now=NOW)
    assert m.realized_pnl_by_currency == {
        "BTC": pytest.approx(0.001),
        "EUR": pytest.approx(3.0),
        "USDT": 12.0,
    }
    assert m.unrealized_pnl_by_currency == {"EUR": pytest.approx(2.0)}
    assert m.unconverted_currencies == ["EUR"]
    realized = m.realized_pnl_total
    assert realized.amount == pytest.approx(62.0)  # EUR is left out, not guessed
    assert realized.unconverted == {"EUR": pytest.approx(3.0)} and not realized.complete
    unrealized = m.unrealized_pnl_total
    assert unrealized.amount == 0.0 and unrealized.unconverted == {"EUR": pytest.approx(2.0)}


def test_the_inverse_market_converts_too(tmp_path: Path) -> None:
    store = mixed_currency_ledger(tmp_path / "l.duckdb", NOW)
    # +64 TRY (BTC/TRY); USDT/TRY closes at 32, so 1 TRY = 1/32 USDT: +2 USDT.
    add_trade(
        store,
        "btc-try-bot",
        opened=NOW - timedelta(hours=2),
        closed=NOW - timedelta(hours=1),
        entry=1_000.0,
        exit_price=1_064.0,
        symbol="BTC/TRY",
    )
    add_bar(store, "USDT/TRY", minute(NOW) - timedelta(minutes=1), 32.0)
    m = store.fleet_metrics(now=NOW)
    assert m.conversion_rates["TRY"].inverse and m.conversion_rates["TRY"].rate == 1 / 32
    assert m.realized_pnl_total.amount == pytest.approx(12 + 0.001 * 50_000 + 64 / 32)  # 64


def test_fleet_summary_reports_pnl_per_currency_and_converted(tmp_path: Path) -> None:
    store = mixed_currency_ledger(tmp_path / "l.duckdb", NOW)
    add_unpriced_eur_trade(store, NOW)
    pos = fleet_summary(store, now=NOW)["positions"]
    assert pos["open"] == 0 and pos["reporting_currency"] == "USDT"
    assert pos["realized_pnl_by_currency"] == {
        "BTC": pytest.approx(0.001),
        "EUR": pytest.approx(3.0),
        "USDT": 12.0,
    }
    assert pos["realized_pnl_total"] == {
        "currency": "USDT",
        "amount": pytest.approx(62.0),
        "rates": {"BTC": 50_000.0},
        "unconverted": {"EUR": pytest.approx(3.0)},
    }
    assert pos["unrealized_pnl_by_currency"] == {}
    assert pos["unrealized_pnl_total"]["amount"] == 0.0
    assert pos["conversion_rates"]["BTC"]["symbol"] == "BTC/USDT"
    assert pos["conversion_rates"]["BTC"]["rate"] == 50_000.0
    json.dumps(pos)  # JSON as it is


def test_bot_metrics(store: LedgerStore) -> None:
    b = store.bot_metrics("btc-scalper", now=NOW)
    assert b is not None
    assert b.bot["strategy"] == "scalp-1m" and b.bot["interval"] == 1
    assert len(b.signals) == 6 and b.signals[0]["contributions"]["rsi"]["contribution"] == 0.5
    assert len(b.open_positions) == 1 and len(b.trades) == 3
    assert b.realized_pnl == pytest.approx(3.0) and b.unrealized_pnl == pytest.approx(2.0)
    assert b.currency == "USDT"  # the quote currency of BTC/USDT: the bot's money is in it
    values = [v for _, v in b.equity]
    assert values == [2000.0, 2004.0, 2003.0, 2005.0]
    assert b.next_check_at == minute(NOW) + timedelta(minutes=1)  # never checked: next minute
    assert store.bot_metrics("nope") is None


def test_bots_overview(store: LedgerStore) -> None:
    rows = {r["id"]: r for r in store.bots_overview(now=NOW)}
    assert len(rows) == 25
    assert rows["btc-scalper"]["signals_day"] == 6
    assert rows["btc-scalper"]["open_positions"] == 1
    assert rows["btc-scalper"]["pnl"] == pytest.approx(5.0)
    assert rows["btc-scalper"]["currency"] == "USDT"
    assert rows["eth-btc-scalper"]["currency"] == "BTC"


def test_signals_older_than_a_day_are_left_out(tmp_path: Path) -> None:
    store = busy_demo_ledger(tmp_path / "l.duckdb", NOW)
    add_signal(store, "btc-trend", "ACCEPTED", at=NOW - timedelta(days=2))
    assert sum(store.fleet_metrics(now=NOW).signals_day.values()) == 12


def test_minute_loop_figures_follow_the_minute_slots(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    reason = overloaded_minute_loop(store, NOW)  # lags 20 s and 95 s, then a skip
    slot = minute(NOW)
    # A tick that crashed 13 minutes ago (never finished), one going now, a skip 2 hours ago.
    store.record_slot_started(
        slot - timedelta(minutes=13),
        "crashed",
        now=slot - timedelta(minutes=13) + timedelta(seconds=1),
    )
    store.record_slot_started(slot, "run-c", now=slot + timedelta(seconds=4))
    store.record_skipped_slot(slot - timedelta(hours=2), "old", "an old skip")
    loop = store.fleet_metrics(now=NOW).minute_loop
    assert (loop.slots_recorded, loop.skipped, loop.stale) == (5, 1, 0)
    assert (loop.skipped_hour, loop.skipped_day) == (1, 2)
    assert loop.tick_lag_p50 == pytest.approx(57.5)
    assert loop.tick_lag_p95 == pytest.approx(91.25)
    assert loop.tick_lag_max == pytest.approx(95.0)
    assert loop.start_lag_p95 == pytest.approx(3.85)
    assert loop.last_slot == slot - timedelta(minutes=2)
    assert loop.last_tick_lag == pytest.approx(95.0)
    assert (loop.running_slot, loop.running_seconds) == (slot, pytest.approx(30.0))
    assert loop.last_skip_slot == slot - timedelta(minutes=1) and loop.last_skip_reason == reason
    rows = dict(loop.rows())
    assert rows["slots skipped, last 15 min / hour / day"] == "1 / 1 / 2"
    assert rows["tick lag p50 / p95 / max, last 15 min"] == "57.5 s / 91.2 s / 95.0 s"
    assert rows["last skipped slot"].endswith(reason)
    inputs = store.fleet_metrics(now=NOW).health_inputs()
    assert (inputs.skipped_slots, inputs.last_skip_reason) == (1, reason)
    assert inputs.tick_lag_p95 == pytest.approx(91.25)
    # A quiet quarter of an hour later the window is empty; the day still counts the skips.
    later = store.fleet_metrics(now=NOW + timedelta(minutes=20)).minute_loop
    assert (later.skipped, later.tick_lag_p95, later.skipped_day) == (0, None, 2)


def test_helpers() -> None:
    assert reason_key("data too old: 185s") == "data too old"
    assert reason_key("max positions (40) reached") == "max positions"
    assert reason_key(None) == "unknown"
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.95) == 5.0
