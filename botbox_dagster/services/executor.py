"""The execution run's work for one exchange account, free of Dagster.

1. Expire: PENDING entries past their TTL become EXPIRED (a stale signal never trades).
2. Reconcile: EXECUTING rows not owned by a live run (a crash, a kill, an ambiguous send, an
   order still open at the venue). A row never sent goes back to PENDING. A row sent (its
   ``sent_at`` is written before the request leaves) is settled only from the records of the
   venue it was sent to (``send_mode``): the order lookup, open orders and the trades since the
   send, over a grace window longer than the venue's visibility lag. Start-up and recovery are
   one code path.
3. Execute: claim bounded batches (CLOSE first, then oldest), and for each row check the bot,
   the position and the breaker of the row's (account, mode), size it at the venue's current
   price (a CLOSE sells what the venue really holds), take a rate-limit token and place the
   order. A refusal fails the row with the venue's reason; a rate limit re-queues it; an unknown
   outcome keeps it in flight.
4. Follow: rows in flight (unknown outcome, NEW or PARTIALLY_FILLED orders) are polled until
   they end or the run's time is up; the next run carries on.

Under docs/venue-contract.md this places at most one order per queue row: an entry whose send
was ambiguous and that the venue never shows is failed and the operator told, never re-sent.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker, breaker_name
from botbox_dagster.adapters.exchanges.base import Exchange
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.rate_limiter import BudgetExhaustedError
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain.bots import Bot, BotStatus, TradingMode
from botbox_dagster.domain.client_order_id import follow_up_client_order_id
from botbox_dagster.domain.execution import OrderResult, QueueRow, Side, entry_side, exit_side
from botbox_dagster.domain.precision import fit_order, is_dust

AMBIGUOUS_RUN = "ambiguous"


@dataclass(frozen=True)
class ExecutionSettings:
    batch_size: int = 20
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 60.0
    max_run_seconds: float = 45.0
    # A row EXECUTING this long is recovered even if its run still looks alive: a killed run
    # process stays STARTED in Dagster's storage when nothing (run monitoring) notices.
    orphan_after_seconds: float = 300.0
    live_trading_enabled: bool = False
    # How long after a send an invisible order may still appear (docs/venue-contract.md: the
    # venues publish no bound; the fake lags up to a few seconds), and how often to look.
    settle_grace_seconds: float = 20.0
    settle_poll_seconds: float = 1.0


@dataclass
class ExecutionReport:
    """What one run did, for logs and run metadata."""

    expired: int = 0
    reconciled: int = 0
    claimed: int = 0
    filled: int = 0
    requeued: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    released: int = 0
    in_flight: int = 0
    unsettled: int = 0  # sent, never shown by the venue: failed, operator alerted
    stopped_by: str | None = None
    latencies: list[float] = field(default_factory=list)  # queue row created → filled, seconds
    lines: list[str] = field(default_factory=list)


class Executor:
    """Executes one account's queue with a paper venue and, when enabled, a live one."""

    def __init__(
        self,
        store: LedgerStore,
        account: str,
        paper: Exchange,
        live: Exchange | None,
        breaker: LedgerCircuitBreaker,
        settings: ExecutionSettings,
        run_id: str,
        is_run_alive: Callable[[str], bool],
        log: Callable[[str], None] = lambda _m: None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.account = account
        self.paper = paper
        self.live = live

        self.settings = settings
        self.run_id = run_id
        self.is_run_alive = is_run_alive
        self.log = log
        self.rng = rng or random.Random()
        self._bots: dict[str, Bot | None] = {}
        self._breakers = {
            "live": breaker,
            "paper": LedgerCircuitBreaker(
                store, breaker_name(account, "paper"), breaker.config, breaker._clock
            ),
        }
        self._following: dict[int, QueueRow] = {}
        self.report = ExecutionReport()

    # -- helpers ---------------------------------------------------------------------------
    def _bot(self, bot_id: str) -> Bot | None:
        if bot_id not in self._bots:
            row = self.store.get_bot(bot_id)
            self._bots[bot_id] = None if row is None else row.bot
        return self._bots[bot_id]

    def _venue(self, bot: Bot) -> tuple[Exchange | None, str | None]:
        """The one place paper and live part ways."""
        if bot.mode is TradingMode.PAPER:
            return self.paper, None
        if not self.settings.live_trading_enabled:
            return None, "live trading is disabled in this deployment (set BOTBOX_LIVE_TRADING=1)"
        if self.live is None:
            return None, f"exchange account {self.account} has no live execution configured"
        return self.live, None

    def _sent_venue(self, row: QueueRow) -> tuple[Exchange | None, str | None]:
        """The venue a sent row's order went to: asking it is never a trade, so a bot switched
        to paper since, or a deployment that no longer allows live orders, still asks it."""
        if row.send_mode == "paper":
            return self.paper, None
        if self.live is None:
            return None, f"exchange account {self.account} has no live venue configured"
        return self.live, None

    def breaker(self, mode: str) -> LedgerCircuitBreaker:
        return self._breakers["live" if mode == "live" else "paper"]

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _fail(self, row: QueueRow, reason: str) -> None:
        self.store.finish(row, "FAILED", reason, self._now())
        self.report.failed[reason.split(":")[0][:60]] += 1
        self.report.lines.append(f"#{row.id} {row.bot_id} {row.direction} FAILED: {reason}")

    def _cancel(self, row: QueueRow, reason: str) -> None:
        self.store.finish(row, "CANCELLED", reason, self._now(), attempt=False)
        self.report.cancelled[reason[:60]] += 1
        self.report.lines.append(f"#{row.id} {row.bot_id} {row.direction} CANCELLED: {reason}")

    def _retry(self, row: QueueRow, error: ee.ExchangeError) -> None:
        attempts = row.attempts + 1
        if attempts >= self.settings.max_attempts:
            self._fail(row, f"gave up after {attempts} attempts: {error.reason}")
            return
        delay = ee.delay_for_error(
            error,
            attempts,
            self.settings.retry_base_seconds,
            self.settings.retry_cap_seconds,
            self.rng,
        )
        self.store.requeue(
            row,
            f"retry {attempts}: {error.reason}",
            self._now() + timedelta(seconds=delay),
            self._now(),
        )
        self.report.requeued += 1
        self.report.lines.append(f"#{row.id} {row.bot_id} retry in {delay:.1f}s: {error.reason}")

    def _release(self, row: QueueRow, reason: str, retry_at: datetime | None = None) -> None:
        """Back to PENDING untouched: nothing was sent, no attempt is counted."""
        self.store.release(row, reason, self._now(), retry_at)
        self.report.released += 1

    def _transient(self, row: QueueRow, error: ee.ExchangeError, mode: str) -> None:
        if error.trips_breaker:
            self.breaker(mode).failure(error.reason)
        self._retry(row, error)

    def _record(self, row: QueueRow, result: OrderResult, mode: str, note: str = "") -> None:
        """Apply the venue's answer; an order not yet ended is followed."""
        effect = self.store.record_fill(row, result, mode=mode, now=self._now())
        if not effect["terminal"]:
            self._following[row.id] = row
            self.report.lines.append(f"#{row.id} {row.bot_id}: {effect['reason']}")
            return
        self._following.pop(row.id, None)
        if result.filled <= 0:
            self.report.failed[f"order ended {result.status} unfilled"] += 1
            self.report.lines.append(f"#{row.id} {row.bot_id} FAILED: {effect['reason']}")
            return
        self.report.filled += 1
        self.report.latencies.append((self._now() - row.created_at).total_seconds())
        self.report.lines.append(
            f"#{row.id} {row.bot_id} {row.direction} {result.side} {result.filled:g} {row.symbol} "
            f"@ {result.average_price:.8g} ({mode}){note}: {effect['reason']}"
        )

    def _in_flight(self, row: QueueRow, reason: str) -> None:
        """Sent, outcome not known yet: stays EXECUTING, owned by no run, settled by lookup."""
        self.store.requeue_ambiguous(row, reason, self._now())
        self._following[row.id] = row
        self.report.lines.append(f"#{row.id} {row.bot_id} in flight: {reason}")

    def _orphaned(self, row: QueueRow) -> bool:
        if row.updated_at is None:
            return False
        age = (self._now() - row.updated_at).total_seconds()
        return age > self.settings.orphan_after_seconds

    # -- the run ---------------------------------------------------------------------------
    def run(self, *, closes_only: bool = False) -> ExecutionReport:
        started = time.monotonic()
        self.report.expired += len(self.store.expire_pending(self.account, self._now()))
        for row in self.store.executing_rows(self.account):
            if (
                row.run_id
                and row.run_id not in (self.run_id, AMBIGUOUS_RUN)
                and not self._orphaned(row)
                and self.is_run_alive(row.run_id)
            ):
                continue
            self._reconcile(row)
        while time.monotonic() - started < self.settings.max_run_seconds:
            # While the fleet is paused, entries stay PENDING untouched (they expire by TTL).
            rows = self.store.claim_rows(
                self.account,
                self.run_id,
                self._now(),
                self.settings.batch_size,
                closes_only=closes_only,
            )
            if not rows:
                break
            self.report.claimed += len(rows)
            for index, row in enumerate(rows):
                stop = self._execute(row)
                if stop:
                    for rest in rows[index + 1 :]:
                        self._release(rest, stop)
                    self.report.stopped_by = stop
                    break
            if self.report.stopped_by:
                break
        self._follow(started)
        self.report.in_flight = len(self._following)
        return self.report

    def _follow(self, started: float) -> None:
        """Poll rows in flight until they end or the run's time is up (the next run goes on)."""
        while self._following and time.monotonic() - started < self.settings.max_run_seconds:
            time.sleep(self.settings.settle_poll_seconds)
            for row_id in list(self._following):
                fresh = self.store.queue_row(row_id)
                if fresh is None or fresh.status != "EXECUTING":
                    self._following.pop(row_id, None)
                    continue
                self._reconcile(fresh)

    def _reconcile(self, row: QueueRow) -> None:
        if row.sent_at is None:
            # The send marker is written before any request leaves: this row never reached a
            # venue (its run died between claiming and sending), so it may simply go again.
            self._release(row, "recovered: claimed by a run that ended before sending")
            self.report.reconciled += 1
            self.report.lines.append(f"#{row.id} recovered: never sent; back to PENDING")
            return
        venue, refusal = self._sent_venue(row)
        if venue is None:
            # The order may be at the venue: failing the row could hide a live position. Keep it
            # EXECUTING, visible, until the venue can be asked.
            reason = f"outcome unknown and the venue cannot be asked: {refusal}"
            self.store.requeue_ambiguous(row, reason, self._now())
            self.log(f"#{row.id} {row.client_order_id}: {reason}")
            return
        sent_ms = int(row.sent_at.timestamp() * 1000)
        try:
            found = venue.find_order(row.bot_id, row.symbol, row.client_order_id, sent_ms)
        except (ee.ExchangeError, BudgetExhaustedError) as exc:
            self._following[row.id] = row
            self.log(f"#{row.id}: lookup of {row.client_order_id} failed ({exc}); will retry")
            return
        if found is not None:
            self.report.reconciled += 1
            self._record(row, found, venue.mode, " (reconciled)")
            return
        waited = (self._now() - row.sent_at).total_seconds()
        if waited < self.settings.settle_grace_seconds:
            self._in_flight(
                row,
                f"sent {waited:.0f} s ago with an unknown outcome; the venue shows no order yet",
            )
            return
        self.report.reconciled += 1
        self._unsettled(row, waited)

    def _unsettled(self, row: QueueRow, waited: float) -> None:
        """Sent with an unknown outcome and never shown by the venue within the grace window."""
        self._following.pop(row.id, None)
        self.report.unsettled += 1
        if row.is_close:
            # A CLOSE protects capital, and it is safe to send again: its amount is read from
            # the venue's holdings at send time, so if the first one did sell, nothing is left.
            cid = follow_up_client_order_id(row.client_order_id, f"resend-{row.attempts + 1}")
            reason = (
                f"operator: CLOSE {row.client_order_id} sent {waited:.0f} s ago never appeared at "
                f"the venue; sent again as {cid} sized from the venue's holdings"
            )
            self.store.resend_close(row, cid, reason, self._now())
        else:
            reason = (
                f"operator: order {row.client_order_id} was sent with an unknown outcome and the "
                f"venue shows no such order {waited:.0f} s later; not re-sent (it could still "
                "exist): check the account"
            )
            self._fail(row, reason)
        self.log(f"#{row.id} {row.bot_id}: {reason}")

    def _execute(self, row: QueueRow) -> str | None:
        """Execute one claimed row; return a reason to stop the run early, else None."""
        bot = self._bot(row.bot_id)
        if bot is None:
            self._cancel(row, "bot no longer exists")
            return None
        if not row.is_close and bot.status is not BotStatus.ACTIVE:
            self._cancel(row, f"bot is {bot.status.value}")
            return None
        venue, refusal = self._venue(bot)
        if venue is None:
            self._fail(row, refusal or "no venue")
            return None
        position = self.store.open_position(row.bot_id, row.symbol)
        breaker = self.breaker(venue.mode)
        if row.is_close:
            if position is None:
                self._cancel(row, "no open position to close")
                return None
            side, amount = exit_side(position.direction), position.amount
        else:
            if position is not None:
                self._cancel(row, f"position {position.id} already open")
                return None
            if row.direction == "SHORT" and not venue.can_short:
                self._fail(row, "short selling needs a margin or futures account")
                return None
            side, amount = entry_side(row.direction), row.position_size
        # Asked before any call to the venue: an open breaker means no calls at all. A granted
        # half-open probe that ends up sending nothing is handed back (return_probe).
        allowed, why = breaker.allow()
        if not allowed:
            # The run stops: the rest of the batch goes back untouched, and the sensor waits
            # out the hold before launching again.
            self._release(row, why)
            return why
        try:
            if row.is_close and side is Side.SELL:
                # Sell what the venue holds, not what the ledger thinks: a spot buy paid its
                # commission in the asset bought, and a CLOSE for more than is held is refused
                # every time (the stop loss would never execute).
                held = venue.held(row.symbol, amount)
                if held is not None and held <= 0:
                    # Sold, withdrawn or moved outside BotBox: an order for nothing is no
                    # answer, the operator has to look.
                    self._fail(
                        row,
                        f"the venue holds none of {row.symbol.split('/')[0]} for position "
                        f"{position.id if position else '?'} (sold or moved outside BotBox?)",
                    )
                    breaker.success()  # the venue answered
                    return None
                if held is not None and held < amount:
                    self.report.lines.append(
                        f"#{row.id} position holds {amount:g}, venue {held:g}: selling {held:g}"
                    )
                    amount = held
            reference = row.entry_price or venue.reference_price(row.symbol)
            fitted = fit_order(amount, reference, venue.precision(row.symbol))
        except BudgetExhaustedError as exc:
            breaker.return_probe()
            self._release(row, str(exc))
            return "rate-limit budget spent"
        except ee.PermanentExchangeError as exc:
            breaker.success()  # the venue answered
            self._fail(row, exc.reason)
            return None
        except ee.ExchangeError as exc:
            self._transient(row, exc, venue.mode)
            return None
        if not fitted.ok:
            breaker.return_probe()
            denial = fitted.denial or ""
            if row.is_close and position is not None and is_dust(denial):
                # Nothing can sell it: a CLOSE each bar would fail the same way forever.
                pnl = self.store.close_as_dust(row, position, reference, denial, self._now())
                self.report.cancelled["dust"] += 1
                self.report.lines.append(
                    f"#{row.id} {row.bot_id} CLOSE: {denial}; position {position.id} closed as "
                    f"dust (P&L {pnl if pnl is not None else 0:+.8g})"
                )
                return None
            self._fail(row, f"invalid order: {denial}")
            return None
        if not self.store.mark_sent(row, venue.mode, self._now()):
            breaker.return_probe()
            return None  # another process moved the row meanwhile
        sent = replace(row, sent_at=self._now(), send_mode=venue.mode)
        try:
            result = venue.create_market_order(
                row.bot_id,
                row.symbol,
                side,
                float(fitted.amount),
                row.client_order_id,
                # A triggered stop or target carries its trigger price; a signal's stored
                # price is never a fill price (the paper venue uses the market's price now).
                price_hint=row.trigger_price,
            )
        except BudgetExhaustedError as exc:
            # The limiter refused before any request left: nothing was sent.
            breaker.return_probe()
            self._release(row, str(exc))
            return "rate-limit budget spent"
        except ee.AmbiguousOrderError as exc:
            breaker.failure(exc.reason)
            self._in_flight(sent, exc.reason)
            return None
        except ee.InvalidOrderError as exc:
            breaker.success()  # the venue answered: it is up
            if "uplicate" in exc.reason:
                # Binance refuses a client order id only while an order with it is open: that
                # order is this row's. Follow it rather than fail the row.
                self._in_flight(sent, f"the venue has an open order with this id: {exc.reason}")
                return None
            self._fail(row, exc.reason)
            return None
        except ee.PermanentExchangeError as exc:
            breaker.success()
            self._fail(row, exc.reason)
            return None
        except ee.ExchangeError as exc:
            # Refused before processing (429/418): nothing was placed, so it may go again.
            self._transient(row, exc, venue.mode)
            return None
        breaker.success()
        self._record(sent, result, venue.mode)
        return None
