"""The execution run's work for one exchange account, free of Dagster.

1. Expire: PENDING entries past their TTL become EXPIRED (a stale signal never trades).
2. Reconcile: EXECUTING rows not owned by a live run (a crash, a kill, an ambiguous send) are
   looked up at the venue by client order id: recorded if the venue has the order, re-queued
   if it never saw it. Start-up and recovery are one code path.
3. Execute: claim bounded batches (CLOSE first, then oldest), and for each row check the bot,
   the position and the breaker, round to the market's precision, take a rate-limit token and
   place the order. Transient errors re-queue with backoff; permanent ones fail with the reason;
   an ambiguous outcome is resolved by lookup before anything is sent again.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.exchanges.base import Exchange
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.rate_limiter import BudgetExhaustedError
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain.bots import Bot, BotStatus, TradingMode
from botbox_dagster.domain.execution import OrderResult, QueueRow, entry_side, exit_side
from botbox_dagster.domain.precision import fit_order

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
        self.breaker = breaker
        self.settings = settings
        self.run_id = run_id
        self.is_run_alive = is_run_alive
        self.log = log
        self.rng = rng or random.Random()
        self._bots: dict[str, Bot | None] = {}
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

    def _release(self, row: QueueRow, reason: str) -> None:
        """Back to PENDING untouched: nothing was sent, no attempt is counted."""
        self.store.release(row, reason, self._now())
        self.report.released += 1

    def _transient(self, row: QueueRow, error: ee.ExchangeError) -> None:
        if error.trips_breaker:
            self.breaker.failure(error.reason)
        self._retry(row, error)

    def _record(self, row: QueueRow, result: OrderResult, mode: str, note: str = "") -> None:
        if result.filled <= 0:
            self._fail(
                row, f"order {result.exchange_order_id} accepted but not filled ({result.status})"
            )
            return
        effect = self.store.record_fill(row, result, mode=mode, now=self._now())
        self.report.filled += 1
        self.report.latencies.append((self._now() - row.created_at).total_seconds())
        self.report.lines.append(
            f"#{row.id} {row.bot_id} {row.direction} {result.side} {result.filled:g} {row.symbol} "
            f"@ {result.average_price:.8g} ({mode}){note}: {effect['reason']}"
        )

    def _orphaned(self, row: QueueRow) -> bool:
        if row.updated_at is None:
            return False
        age = (self._now() - row.updated_at).total_seconds()
        return age > self.settings.orphan_after_seconds

    # -- the run ---------------------------------------------------------------------------
    def run(self, *, closes_only: bool = False) -> ExecutionReport:
        started = time.monotonic()
        self.report.expired = len(self.store.expire_pending(self.account, self._now()))
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
                    return self.report
        return self.report

    def _reconcile(self, row: QueueRow) -> None:
        bot = self._bot(row.bot_id)
        venue, refusal = self._venue(bot) if bot else (self.paper, None)
        if venue is None:
            # The order may be at the venue: failing the row could hide a live position. Keep it
            # EXECUTING, visible, until the venue can be asked.
            reason = f"outcome unknown and the venue cannot be asked: {refusal}"
            self.store.requeue_ambiguous(row, reason, self._now())
            self.log(f"#{row.id} {row.client_order_id}: {reason}")
            return
        try:
            found = venue.find_order(row.bot_id, row.symbol, row.client_order_id)
        except (ee.ExchangeError, BudgetExhaustedError) as exc:
            self.log(f"#{row.id}: lookup of {row.client_order_id} failed ({exc}); will retry")
            return
        self.report.reconciled += 1
        if found is not None:
            self._record(row, found, venue.mode, " (reconciled)")
        else:
            self.store.requeue(
                row, "recovered: the venue never received the order", None, self._now()
            )
            self.report.lines.append(
                f"#{row.id} recovered: venue has no {row.client_order_id}; re-queued"
            )

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
        try:
            # Sized before the breaker is asked, so that a half-open probe is only ever spent
            # on an order that is actually sent.
            reference = row.entry_price or venue.reference_price(row.symbol)
            fitted = fit_order(amount, reference, venue.precision(row.symbol))
        except BudgetExhaustedError as exc:
            self._release(row, str(exc))
            return "rate-limit budget spent"
        except ee.PermanentExchangeError as exc:
            self._fail(row, exc.reason)
            return None
        except ee.ExchangeError as exc:
            self._transient(row, exc)
            return None
        if not fitted.ok:
            self._fail(row, f"invalid order: {fitted.denial}")
            return None
        allowed, why = self.breaker.allow()
        if not allowed:
            self._release(row, why)
            return why
        try:
            result = venue.create_market_order(
                row.bot_id,
                row.symbol,
                side,
                float(fitted.amount),
                row.client_order_id,
                price_hint=row.entry_price,
            )
        except BudgetExhaustedError as exc:
            self._release(row, str(exc))
            return "rate-limit budget spent"
        except ee.AmbiguousOrderError as exc:
            self.breaker.failure(exc.reason)
            self._resolve_ambiguous(row, venue, exc)
            return None
        except ee.PermanentExchangeError as exc:
            if row.attempts > 0 and isinstance(exc, ee.InvalidOrderError):
                # A resend refused (Binance: "Duplicate order sent.") can mean the venue got the
                # earlier send after all: follow the venue's record rather than fail the row.
                self._resolve_ambiguous(row, venue, exc, refused=True)
                return None
            # The venue answered, so it is up: a half-open probe has its answer.
            self.breaker.success()
            self._fail(row, exc.reason)
            return None
        except ee.ExchangeError as exc:
            self._transient(row, exc)
            return None
        self.breaker.success()
        self._record(row, result, venue.mode)
        return None

    def _resolve_ambiguous(
        self, row: QueueRow, venue: Exchange, exc: ee.ExchangeError, *, refused: bool = False
    ) -> None:
        try:
            found = venue.find_order(row.bot_id, row.symbol, row.client_order_id)
        except (ee.ExchangeError, BudgetExhaustedError) as lookup_error:
            # Unknown outcome and no answer: keep it EXECUTING so the next run looks it up first.
            why = getattr(lookup_error, "reason", str(lookup_error))
            self.store.requeue_ambiguous(row, f"{exc.reason}; lookup failed: {why}", self._now())
            self.report.lines.append(f"#{row.id} outcome unknown; left for lookup by the next run")
            return None
        if found is not None:
            note = " (found after a refused resend)" if refused else ""
            self._record(row, found, venue.mode, note or " (found after an ambiguous send)")
        elif refused:
            self._fail(row, exc.reason)
        else:
            self._retry(
                row, ee.TransientExchangeError(f"{exc.reason}; the venue has no such order")
            )
        return None
