"""The market-data source interface: closed bars for a symbol over a time range."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from botbox_dagster.domain.candles import Rejection


@dataclass(frozen=True)
class FetchResult:
    """Closed, validated bars plus what it cost and what was thrown away."""

    frame: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    calls: int = 0
    weight: int = 0


class MarketDataSource(Protocol):
    """Where an exchange account's candles come from (``replay`` or ``ccxt``)."""

    name: str

    def base_timeframe(self, symbol: str) -> str:
        """The finest timeframe the source has for ``symbol`` (longer ones are resampled)."""
        ...

    def fetch(self, symbol: str, since: datetime, until: datetime, now: datetime) -> FetchResult:
        """Closed bars of the base timeframe with open time in [since, until), as of ``now``."""
        ...


class UnknownMarketError(LookupError):
    """The source has no data for the symbol."""
