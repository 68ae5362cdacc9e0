"""Dagster resources: the ledger and the market-data sources, chosen from one place."""

import dagster as dg

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.base import MarketDataSource
from botbox_dagster.adapters.market_data.sources import build_source
from botbox_dagster.domain.accounts import ExchangeAccount
from botbox_dagster.settings import load_settings


class LedgerResource(dg.ConfigurableResource):
    """The BotBox ledger: every bot, signal, queued trade, order and position.

    Each call opens the DuckDB file for one short transaction, so runs, sensors and the CLI
    share it; ``max_wait_seconds`` bounds how long a call waits for another process's lock.
    """

    path: str
    max_wait_seconds: float = 30.0

    def store(self) -> LedgerStore:
        return LedgerStore(self.path, max_wait_seconds=self.max_wait_seconds)


class MarketDataResource(dg.ConfigurableResource):
    """Builds each exchange account's market-data source (replay recordings or ccxt)."""

    request_timeout_ms: int = 10_000

    def source(self, account: ExchangeAccount, store: LedgerStore) -> MarketDataSource:
        return build_source(account, store, timeout_ms=self.request_timeout_ms)


def default_resources() -> dict[str, object]:
    settings = load_settings()
    return {
        "ledger": LedgerResource(path=str(settings.ledger_path)),
        "market_data": MarketDataResource(),
        # Op outputs are small and live only within a run: keep them in memory rather than
        # pickling them into Dagster's storage on every minute tick.
        "io_manager": dg.mem_io_manager,
    }
