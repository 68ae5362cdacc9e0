"""Executor assembly: one place builds an account's executor, for Dagster runs and bare workers.

An execution pass for an exchange account needs its venues (the paper simulator with the
account's capabilities, and the ccxt venue for live accounts), its circuit breaker, the
deployment's live-trading flag and the run's identity. Building it here means the Dagster op and
the chaos worker run the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.exchanges.paper import PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.venues import live_venue, paper_venue
from botbox_dagster.domain.circuit_breaker import BreakerConfig
from botbox_dagster.domain.errors import BotBoxError
from botbox_dagster.services.executor import ExecutionSettings, Executor


class UnknownAccountError(BotBoxError):
    """The account named for a run is not in the ledger's fleet."""


def build_executor(
    store: LedgerStore,
    account_id: str,
    *,
    run_id: str,
    alive: Callable[[str], bool],
    settings: ExecutionSettings,
    paper: PaperSettings,
    breaker_open_seconds: float,
    live_trading_enabled: bool,
    live_timeout_ms: int = 10_000,
    log: Callable[[str], None] | None = None,
) -> Executor:
    """The executor of one account's queue: its venues, breaker and settings.

    ``live_trading_enabled`` is the deployment's flag (never a run's choice): without it a live
    bot's rows fail before anything is sent.
    """
    accounts = store.exchange_accounts()
    account = accounts.get(account_id)
    if account is None:
        raise UnknownAccountError(
            f"unknown exchange account {account_id!r} (known: {', '.join(sorted(accounts))})"
        )
    return Executor(
        store,
        account.id,
        paper_venue(store, account.id, paper),
        live_venue(store, account, timeout_ms=live_timeout_ms),
        LedgerCircuitBreaker(
            store,
            account.id,
            BreakerConfig(open_seconds=breaker_open_seconds, probe_timeout_seconds=60.0),
        ),
        replace(settings, live_trading_enabled=live_trading_enabled),
        run_id,
        alive,
        log=log or (lambda _m: None),
    )
