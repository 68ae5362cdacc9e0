"""The per-exchange circuit breaker, shared by every process through the ledger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import circuit_breaker as cb

log = logging.getLogger("botbox.circuit")


def breaker_name(account: str, mode: str) -> str:
    """One breaker per (account, mode): the live one keeps the account's name (what the signal
    tick and the sensor consult); paper failures and successes never touch it."""
    return account if mode == "live" else f"{account}:{mode}"


class LedgerCircuitBreaker:
    """Breaker state in ``circuit_breakers``; transitions are the pure ones of the domain."""

    def __init__(
        self,
        store: LedgerStore,
        exchange: str,
        config: cb.BreakerConfig = cb.DEFAULT_CONFIG,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.exchange = exchange
        self.config = config
        self._clock = clock

    @staticmethod
    def _state(row: dict[str, Any] | None) -> cb.BreakerState:
        return cb.BreakerState() if row is None else cb.BreakerState.from_row(row)

    def allow(self) -> tuple[bool, str]:
        now = self._clock()

        def update(row: dict[str, Any] | None) -> Any:
            state, allowed, reason = cb.allow(self._state(row), now, self.config)
            return state.to_row(), (allowed, reason)

        return self.store.update_breaker(self.exchange, update)

    def success(self) -> None:
        now = self._clock()

        def update(row: dict[str, Any] | None) -> Any:
            before = self._state(row)
            after = cb.record_success(before, now)
            return after.to_row(), before.status != after.status

        if self.store.update_breaker(self.exchange, update):
            log.warning("%s: circuit closed, trading resumes", self.exchange)

    def return_probe(self) -> None:
        """A granted call sent nothing: a half-open probe goes back unused."""
        self.store.update_breaker(
            self.exchange, lambda row: (cb.return_probe(self._state(row)).to_row(), None)
        )

    def failure(self, reason: str) -> None:
        now = self._clock()

        def update(row: dict[str, Any] | None) -> Any:
            before = self._state(row)
            after = cb.record_failure(before, now, self.config)
            return after.to_row(), (before.status, after.status, after.consecutive_failures)

        before, after, failures = self.store.update_breaker(self.exchange, update)
        if after == cb.BreakerStatus.OPEN and before != cb.BreakerStatus.OPEN:
            log.error(
                "%s: circuit OPEN after %d consecutive failures (last: %s); no new trades for %.0f s",
                self.exchange,
                failures,
                reason,
                self.config.open_seconds,
            )

    def state(self) -> cb.BreakerState:
        return self.store.update_breaker(self.exchange, lambda row: (row, self._state(row)))
