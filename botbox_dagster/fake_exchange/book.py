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
from botbox_dagster.fake_exchange.orders import Balance, Execution, Order


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
        #: The newest order per client id, visible or not (the venue's truth).
        self.by_client_id: dict[str, Order] = {}
        #: Every order ever created per client id, oldest first (tests count resends here).
        self.client_orders: dict[str, list[Order]] = {}
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
    def place(self, params: Mapping[str, str], execution: Execution | None = None) -> Order:
        """Validate and execute ``POST /api/v3/order``; raise ``BinanceError`` if refused."""
        run = execution or Execution()
        spec = self.market(params.get("symbol"))
        side = (params.get("side") or "").upper()
        if side not in ("BUY", "SELL"):
            raise mandatory("side") if not side else bad(-1117, "Invalid side.")
        otype = (params.get("type") or "").upper()
        if otype not in ("MARKET", "LIMIT"):
            raise mandatory("type") if not otype else bad(-1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or f"fake-{next(self._client_ids)}"
        # Binance rest-api.md "New order (TRADE)": newClientOrderId is "a unique id among open
        # orders"; errors.md "Messages for -1010, -2010 ...": "Duplicate order sent." The id of
        # a FILLED, CANCELED or EXPIRED order is accepted again and makes a second order: the
        # venue does not stop a resend (the harsh reading; docs/venue-contract.md §1).
        if any(o.is_open for o in self.client_orders.get(client_id, ())):
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
        # errors.md "Filter failures" and filters.md LOT_SIZE / NOTIONAL (docs/venue-contract.md
        # §6): refused with -1013 before the matching engine.
        if qty < spec.lot_min or qty > spec.max_qty or qty % spec.step_size != 0:
            raise bad(-1013, "Filter failure: LOT_SIZE")
        ref_price = price if otype == "LIMIT" and price is not None else market_price
        if qty * ref_price < spec.min_notional:
            raise bad(-1013, "Filter failure: NOTIONAL")
        marketable = otype == "MARKET" or (
            price is not None
            and (price >= market_price if side == "BUY" else price <= market_price)
        )
        fill_price = market_price if marketable else ref_price
        self._check_funds(spec, side, qty, fill_price)
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
            visible_at_ms=now + run.hidden_ms,
        )
        self.orders[order.order_id] = order
        self.by_client_id[client_id] = order
        self.client_orders.setdefault(client_id, []).append(order)
        if otype == "MARKET" and run.delay_ms is not None:
            # new_then_fill: answered NEW with nothing executed; fills at ``fill_due_ms``.
            order.fill_due_ms = now + run.delay_ms
            self._lock(order, fill_price)
            return order
        if marketable:
            fill_qty = qty
            if run.fill_ratio is not None:
                fill_qty = self._ratio_qty(spec, qty, run.fill_ratio)
            self._fill(order, fill_qty, market_price, maker=False)
            if run.expire and order.is_open:
                # faqs/market_orders_faq.md: the rest expires when liquidity runs out.
                order.status = "EXPIRED"
        if order.type == "LIMIT" and order.is_open:
            self._lock(order, order.price)
        return order

    @staticmethod
    def _ratio_qty(spec: MarketSpec, qty: Decimal, ratio: float) -> Decimal:
        """``ratio`` of ``qty`` rounded down to the step, at least one step, at most ``qty``."""
        part = (qty * Decimal(str(ratio))).quantize(spec.step_size, rounding=ROUND_DOWN)
        return max(part, spec.step_size) if part < qty else qty

    def _check_funds(self, spec: MarketSpec, side: str, qty: Decimal, price: Decimal) -> None:
        # errors.md "Messages for ... -2010": "Account has insufficient balance for requested
        # action." (docs/venue-contract.md §8). A BUY needs the quote cost only: its commission
        # comes out of the base bought (faqs/commission_faq.md, §4).
        if side == "BUY":
            needed, asset = qty * price, spec.quote
        else:
            needed, asset = qty, spec.base
        if self.balance(asset).free < needed:
            raise insufficient_balance()

    def _lock(self, order: Order, price: Decimal) -> None:
        """Move what the unfilled part could cost from free to locked."""
        remaining = order.orig_qty - order.executed_qty
        spec = order.spec
        if order.side == "BUY":
            amount, asset = remaining * price, spec.quote
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
        # Binance faqs/commission_faq.md "How is the commission calculated?": without BNB the
        # commission is deducted from the received amount: a BUY pays in base (buy 1.0, hold
        # 0.999 at 0.1%), a SELL in quote (docs/venue-contract.md §4).
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

    def process_due(self) -> None:
        """Fill ``new_then_fill`` orders whose time has come, and crossed resting LIMITs."""
        now = self._now_ms()
        for order in list(self.orders.values()):
            if order.fill_due_ms is None or order.fill_due_ms > now or not order.is_open:
                continue
            price = self._price_of(order.spec.symbol)
            if price is None:
                continue
            order.fill_due_ms = None
            self._unlock(order)
            self._fill(order, order.orig_qty - order.executed_qty, price, maker=False)
        self.match_resting()

    def match_resting(self) -> None:
        """Fill open LIMIT orders the current price has crossed (at their limit price)."""
        for order in list(self.orders.values()):
            if order.type != "LIMIT" or not order.is_open:
                continue
            price = self._price_of(order.spec.symbol)
            if price is None:
                continue
            crossed = price <= order.price if order.side == "BUY" else price >= order.price
            if crossed:
                self._unlock(order)
                self._fill(order, order.orig_qty - order.executed_qty, order.price, maker=True)

    # -- queries (what the account's API shows: ``invisible`` orders are left out) ----------
    def visible(self, order: Order) -> bool:
        """Whether queries show the order yet (rest-api.md "Data Sources"; venue-contract §3)."""
        return self._now_ms() >= order.visible_at_ms

    def find(self, params: Mapping[str, str]) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (Binance's -2013 if none).

        By client id, the newest visible order with that id (an earlier filled one while a
        resend is still invisible). errors.md -2013 "Order does not exist." (§3).
        """
        spec = self.market(params.get("symbol"))
        order: Order | None = None
        if params.get("orderId"):
            try:
                order = self.orders.get(int(params["orderId"]))
            except ValueError:
                raise bad(-1100, "Illegal characters found in parameter 'orderId'.") from None
        elif params.get("origClientOrderId"):
            seen = self.client_orders.get(params["origClientOrderId"], [])
            order = next((o for o in reversed(seen) if self.visible(o)), None)
        else:
            raise bad(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.spec.market_id != spec.market_id or not self.visible(order):
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
        if not order.is_open:
            raise bad(-2011, "Unknown order sent.")
        self._unlock(order)
        order.fill_due_ms = None
        order.status = "CANCELED"
        order.update_time = self._now_ms()
        return order

    def open_orders(self, market_id: str | None) -> list[Order]:
        """Visible open orders, of one market or all."""
        if market_id:
            self.market(market_id)
        return [
            o
            for o in self.orders.values()
            if o.is_open and self.visible(o) and (not market_id or o.spec.market_id == market_id)
        ]

    def all_orders(self, market_id: str | None) -> list[Order]:
        """Visible orders of one market, any status, oldest first."""
        spec = self.market(market_id)
        return [
            o
            for o in self.orders.values()
            if o.spec.market_id == spec.market_id and self.visible(o)
        ]

    def visible_trades(self, market_id: str | None) -> list[dict[str, Any]]:
        """Trades of one market whose orders are visible."""
        spec = self.market(market_id)
        return [
            t
            for t in self.trades
            if t["symbol"] == spec.market_id and self.visible(self.orders[t["orderId"]])
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
