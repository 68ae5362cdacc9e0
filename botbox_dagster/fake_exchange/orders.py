"""Orders and balances as the fake exchange keeps and reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botbox_dagster.fake_exchange.markets import MarketSpec, fmt

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True)
class Execution:
    """How the next order executes, as scripted by a fault (``None`` fields: normally).

    ``fill_ratio`` with ``expire`` False: ``partial_fill`` (stays PARTIALLY_FILLED); with
    ``expire`` True: ``expired_partial`` (ends EXPIRED). ``delay_ms``: ``new_then_fill``.
    ``hidden_ms``: ``invisible``.
    """

    fill_ratio: float | None = None
    expire: bool = False
    delay_ms: int | None = None
    hidden_ms: int = 0


@dataclass
class Balance:
    """Free and locked amounts of one asset."""

    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


@dataclass
class Order:
    """One order as Binance reports it."""

    order_id: int
    client_order_id: str
    spec: MarketSpec
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    time: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    update_time: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)
    locked: Decimal = Decimal(0)
    #: Fake-clock ms before which queries do not show the order (``invisible``).
    visible_at_ms: int = 0
    #: Fake-clock ms at which a NEW MARKET order fills (``new_then_fill``).
    fill_due_ms: int | None = None

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in OPEN_STATUSES

    def to_binance(self, resp_type: str = "QUERY") -> dict[str, Any]:
        """Order body: ``ACK``/``RESULT``/``FULL`` for POST, ``QUERY`` for GET/DELETE."""
        body: dict[str, Any] = {
            "symbol": self.spec.market_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
        }
        if resp_type in ("ACK", "RESULT", "FULL"):
            body["transactTime"] = self.time
        if resp_type == "ACK":
            return body
        body.update(
            price=fmt(self.price),
            origQty=fmt(self.orig_qty),
            executedQty=fmt(self.executed_qty),
            origQuoteOrderQty="0.00000000",
            cummulativeQuoteQty=fmt(self.cum_quote),
            status=self.status,
            timeInForce=self.time_in_force,
            type=self.type,
            side=self.side,
            workingTime=self.time,
            selfTradePreventionMode="NONE",
        )
        if resp_type == "QUERY":
            body.update(
                stopPrice="0.00000000",
                icebergQty="0.00000000",
                time=self.time,
                updateTime=self.update_time or self.time,
                isWorking=True,
            )
        if resp_type == "FULL":
            body["fills"] = [
                {
                    k: v
                    for k, v in f.items()
                    if k in ("price", "qty", "commission", "commissionAsset", "tradeId")
                }
                for f in self.fills
            ]
        return body
