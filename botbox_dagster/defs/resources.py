"""Dagster resources: the ledger, the deployment's trading switches and the market-data
sources, chosen from one place.

Configuration enters Dagster code only through these resources. The deployment's settings are
``dg.EnvVar`` fields, resolved when a run or sensor starts (never at import) and shown in the
Launchpad; ``botbox serve`` writes every one of them into the processes it starts
(``settings.dagster_environment``).
"""

import os

import dagster as dg

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.base import MarketDataSource
from botbox_dagster.adapters.market_data.sources import build_source
from botbox_dagster.domain.accounts import ExchangeAccount
from botbox_dagster.settings import (
    BREAKER_OPEN_ENV,
    LEDGER_ENV,
    LIVE_TRADING_ENV,
    load_settings,
    truthy,
)


class LedgerResource(dg.ConfigurableResource):
    """The BotBox ledger: every bot, signal, queued trade, order and position.

    Each call opens the DuckDB file for one short transaction, so runs, sensors and the CLI
    share it; ``max_wait_seconds`` bounds how long a call waits for another process's lock.
    The file is resolved when a run or sensor uses it, never when the definitions load.
    """

    path: str = ""
    """The ledger file (``$BOTBOX_LEDGER`` in the deployment's definitions); empty:
    ``$BOTBOX_LEDGER``, else ``$BOTBOX_HOME/botbox.duckdb``, as the process using it sees them."""
    max_wait_seconds: float = 30.0
    """How long one call waits for another process's lock on the file."""

    def store(self) -> LedgerStore:
        """The ledger, opened per call for one short transaction."""
        path = self.path or str(load_settings().ledger_path)
        return LedgerStore(path, max_wait_seconds=self.max_wait_seconds)


class LiveTradingRefused(dg.Failure):
    """A run's config asked for live trading that the deployment's environment does not allow."""


class TradingResource(dg.ConfigurableResource):
    """The deployment's trading switches: live orders allowed or not, and the circuit breaker.

    ``live_trading`` comes from ``$BOTBOX_LIVE_TRADING`` (paper unless it is ``true``). A run's
    config can turn live trading off, never on: a value that enables it while the process's
    environment does not is refused, so no Launchpad edit can place a live order.
    """

    live_trading: str = "false"
    """Whether accounts of kind ``live`` may place real orders ("true"/"false")."""
    breaker_open_seconds: str = "60"
    """How long an account's circuit breaker stays open before its probe, in seconds."""

    def live_trading_enabled(self) -> bool:
        """The flag, checked against the environment of the process that acts on it."""
        wanted = truthy(self.live_trading)
        if wanted and not truthy(os.environ.get(LIVE_TRADING_ENV)):
            raise LiveTradingRefused(
                f"live trading is enabled by the deployment's environment (${LIVE_TRADING_ENV}) "
                "only, not by a run's config; this run stays paper-only and places nothing"
            )
        return wanted

    def breaker_seconds(self) -> float:
        try:
            seconds = float(self.breaker_open_seconds)
        except ValueError:
            seconds = -1.0
        if seconds <= 0:
            raise dg.Failure(
                f"breaker_open_seconds must be a positive number of seconds, "
                f"not {self.breaker_open_seconds!r} (${BREAKER_OPEN_ENV})"
            )
        return seconds


class MarketDataResource(dg.ConfigurableResource):
    """Builds each exchange account's market-data source (replay recordings or ccxt)."""

    request_timeout_ms: int = 10_000

    def source(self, account: ExchangeAccount, store: LedgerStore) -> MarketDataSource:
        return build_source(account, store, timeout_ms=self.request_timeout_ms)


def default_resources() -> dict[str, object]:
    """The resources every BotBox job gets; the deployment's settings are ``dg.EnvVar`` fields,
    read when a run or sensor starts, never at import."""
    return {
        "ledger": LedgerResource(path=dg.EnvVar(LEDGER_ENV)),
        "trading": TradingResource(
            live_trading=dg.EnvVar(LIVE_TRADING_ENV),
            breaker_open_seconds=dg.EnvVar(BREAKER_OPEN_ENV),
        ),
        "market_data": MarketDataResource(),
        # Op outputs are small and live only within a run: keep them in memory rather than
        # pickling them into Dagster's storage on every minute tick.
        "io_manager": dg.mem_io_manager,
    }
