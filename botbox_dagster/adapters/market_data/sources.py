"""Choosing an account's market-data source from its configuration."""

from __future__ import annotations

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.base import MarketDataSource
from botbox_dagster.adapters.market_data.replay import ReplaySource
from botbox_dagster.domain.accounts import ExchangeAccount, MarketDataKind


def build_source(
    account: ExchangeAccount, store: LedgerStore, *, timeout_ms: int = 10_000
) -> MarketDataSource:
    """Replay recordings, or the venue's public endpoints through the real ccxt client."""
    if account.market_data is MarketDataKind.REPLAY:
        if not account.replay_dir:
            raise ValueError(f"exchange {account.id}: replay needs replay_dir")
        return ReplaySource(account.replay_dir)
    from botbox_dagster.adapters.ccxt_client import build_client
    from botbox_dagster.adapters.market_data.ccxt_source import CcxtSource
    from botbox_dagster.adapters.rate_limiter import LedgerRateLimiter, account_limits

    client = build_client(account.venue, api_url=account.api_url, timeout_ms=timeout_ms)
    limiter = LedgerRateLimiter(store, account.id, account_limits(account))
    return CcxtSource(account.id, client, limiter)
