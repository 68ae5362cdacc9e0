"""Account state of the fake exchange: balances, orders, fills, with Binance's checks.

Every method expects the caller (the server) to hold its lock; prices come from a callback
so the book knows nothing about candles or clocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from botbox_dagster.fake_exchange.errors import BinanceError, bad, insufficient_balance, mandatory
from botbox_dagster.fake_exchange.markets import MarketSpec, fmt
from botbox_dagster.fake_exchange.orders import OPEN_STATUSES, Balance, Order


def _decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise bad(
            -1100,
            f"Illegal characters found in parameter '{name}'.",
        ) from None
    if not value.is_finite() or value <= 0:
        raise bad(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


class Book:
    """Balances, orders and trades of the single fake account."""

    def __init__(
        self,
        markets: Mapping[str, MarketSpec],
        ticks: Mapping[str, Decimal],
        balances: Mapping[str, Decimal | str | float],
        fee_rate: Decimal,
        price_of: Callable[[str], Decimal | None],
        now_ms: Callable[[], int],
    ) -> None:
        self.markets = {spec.market_id: spec for spec in markets.values()}
        self.ticks = dict(ticks)
        self.fee_rate = fee_rate
        self._price_of = price_of
        self._now_ms = now_ms
        self.balances: dict[str, Balance] = {
            asset: Balance(Decimal(str(v))) for asset, v in balances.items()
        }
        self.orders: dict[int, Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.trades: list[dict[str, Any]] = []
        self._order_ids = itertools.count(1000001)
        self._trade_ids = itertools.count(5000001)
        self._client_ids = itertools.count(1)

    # -- helpers -------------------------------------------------------------------
    def market(self, market_id: str | None) -> MarketSpec:
        """The market for a Binance symbol id, or Binance's invalid-symbol error."""
        if not market_id:
            raise mandatory("symbol")
        spec = self.markets.get(market_id)
        if spec is None:
            raise bad(-1121, "Invalid symbol.")
        return spec

    def balance(self, asset: str) -> Balance:
        """The balance of ``asset`` (created empty on first use)."""
        return self.balances.setdefault(asset, Balance())

    def set_balance(self, asset: str, free: Decimal | str | float) -> None:
        """Overwrite an asset's free amount."""
        self.balance(asset).free = Decimal(str(free))

    def _current_price(self, spec: MarketSpec) -> Decimal:
        price = self._price_of(spec.symbol)
        if price is None:
            raise bad(-1013, "Market is closed.")
        return price

    # -- orders ----------------------------------------------------------------------
    def place(self, params: Mapping[str, str], fill_ratio: float | None = None) -> Order:
        """Validate and execute ``POST /api/v3/order``; raise ``BinanceError`` if refused."""
        spec = self.market(params.get("symbol"))
        side = (params.get("side") or "").upper()
        if side not in ("BUY", "SELL"):
            raise mandatory("side") if not side else bad(-1117, "Invalid side.")
        otype = (params.get("type") or "").upper()
        if otype not in ("MARKET", "LIMIT"):
            raise mandatory("type") if not otype else bad(-1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or f"fake-{next(self._client_ids)}"
        # Binance rest-api.md "New order (TRADE)": newClientOrderId is "a unique id among open
        # orders" (docs/venue-contract.md §1). The id of a FILLED, CANCELED or EXPIRED order is
        # accepted again and makes a second order: the venue does not stop a resend.
        earlier = self.by_client_id.get(client_id)
        if earlier is not None and earlier.status in OPEN_STATUSES:
            raise bad(-2010, "Duplicate order sent.")
        market_price = self._current_price(spec)
        qty = _decimal(params, "quantity")
        price = _decimal(params, "price")
        tif = (params.get("timeInForce") or "").upper()
        if otype == "LIMIT":
            if price is None:
                raise mandatory("price")
            if not tif:
                raise mandatory("timeInForce")
            if price % self.ticks[spec.market_id] != 0:
                raise bad(-1013, "Filter failure: PRICE_FILTER")
        elif qty is None:
            quote_qty = _decimal(params, "quoteOrderQty")
            if quote_qty is None:
                raise bad(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            qty = (quote_qty / market_price).quantize(spec.step_size, rounding=ROUND_DOWN)
        if qty is None:
            raise mandatory("quantity")
        if qty < spec.lot_min or qty > spec.max_qty or qty % spec.step_size != 0:
            raise bad(-1013, "Filter failure: LOT_SIZE")
        ref_price = price if otype == "LIMIT" and price is not None else market_price
        if qty * ref_price < spec.min_notional:
            raise bad(-1013, "Filter failure: NOTIONAL")
        marketable = otype == "MARKET" or (
            price is not None
            and (price >= market_price if side == "BUY" else price <= market_price)
        )
        self._check_funds(spec, side, qty, market_price if marketable else ref_price)
        now = self._now_ms()
        order = Order(
            next(self._order_ids),
            client_id,
            spec,
            side,
            otype,
            tif or "GTC",
            price if price is not None else Decimal(0),
            qty,
            now,
        )
        self.orders[order.order_id] = order
        self.by_client_id[client_id] = order
        if marketable:
            fill_qty = qty
            if fill_ratio is not None:
                fill_qty = (qty * Decimal(str(fill_ratio))).quantize(
                    spec.step_size, rounding=ROUND_DOWN
                )
                fill_qty = max(fill_qty, spec.step_size) if fill_qty < qty else qty
            self._fill(order, fill_qty, market_price, maker=False)
        if order.type == "LIMIT" and order.status in OPEN_STATUSES:
            self._lock_remaining(order)
        return order

    def _check_funds(self, spec: MarketSpec, side: str, qty: Decimal, price: Decimal) -> None:
        if side == "BUY":
            needed, asset = qty * price, spec.quote  # the commission comes out of the base bought
        else:
            needed, asset = qty, spec.base
        if self.balance(asset).free < needed:
            raise insufficient_balance()

    def _lock_remaining(self, order: Order) -> None:
        remaining = order.orig_qty - order.executed_qty
        spec = order.spec
        if order.side == "BUY":
            amount, asset = remaining * order.price * (1 + self.fee_rate), spec.quote
        else:
            amount, asset = remaining, spec.base
        bal = self.balance(asset)
        bal.free -= amount
        bal.locked += amount
        order.locked += amount

    def _unlock(self, order: Order) -> None:
        asset = order.spec.quote if order.side == "BUY" else order.spec.base
        bal = self.balance(asset)
        bal.free += order.locked
        bal.locked -= order.locked
        order.locked = Decimal(0)

    def _fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool) -> None:
        spec = order.spec
        quote_qty = qty * price
        base, quote = self.balance(spec.base), self.balance(spec.quote)
        # Binance faqs/commission_faq.md (docs/venue-contract.md §4): without BNB the commission
        # is paid in the asset received: a BUY pays in base (buy 1.0, hold 0.999), a SELL in quote.
        if order.side == "BUY":
            fee = (qty * self.fee_rate).quantize(Decimal("0.00000001"))
            fee_asset = spec.base
            base.free += qty - fee
            quote.free -= quote_qty
        else:
            fee = (quote_qty * self.fee_rate).quantize(Decimal("0.00000001"))
            fee_asset = spec.quote
            base.free -= qty
            quote.free += quote_qty - fee
        order.executed_qty += qty
        order.cum_quote += quote_qty
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_time = self._now_ms()
        trade = {
            "symbol": spec.market_id,
            "id": next(self._trade_ids),
            "orderId": order.order_id,
            "orderListId": -1,
            "price": fmt(price),
            "qty": fmt(qty),
            "quoteQty": fmt(quote_qty),
            "commission": fmt(fee),
            "commissionAsset": fee_asset,
            "time": order.update_time,
            "isBuyer": order.side == "BUY",
            "isMaker": maker,
            "isBestMatch": True,
        }
        trade["tradeId"] = trade["id"]
        order.fills.append(trade)
        self.trades.append(trade)

    def match_resting(self) -> None:
        """Fill open LIMIT orders the current price has crossed (at their limit price)."""
        for order in list(self.orders.values()):
            if order.type != "LIMIT" or order.status not in OPEN_STATUSES:
                continue
            price = self._price_of(order.spec.symbol)
            if price is None:
                continue
            crossed = price <= order.price if order.side == "BUY" else price >= order.price
            if crossed:
                self._unlock(order)
                self._fill(order, order.orig_qty - order.executed_qty, order.price, maker=True)

    def find(self, params: Mapping[str, str]) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (Binance's -2013 if none)."""
        spec = self.market(params.get("symbol"))
        order: Order | None = None
        if params.get("orderId"):
            try:
                order = self.orders.get(int(params["orderId"]))
            except ValueError:
                raise bad(-1100, "Illegal characters found in parameter 'orderId'.") from None
        elif params.get("origClientOrderId"):
            order = self.by_client_id.get(params["origClientOrderId"])
        else:
            raise bad(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.spec.market_id != spec.market_id:
            raise bad(-2013, "Order does not exist.")
        return order

    def cancel(self, params: Mapping[str, str]) -> Order:
        """``DELETE /api/v3/order``: cancel an open order (Binance's -2011 otherwise)."""
        try:
            order = self.find(params)
        except BinanceError as exc:
            if exc.code == -2013:
                raise bad(-2011, "Unknown order sent.") from None
            raise
        if order.status not in OPEN_STATUSES:
            raise bad(-2011, "Unknown order sent.")
        self._unlock(order)
        order.status = "CANCELED"
        order.update_time = self._now_ms()
        return order

    def open_orders(self, market_id: str | None) -> list[Order]:
        """Open orders, of one market or all."""
        if market_id:
            self.market(market_id)
        return [
            o
            for o in self.orders.values()
            if o.status in OPEN_STATUSES and (not market_id or o.spec.market_id == market_id)
        ]

    def account(self) -> dict[str, Any]:
        """``GET /api/v3/account`` body."""
        bps = int(self.fee_rate * 10000)
        rate = fmt(self.fee_rate)
        return {
            "makerCommission": bps,
            "takerCommission": bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": rate,
                "taker": rate,
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self._now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
                for asset, b in sorted(self.balances.items())
            ],
            "permissions": ["SPOT"],
            "uid": 1,
        }
