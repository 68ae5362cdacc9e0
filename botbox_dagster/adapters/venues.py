"""Building an account's execution venues (paper always, live only when configured)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botbox_dagster.adapters.exchanges.paper import PaperExchange, PaperSettings
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain.accounts import ExchangeAccount, ExecutionKind
from botbox_dagster.settings import secret_from_env

if TYPE_CHECKING:  # ccxt costs ~2 s to import: only processes that trade live pay for it
    from botbox_dagster.adapters.exchanges.ccxt_live import LiveExchange


def paper_venue(store: LedgerStore, account: str, settings: PaperSettings) -> PaperExchange:
    """The paper simulator for an account, with the account's capabilities (a spot account
    cannot short on paper either)."""
    known = store.exchange_accounts().get(account)
    can_short = known.can_short if known is not None else False
    return PaperExchange(store, account, settings, can_short=can_short)


def live_venue(
    store: LedgerStore, account: ExchangeAccount, *, timeout_ms: int = 10_000
) -> LiveExchange | None:
    """The account's ccxt venue with keys from the environment, or None for paper accounts."""
    if account.execution is not ExecutionKind.CCXT:
        return None
    from botbox_dagster.adapters.ccxt_client import build_client
    from botbox_dagster.adapters.exchanges.ccxt_live import LiveExchange
    from botbox_dagster.adapters.rate_limiter import LedgerRateLimiter, account_limits

    client = build_client(
        account.venue,
        api_url=account.api_url,
        api_key=secret_from_env(account.api_key_env),
        secret=secret_from_env(account.secret_env),
        timeout_ms=timeout_ms,
    )
    limiter = LedgerRateLimiter(store, account.id, account_limits(account))
    return LiveExchange(account.id, client, limiter)
