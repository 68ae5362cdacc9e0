"""The per-account request budget, shared by every process through the ledger.

Each exchange call first takes its cost from the account's buckets (``domain/rate_limit.py``):
one short ledger transaction reads the bucket rows, applies the pure take, writes them back and
logs the call. When the budget is spent the caller sleeps for the computed wait and tries again,
up to ``max_wait_seconds``, after which :class:`BudgetExhaustedError` lets it leave the work for
the next run instead of exceeding the venue's limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import rate_limit as rl
from botbox_dagster.domain.accounts import ExchangeAccount
from botbox_dagster.domain.errors import BotBoxError

log = logging.getLogger("botbox.rate_limit")

VENUE_LIMITS: dict[str, rl.VenueLimits] = {"binance": rl.BINANCE_SPOT}


def venue_limits(venue: str) -> rl.VenueLimits:
    """Declared limits of a venue; unknown venues get Binance's shape as a conservative default."""
    return VENUE_LIMITS.get(venue, rl.BINANCE_SPOT)


def account_limits(account: ExchangeAccount) -> rl.VenueLimits:
    """The venue's limits with the account's declared overrides (``weight_per_minute``...)."""
    limits = venue_limits(account.venue)
    overrides = {"weight": account.weight_per_minute, "orders": account.orders_per_10s}
    buckets = tuple(
        replace(b, limit=float(overrides[b.name] or b.limit)) if b.name in overrides else b
        for b in limits.buckets
    )
    return replace(limits, buckets=buckets)


class BudgetExhaustedError(BotBoxError):
    """The account's budget did not free up within the allowed wait."""


class LedgerRateLimiter:
    """Token buckets for one exchange account, state in the ledger."""

    def __init__(
        self,
        store: LedgerStore,
        account: str,
        limits: rl.VenueLimits,
        *,
        max_wait_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.account = account
        self.limits = limits
        self.max_wait_seconds = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self.calls = 0
        self.waited_seconds = 0.0

    def _states(self, rows: dict[str, Any]) -> dict[str, rl.BucketState]:
        return {name: rl.BucketState.from_row(row) for name, row in rows.items()}

    def acquire(self, endpoint: str, purpose: str = "", *, max_wait: float | None = None) -> float:
        """Take ``endpoint``'s cost, waiting if needed; return seconds waited."""
        budget = self.max_wait_seconds if max_wait is None else max_wait
        started = self._clock()
        weight = int(self.limits.cost_of(endpoint).get("weight", 0))
        while True:

            def update(rows: dict[str, Any]) -> Any:
                # The clock is read inside the transaction, after the ledger lock is held, so a
                # grant is stamped with the time it really happens, not when we began to wait.
                now = self._clock()
                new, granted, wait = rl.take_request(self._states(rows), endpoint, now, self.limits)
                return {k: v.to_row() for k, v in new.items()}, (granted, wait), granted

            granted, wait = self.store.update_buckets(
                self.account, update, call=(purpose or endpoint, weight, "sent", endpoint)
            )
            waited = self._clock() - started
            if granted:
                self.calls += 1
                self.waited_seconds += waited
                return waited
            if waited + wait > budget:
                raise BudgetExhaustedError(
                    f"{self.account}: request budget spent ({endpoint} needs {wait:.1f}s more, "
                    f"allowed wait {budget:.0f}s); leaving the rest for the next run"
                )
            self._sleep(max(wait, 0.01))

    def observe_used_weight(self, used_weight: float) -> None:
        """Follow the venue's own count (e.g. Binance's X-MBX-USED-WEIGHT-1M)."""
        if self.limits.used_weight_header is None:
            return
        now = self._clock()
        limit = self.limits.bucket("weight")

        def update(rows: dict[str, Any]) -> Any:
            states = self._states(rows)
            state = states.get("weight") or rl.BucketState.full(limit, now)
            states["weight"] = rl.observe_venue_usage(state, used_weight, now, limit)
            return {k: v.to_row() for k, v in states.items()}, None, False

        self.store.update_buckets(self.account, update)

    def back_off(self, retry_after_seconds: float | None, detail: str) -> None:
        """A 429/418 arrived: block every bucket of the account until Retry-After."""
        now = self._clock()

        def update(rows: dict[str, Any]) -> Any:
            states = self._states(rows) or {
                b.name: rl.BucketState.full(b, now) for b in self.limits.buckets
            }
            blocked = rl.backoff_all(states, retry_after_seconds, now)
            return {k: v.to_row() for k, v in blocked.items()}, None, False

        self.store.update_buckets(self.account, update)
        self.store.log_exchange_call(self.account, "rate_limited", 0, "rate_limited", detail)
        log.warning("%s: rate limited by the venue (%s); backing off", self.account, detail)
