"""The one interface every exchange implements (paper and live alike)."""

from __future__ import annotations

from typing import Protocol

from botbox_dagster.domain.execution import OrderResult, Side
from botbox_dagster.domain.precision import MarketPrecision


class Exchange(Protocol):
    """Where orders go. Implementations raise ``domain.exchange_errors`` exceptions only."""

    account: str
    mode: str  # "paper" or "live": recorded on every order
    can_short: bool  # whether an entry may sell what the bot does not hold

    def precision(self, symbol: str) -> MarketPrecision:
        """The market's amount step, price tick and minimums."""
        ...

    def reference_price(self, symbol: str) -> float:
        """The price a market order is judged at before it is sent (min notional, funds)."""
        ...

    def create_market_order(
        self,
        bot_id: str,
        symbol: str,
        side: Side,
        amount: float,
        client_order_id: str,
        price_hint: float | None = None,
    ) -> OrderResult:
        """Place a market order. Raises AmbiguousOrderError when the outcome is unknown."""
        ...

    def find_order(
        self, bot_id: str, symbol: str, client_order_id: str, sent_at_ms: int | None = None
    ) -> OrderResult | None:
        """The venue's record of an order by client order id, or None if none is visible now.

        ``sent_at_ms`` (when the order was sent) lets a venue search its trade history too.
        None proves nothing right after a send: venues can lag (docs/venue-contract.md).
        """
        ...

    def held(self, symbol: str, need: float) -> float | None:
        """What the account holds of the market's base asset (read fresh whenever a cheaper
        answer could not show ``need`` is held), or None when the ledger's position is the
        only record (paper)."""
        ...
