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
    The file is resolved when a run or sensor uses it, never when the definitions load.
    """

    path: str = ""
    """The ledger file; empty: ``$BOTBOX_LEDGER``, else ``$BOTBOX_HOME/botbox.duckdb``, as the
    process using it sees them."""
    max_wait_seconds: float = 30.0
    """How long one call waits for another process's lock on the file."""

    def store(self) -> LedgerStore:
        """The ledger, opened per call for one short transaction."""
        path = self.path or str(load_settings().ledger_path)
        return LedgerStore(path, max_wait_seconds=self.max_wait_seconds)


class MarketDataResource(dg.ConfigurableResource):
    """Builds each exchange account's market-data source (replay recordings or ccxt)."""

    request_timeout_ms: int = 10_000

    def source(self, account: ExchangeAccount, store: LedgerStore) -> MarketDataSource:
        return build_source(account, store, timeout_ms=self.request_timeout_ms)


def default_resources() -> dict[str, object]:
    """The resources every BotBox job gets; nothing here reads the environment at import."""
    return {
        "ledger": LedgerResource(),
        "market_data": MarketDataResource(),
        # Op outputs are small and live only within a run: keep them in memory rather than
        # pickling them into Dagster's storage on every minute tick.
        "io_manager": dg.mem_io_manager,
    }
