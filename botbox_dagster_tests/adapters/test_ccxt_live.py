"""Live execution through the REAL ccxt client against the loopback fake Binance.

Every guarantee is counted at the fake exchange: orders by client order id, requests in its log.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import circuit_breaker as cb
from botbox_dagster.domain import timeframes
from botbox_dagster.fake_exchange import FakeExchange, LimitConfig, make_binance_client
from botbox_dagster.services.executor import ExecutionSettings, Executor
from botbox_dagster_tests.support.trading import (
    enqueue,
    fast_breaker,
    flat_bars,
    live_bot,
    live_exchange,
    make_executor,
    make_store,
    queue,
    table,
)

ORDER = "/api/v3/order"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class Half:
    """A random source that always answers 0.5: retry delays become exact."""

    def random(self) -> float:
        return 0.5


@pytest.fixture
def store(tmp_path: Path, fx: FakeExchange) -> LedgerStore:
    return make_store(tmp_path, [live_bot(f"l{i}") for i in range(1, 4)], live_url=fx.base_url)


def live(store: LedgerStore, clock: Clock | None = None, timeout_ms: int = 1500, **kw: Any):
    settings = ExecutionSettings(**{"retry_base_seconds": 0.0, "live_trading_enabled": True, **kw})
    return make_executor(
        store,
        "live",
        live=live_exchange(store, timeout_ms=timeout_ms),
        settings=settings,
        breaker=fast_breaker(store, "live", clock or Clock()),
    )


def entry(store: LedgerStore, bot_id: str = "l1", size: float = 0.5, **kw: Any) -> int:
    return enqueue(store, bot_id, exchange="live", symbol="ETH/BTC", size=size, **kw)


def posts(fx: FakeExchange) -> list[int]:
    return [r.status for r in fx.requests(ORDER, "POST")]


def orders_at_venue(fx: FakeExchange, cid: str) -> int:
    return sum(o["clientOrderId"] == cid for o in fx.orders())


def assert_every_call_took_a_token(store: LedgerStore, fx: FakeExchange) -> None:
    sent = [c for c in table(store, "exchange_calls") if c["outcome"] == "sent"]
    assert len(sent) == len(fx.requests()), ([c["purpose"] for c in sent], fx.requests())


def test_a_market_order_is_filled_and_recorded_with_fills_and_fees(
    store: LedgerStore, fx: FakeExchange
) -> None:
    row = entry(store, stop_loss=0.045, take_profit=0.06)
    report = live(store).run()
    assert report.filled == 1, report.lines
    q = queue(store)[row]
    venue_order = fx.order_by_client_id(q["client_order_id"])
    assert venue_order is not None and venue_order["status"] == "FILLED"
    assert q["status"] == "FILLED" and q["order_id"] == str(venue_order["orderId"])
    [order], [fill], [position] = (table(store, t) for t in ("orders", "fills", "positions"))
    assert order["mode"] == "live" and order["average_price"] == pytest.approx(0.05)
    # Binance spot without BNB: a buy pays its 0.1% in the asset bought (docs/venue-contract.md
    # §4): 0.5 ETH bought, 0.0005 ETH commission, 0.4995 ETH held; 0.0005 ETH = 2.5e-5 BTC.
    assert order["fee"] == pytest.approx(0.0005) and order["fee_currency"] == "ETH"
    assert (fill["amount"], fill["fee"]) == (0.5, pytest.approx(0.0005))
    assert fx.balances()["ETH"]["free"] == "0.49950000"
    assert position["amount"] == pytest.approx(0.4995) and position["stop_loss"] == 0.045
    assert position["fees"] == pytest.approx(2.5e-5)

    fx.set_price("ETH/BTC", "0.06")
    close = entry(store, "l1", direction="CLOSE", size=0.4995)
    assert live(store).run().filled == 1
    [position] = table(store, "positions")
    assert queue(store)[close]["status"] == "FILLED"
    # The CLOSE sells what is held, on the 0.001 step: 0.499 ETH at 0.06 = 0.02994 BTC, fee
    # 0.00002994 BTC. P&L by hand: 0.499 * 0.01 - 0.000025 - 0.00002994 = 0.00493506.
    [_, sell] = fx.orders()
    assert (sell["side"], sell["executedQty"]) == ("SELL", "0.49900000")
    assert position["status"] == "CLOSED"
    assert position["realized_pnl"] == pytest.approx(0.00493506)
    assert_every_call_took_a_token(store, fx)


SETTLE = {"settle_grace_seconds": 1.5, "settle_poll_seconds": 0.2}


def test_a_5xx_on_create_is_never_resent_and_fails_for_the_operator_after_the_grace_window(
    store: LedgerStore, fx: FakeExchange
) -> None:
    # Binance: a 5xx means the execution status is unknown (docs/venue-contract.md). This one
    # was not processed, but nothing the client sees can tell: the order is looked up over the
    # grace window and, never shown, the row fails with an operator reason, never re-sent.
    fx.add_fault("error", path=ORDER, method="POST", count=1, status=502)
    row = entry(store)
    report = live(store, **SETTLE).run()
    q = queue(store)[row]
    assert q["status"] == "FAILED" and q["reason"].startswith("operator:"), report.lines
    assert posts(fx) == [502]
    lookups = fx.requests(ORDER, "GET")
    assert lookups and all(
        r.params.get("origClientOrderId") == q["client_order_id"] for r in lookups
    )
    assert orders_at_venue(fx, q["client_order_id"]) == 0 and report.unsettled == 1
    assert table(store, "positions") == []
    assert_every_call_took_a_token(store, fx)


def test_a_reset_after_the_venue_accepted_gives_one_order_and_a_filled_row(
    store: LedgerStore, fx: FakeExchange
) -> None:
    fx.add_fault("reset_after_accept", path=ORDER, method="POST")
    row = entry(store)
    report = live(store).run()
    q = queue(store)[row]
    assert q["status"] == "FILLED", report.lines
    assert "(reconciled)" in report.lines[-1]
    assert len(fx.requests(ORDER, "POST")) == 1
    assert orders_at_venue(fx, q["client_order_id"]) == 1 and len(fx.orders()) == 1
    # Found by lookup (no fills in the answer): its trades give the base commission.
    [position] = table(store, "positions")
    assert position["amount"] == pytest.approx(0.4995)
    assert fx.balances()["ETH"]["free"] == "0.49950000"
    assert_every_call_took_a_token(store, fx)


def test_a_timed_out_entry_is_looked_up_never_sent_again(
    store: LedgerStore, fx: FakeExchange
) -> None:
    fx.add_fault("hang", path=ORDER, method="POST", seconds=None)  # never answers
    row = entry(store)
    report = live(store, timeout_ms=500, **SETTLE).run()
    q = queue(store)[row]
    assert q["status"] == "FAILED" and q["reason"].startswith("operator:"), report.lines
    methods = [r.method for r in fx.requests(ORDER)]
    assert methods[0] == "POST" and set(methods[1:]) == {"GET"}  # lookups only, no resend
    assert len(fx.orders()) == 0
    assert_every_call_took_a_token(store, fx)


def test_transient_errors_requeue_with_backoff_then_fail(
    store: LedgerStore, fx: FakeExchange
) -> None:
    fx.add_fault("error", path="/api/v3/ticker", status=503, count=None)
    row = entry(store)
    executor = live(store, retry_base_seconds=20.0, retry_cap_seconds=60.0)
    executor.rng = Half()
    executor.run()
    q = queue(store)[row]
    assert (q["status"], q["attempts"]) == ("PENDING", 1)
    assert q["reason"].startswith("retry 1: ")
    assert q["next_attempt_at"] - q["updated_at"] == pytest.approx(
        timedelta(seconds=20), abs=timedelta(seconds=1)
    )
    assert live(store).run().claimed == 0  # not due yet

    store.run(lambda c: c.execute("UPDATE trade_queue SET next_attempt_at = NULL"))
    live(store, max_attempts=3).run()
    q = queue(store)[row]
    assert (q["status"], q["attempts"]) == ("FAILED", 3)
    assert q["reason"].startswith("gave up after 3 attempts:")
    assert fx.requests(ORDER) == []


def test_insufficient_funds_fails_without_retry(store: LedgerStore, fx: FakeExchange) -> None:
    row = entry(store, size=1000.0)  # 50 BTC of ETH with 10 BTC
    live(store).run()
    q = queue(store)[row]
    assert (q["status"], q["attempts"]) == ("FAILED", 1)
    assert "nsufficient" in q["reason"]
    assert posts(fx) == [400]
    assert cb.BreakerStatus(live(store).breaker("live").state().status) is cb.BreakerStatus.CLOSED


def test_an_amount_below_the_market_step_fails_before_sending(
    store: LedgerStore, fx: FakeExchange
) -> None:
    row = entry(store, size=0.0004)  # step 0.001
    live(store).run()
    q = queue(store)[row]
    assert q["status"] == "FAILED" and q["reason"].startswith("invalid order:")
    assert fx.requests(ORDER) == []


@pytest.mark.integration
def test_five_consecutive_failures_open_the_breaker_then_a_probe_closes_it(
    store: LedgerStore, fx: FakeExchange
) -> None:
    clock = Clock()
    fx.add_fault("error", path="/api/v3/ticker", status=503, count=None)
    first = entry(store, "l1")
    live(store, clock, max_attempts=4).run()
    breaker = fast_breaker(store, "live", clock)
    assert queue(store)[first]["status"] == "FAILED"
    assert breaker.state() == cb.BreakerState(cb.BreakerStatus.CLOSED, 4)  # 4 do not open it

    rows = [entry(store, "l2"), entry(store, "l3")]
    report = live(store, clock).run()  # the 5th failure opens it
    assert report.stopped_by and report.stopped_by.startswith("circuit open after 5")
    state = breaker.state()
    assert state.status is cb.BreakerStatus.OPEN and state.consecutive_failures == 5
    failed, held = (queue(store)[r] for r in rows)
    assert failed["status"] == "PENDING" and failed["attempts"] == 1  # the 5th failure: a retry
    assert (held["status"], held["attempts"]) == ("PENDING", 0)  # no call made for it
    assert held["reason"].startswith("circuit open after 5 consecutive failures")
    calls = len(fx.requests())

    store.run(lambda c: c.execute("UPDATE trade_queue SET next_attempt_at = NULL"))
    live(store, clock).run()  # still open: no call at all
    assert len(fx.requests()) == calls

    fx.faults.clear()
    clock.t += 31  # past open_seconds: the next call is the probe
    store.run(lambda c: c.execute("UPDATE trade_queue SET next_attempt_at = NULL"))
    report = live(store, clock).run()
    assert report.filled == 2, report.lines
    assert breaker.state() == cb.BreakerState()  # closed by the probe's success
    assert all(queue(store)[r]["status"] == "FILLED" for r in rows)


def mark_sent(store: LedgerStore, row: int, mode: str = "live") -> None:
    """What a run does just before its order request leaves."""
    store.run(
        lambda c: c.execute(
            "UPDATE trade_queue SET sent_at = now() - INTERVAL 1 SECOND, send_mode = ? "
            "WHERE id = ?",
            [mode, row],
        )
    )


def test_a_crashed_run_whose_order_reached_the_venue_is_reconciled_without_resending(
    store: LedgerStore, fx: FakeExchange
) -> None:
    cid = "bb-crash-reached"
    client = make_binance_client(fx.base_url, timeout_ms=1500)
    client.create_order("ETH/BTC", "market", "buy", 0.5, params={"newClientOrderId": cid})
    row = entry(store, cid=cid, status="EXECUTING", run_id="dead-run")
    mark_sent(store, row)
    owned = entry(store, "l2", cid="bb-owned", status="EXECUTING", run_id="live-run")
    executor = live(store)
    executor.is_run_alive = lambda run_id: run_id == "live-run"
    report = executor.run()
    assert report.reconciled == 1
    assert queue(store)[row]["status"] == "FILLED"
    assert queue(store)[owned]["status"] == "EXECUTING"  # its run is alive: not ours to touch
    assert len(posts(fx)) == 1 and orders_at_venue(fx, cid) == 1
    assert len(table(store, "positions")) == 1


def test_a_crashed_run_whose_order_never_left_is_requeued_and_sent_once(
    store: LedgerStore, fx: FakeExchange
) -> None:
    row = entry(store, cid="bb-crash-lost", status="EXECUTING", run_id="dead-run")
    report = live(store).run()
    q = queue(store)[row]
    assert report.reconciled == 1 and q["status"] == "FILLED"
    assert len(posts(fx)) == 1 and orders_at_venue(fx, "bb-crash-lost") == 1
    # A second run finds nothing to do and sends nothing.
    live(store).run()
    assert len(posts(fx)) == 1


def test_an_ambiguous_send_whose_lookup_also_fails_is_left_for_the_next_run(
    store: LedgerStore, fx: FakeExchange
) -> None:
    fx.add_fault("reset_after_accept", path=ORDER, method="POST")
    fx.add_fault("error", path=ORDER, method="GET", status=502)
    row = entry(store)
    report = live(store, **SETTLE).run()
    # The first lookup failed; the run kept looking within its time and found the order.
    assert queue(store)[row]["status"] == "FILLED", report.lines
    assert fx.requests(ORDER, "GET")[0].status == 502
    assert len(posts(fx)) == 1 and len(fx.orders()) == 1


def test_created_at_is_kept_for_latency(store: LedgerStore, fx: FakeExchange) -> None:
    entry(store, created_at=datetime.now(UTC) - timedelta(seconds=3))
    executor: Executor = live(store)
    report = executor.run()
    assert report.latencies and report.latencies[0] >= 3


def test_a_spent_budget_during_reconciliation_leaves_rows_for_the_next_run(
    store: LedgerStore, fx: FakeExchange
) -> None:
    row = entry(store, cid="bb-budget", status="EXECUTING", run_id="dead-run")
    mark_sent(store, row)
    executor = live(store, max_run_seconds=1.0)
    executor.live.limiter.back_off(60.0, "test: the venue asked for a minute")
    report = executor.run()  # must not raise
    assert queue(store)[row]["status"] == "EXECUTING" and report.reconciled == 0
    assert fx.requests() == []


def test_a_429_is_retried_no_sooner_than_retry_after_and_blocks_the_budget(
    store: LedgerStore, fx: FakeExchange
) -> None:
    fx.set_limits(LimitConfig(orders_per_10s=1, order_window_s=10.0))
    first, second, third = (entry(store, f"l{i}") for i in (1, 2, 3))
    executor = live(store)
    report = executor.run()
    rows = queue(store)
    assert rows[first]["status"] == "FILLED"
    assert posts(fx) == [200, 429]
    retry_after = float(executor.live.client.last_response_headers["Retry-After"])
    assert retry_after > 0
    limited = rows[second]
    assert (limited["status"], limited["attempts"]) == ("PENDING", 1)
    assert "429" in limited["reason"] or "1015" in limited["reason"]
    wait = (limited["next_attempt_at"] - limited["updated_at"]).total_seconds()
    assert wait >= retry_after - 0.01
    # The account's budget is blocked until Retry-After: the rest waits for a later run.
    assert rows[third]["status"] == "PENDING" and rows[third]["attempts"] == 0
    assert report.stopped_by == "rate-limit budget spent"
    assert any(c["outcome"] == "rate_limited" for c in table(store, "exchange_calls"))


def test_a_partial_fill_opens_a_position_of_the_filled_amount(
    store: LedgerStore, fx: FakeExchange
) -> None:
    # The order stays PARTIALLY_FILLED at the venue: the row follows it until it ends.
    fx.add_fault("partial_fill", path=ORDER, method="POST", fill_ratio=0.5)
    row = entry(store, size=0.5)
    report = live(store, max_run_seconds=1.0).run()
    [order], [position] = table(store, "orders"), table(store, "positions")
    assert (queue(store)[row]["status"], report.in_flight) == ("EXECUTING", 1)
    assert (order["status"], order["filled"]) == ("PARTIALLY_FILLED", 0.25)
    # What the venue filled, less the commission paid in ETH (0.1% of 0.25), not what was asked.
    assert position["amount"] == pytest.approx(0.24975)
    assert fx.balances()["ETH"]["free"] == "0.24975000"


def set_mode(store: LedgerStore, bot_id: str, mode: str) -> None:
    store.run(lambda c: c.execute("UPDATE bots SET mode = ? WHERE id = ?", [mode, bot_id]))


def test_paper_fills_on_a_ccxt_account_never_touch_the_live_breaker(
    store: LedgerStore, fx: FakeExchange
) -> None:
    clock = Clock()
    live_breaker = fast_breaker(store, "live", clock)
    for _ in range(4):
        live_breaker.failure("503 from the venue")
    set_mode(store, "l1", "paper")
    # The paper venue fills at the account's stored market price (its newest 1m close).
    now_bar = timeframes.floor(datetime.now(UTC), "1m")
    store.upsert_candles("live", "ETH/BTC", "1m", flat_bars(now_bar, [0.05]), source="test")
    row = entry(store, "l1")
    assert live(store, clock).run().filled == 1
    assert queue(store)[row]["status"] == "FILLED" and table(store, "orders")[0]["mode"] == "paper"
    # The paper fill said nothing about the live venue: its four failures still count.
    assert live_breaker.state() == cb.BreakerState(cb.BreakerStatus.CLOSED, 4)
    assert fx.requests(ORDER) == []


def test_a_row_sent_live_is_settled_at_the_live_venue_after_the_bot_went_paper(
    store: LedgerStore, fx: FakeExchange
) -> None:
    cid = "bb-sent-live-then-paper"
    client = make_binance_client(fx.base_url, timeout_ms=1500)
    client.create_order("ETH/BTC", "market", "buy", 0.5, params={"newClientOrderId": cid})
    row = entry(store, "l1", cid=cid, status="EXECUTING", run_id="dead-run")
    mark_sent(store, row, "live")
    set_mode(store, "l1", "paper")
    report = live(store).run()
    q = queue(store)[row]
    assert report.reconciled == 1 and q["status"] == "FILLED", report.lines
    # Looked up at the real venue (where it was sent), recorded as a live order; not re-sent.
    assert fx.requests(ORDER, "GET") and len(posts(fx)) == 1
    [order] = table(store, "orders")
    assert order["mode"] == "live" and order["exchange_order_id"] == str(fx.orders()[0]["orderId"])
    [position] = table(store, "positions")
    assert position["amount"] == pytest.approx(0.4995)  # net of the ETH commission


def test_a_half_open_probe_that_sends_nothing_is_handed_back(
    store: LedgerStore, fx: FakeExchange
) -> None:
    clock = Clock()
    breaker = fast_breaker(store, "live", clock)
    for _ in range(5):
        breaker.failure("503 from the venue")
    clock.t += 31  # past the hold: the next allowed call is the probe
    row = entry(store, "l1", size=0.0004)  # below the 0.001 step: refused before any send
    live(store, clock).run()
    assert queue(store)[row]["reason"].startswith("invalid order:")
    assert fx.requests(ORDER) == []
    # Nothing reached the venue: the probe is free again at once, not after probe_timeout.
    state = breaker.state()
    assert state.status is cb.BreakerStatus.HALF_OPEN and state.probe_started_at is None
    good = entry(store, "l2")
    assert live(store, clock).run().filled == 1
    assert queue(store)[good]["status"] == "FILLED" and breaker.state() == cb.BreakerState()


def test_a_position_below_the_market_minimum_is_closed_as_dust_not_failed_every_bar(
    store: LedgerStore, fx: FakeExchange
) -> None:
    # 0.005 ETH held, ETH/BTC's minimum quantity is 0.01: no order can sell it.
    fx.set_balance("ETH", "0.005")
    store.run(
        lambda c: c.execute(
            "INSERT INTO positions (bot_id, exchange, symbol, direction, amount, entry_price, "
            "status, open_key, fees, open_fees, opened_at) VALUES ('l1', 'live', 'ETH/BTC', "
            "'LONG', 0.005, 0.04, 'OPEN', 'l1|ETH/BTC', 0.000001, 0.000001, now())"
        )
    )
    close = entry(store, "l1", direction="CLOSE", size=0.005)
    live(store).run()
    q = queue(store)[close]
    assert q["status"] == "CANCELLED" and q["reason"].startswith("dust: amount 0.005 below")
    assert fx.requests(ORDER) == []
    [position] = table(store, "positions")
    # Valued at the market (0.05): 0.005 x (0.05 - 0.04) - 0.000001 fees = 0.000049 BTC.
    assert position["status"] == "CLOSED" and position["exit_reason"].startswith("dust")
    assert position["realized_pnl"] == pytest.approx(0.000049)
    # Nothing left open: no CLOSE is queued for it again.
    assert store.open_position("l1", "ETH/BTC") is None


def test_the_rest_of_a_partial_close_is_sold_by_the_same_process_from_a_fresh_balance(
    store: LedgerStore, fx: FakeExchange
) -> None:
    executor = live(store)
    entry(store, "l1", size=0.5)
    assert executor.run().filled == 1  # 0.4995 ETH held after the ETH commission
    # The CLOSE fills 40% and ends EXPIRED: 0.499 asked (0.001 step), 40% of it is 0.1996,
    # filled on the step: 0.199 sold.
    fx.add_fault("expired_partial", path=ORDER, method="POST", count=1, fill_ratio=0.4)
    entry(store, "l1", direction="CLOSE", size=0.4995)
    executor.run()
    # The same venue object sizes the rest: its cached balance (0.4995 less the 0.499 asked)
    # is below what the rest needs, so it reads the account again instead of selling 0.0005.
    for _ in range(3):
        executor.run()
    closes = [q for q in queue(store).values() if q["direction"] == "CLOSE"]
    assert len(closes) == 2 and {q["status"] for q in closes} == {"FILLED"}, closes
    sells = [o for o in fx.orders() if o["side"] == "SELL"]
    # 0.4995 - 0.199 = 0.3005 held, sold on the 0.001 step: 0.300 (by hand).
    assert [o["executedQty"] for o in sells] == ["0.19900000", "0.30000000"]
    assert len(fx.requests("/api/v3/account", "GET")) == 2


def test_a_close_of_a_position_the_venue_no_longer_holds_fails_naming_why(
    store: LedgerStore, fx: FakeExchange
) -> None:
    entry(store, "l1", size=0.5)
    assert live(store).run().filled == 1
    fx.set_balance("ETH", "0")  # sold or withdrawn outside BotBox
    close = entry(store, "l1", direction="CLOSE", size=0.4995)
    live(store).run()
    q = queue(store)[close]
    assert q["status"] == "FAILED" and "holds none of ETH" in q["reason"], q["reason"]
    assert [o["side"] for o in fx.orders()] == ["BUY"]  # no order for nothing was sent


def test_a_buy_raises_the_cached_balance_so_its_close_needs_no_second_account_read(
    store: LedgerStore, fx: FakeExchange
) -> None:
    executor = live(store)  # one venue object for every run: its cache lives across them
    entry(store, "l1", size=0.5)
    executor.run()
    # One run: l1's CLOSE first (reads the account: 0.4995 ETH, sells 0.499), then l2's buy of
    # 0.5 (0.4995 net of the ETH commission), which the cache adds: 0.0005 + 0.4995 = 0.5.
    entry(store, "l1", direction="CLOSE", size=0.4995)
    entry(store, "l2", size=0.5)
    executor.run()
    # l2's CLOSE of 0.4995 is covered by the cache: no second 20-weight account read.
    entry(store, "l2", direction="CLOSE", size=0.4995)
    executor.run()
    assert {q["status"] for q in queue(store).values()} == {"FILLED"}
    assert len(fx.requests("/api/v3/account", "GET")) == 1
    sells = [o["executedQty"] for o in fx.orders() if o["side"] == "SELL"]
    assert sells == ["0.49900000", "0.49900000"]
    assert fx.balances()["ETH"]["free"] == "0.00100000"  # two steps of dust, by hand


def test_a_fresh_venue_whose_first_call_is_a_balance_read_budgets_the_market_list(
    store: LedgerStore, fx: FakeExchange
) -> None:
    # ccxt's fetch_balance loads the market list itself (exchangeInfo, 20 weight): a CLOSE
    # sized in a fresh process must not send that request past the limiter.
    venue = live_exchange(store)
    assert venue.held("ETH/BTC", 1.0) is not None
    assert [r.path for r in fx.requests()] == ["/api/v3/exchangeInfo", "/api/v3/account"]
    assert_every_call_took_a_token(store, fx)
