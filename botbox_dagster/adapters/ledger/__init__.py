"""The ledger: one schema for all trading state, reached only through :class:`LedgerStore`."""

from botbox_dagster.adapters.ledger.connection import LedgerBusyError
from botbox_dagster.adapters.ledger.store import LedgerStore

__all__ = ["LedgerBusyError", "LedgerStore"]
