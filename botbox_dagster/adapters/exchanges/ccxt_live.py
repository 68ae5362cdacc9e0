"""Live orders on any ccxt venue, through the shared rate limiter, never blindly retried.

An order request that fails in a way that may have reached the venue (timeout, connection reset,
5xx) raises :class:`AmbiguousOrderError`; the executor then looks the order up by client order id
before anything is sent again. Keys come from the environment variables the account names and
are handed to ccxt only: never logged, never stored.
"""

from __future__ import annotations

import math
import time
from typing import Any

import ccxt

from botbox_dagster.adapters.ccxt_client import order_outcome_unknown, translate, used_weight
from botbox_dagster.adapters.rate_limiter import LedgerRateLimiter
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain.execution import Fill, OrderResult, Side
from botbox_dagster.domain.order_states import order_status_from_venue
from botbox_dagster.domain.precision import MarketPrecision, to_decimal

HELD_TTL_SECONDS = 10.0


class LiveExchange:
    """A ccxt client for one exchange account (keys from the environment)."""

    mode = "live"
    # Spot accounts only: a SHORT entry would need margin or futures, which BotBox does not use.
    can_short = False

    def __init__(self, account: str, client: ccxt.Exchange, limiter: LedgerRateLimiter) -> None:
        self.account = account
        self.client = client
        self.limiter = limiter
        self._markets_loaded = False
        # Free balances read by ``held`` (one 20-weight account call serves every CLOSE it
        # covers for HELD_TTL_SECONDS), lowered by each sell this process sends: never above
        # the truth because of our own orders.
        self._free: dict[str, float] = {}
        self._free_at = -math.inf

    def _call(
        self, endpoint: str, fn: Any, *args: Any, ambiguous_cid: str | None = None, **kwargs: Any
    ) -> Any:
        if endpoint != "load_markets" and not self._markets_loaded:
            # ccxt loads the market list itself inside most calls (fetch_balance, fetch_order):
            # load it here first, so that its 20 weight is taken from the budget like any call.
            self._markets()
        self.limiter.acquire(endpoint, endpoint)
        try:
            result = fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            error = translate(exc, self.client, self.account)
            if isinstance(error, ee.RateLimitedError):
                self.limiter.back_off(error.retry_after_seconds, str(error))
            if ambiguous_cid and order_outcome_unknown(exc):
                raise ee.AmbiguousOrderError(
                    f"order outcome unknown: {error.reason}",
                    client_order_id=ambiguous_cid,
                    exchange=self.account,
                ) from exc
            raise error from exc
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            # ccxt parsing a malformed answer (NaN, empty, wrong shape) raises plain Python
            # errors: they must not escape and kill the run with the whole batch EXECUTING.
            reason = f"malformed answer to {endpoint}: {type(exc).__name__}: {exc}"[:300]
            if ambiguous_cid:
                raise ee.AmbiguousOrderError(
                    reason, client_order_id=ambiguous_cid, exchange=self.account
                ) from exc
            raise ee.PermanentExchangeError(reason, exchange=self.account) from exc
        used = used_weight(self.client, self.limiter.limits.used_weight_header)
        if used is not None:
            self.limiter.observe_used_weight(used)
        return result

    def _markets(self) -> dict[str, Any]:
        if not self._markets_loaded:
            self._call("load_markets", self.client.load_markets)
            self._markets_loaded = True
        return self.client.markets

    def precision(self, symbol: str) -> MarketPrecision:
        market = self._markets().get(symbol)
        if market is None:
            raise ee.UnknownSymbolError(
                f"{self.account} has no market {symbol}", exchange=self.account
            )
        return MarketPrecision.from_ccxt_market(market)

    def reference_price(self, symbol: str) -> float:
        ticker = self._call("fetch_ticker", self.client.fetch_ticker, symbol)
        price = ticker.get("last") or ticker.get("close")
        if not price:
            raise ee.TransientExchangeError(f"no price for {symbol}", exchange=self.account)
        if not (math.isfinite(float(price)) and float(price) > 0):
            raise ee.PermanentExchangeError(
                f"the venue's price for {symbol} is not a positive number: {price!r}",
                exchange=self.account,
            )
        return float(price)

    def _result(self, order: dict[str, Any], cid: str) -> OrderResult:
        amount = float(order.get("amount") or 0)
        filled = float(order.get("filled") or 0)
        fee = order.get("fee") or {}
        trades = order.get("trades") or []
        avg = order.get("average") or order.get("price")
        fills = tuple(
            Fill(
                float(t["amount"]),
                float(t["price"]),
                float((t.get("fee") or {}).get("cost") or 0),
                f"{self.account}-{t.get('id') or i}-{cid}",
            )
            for i, t in enumerate(trades)
        ) or (
            (
                Fill(
                    filled, float(avg), float(fee.get("cost") or 0), f"{self.account}-{order['id']}"
                ),
            )
            if filled and avg
            else ()
        )
        status = order_status_from_venue(
            str(order.get("status") or "open"), to_decimal(filled or 0), to_decimal(amount or 1)
        )
        return OrderResult(
            client_order_id=cid,
            exchange_order_id=str(order["id"]),
            side=Side(order.get("side") or "buy"),
            amount=amount,
            status=status.value,
            filled=filled,
            average_price=float(avg) if avg else None,
            fee=float(fee.get("cost") or 0),
            fee_currency=fee.get("currency"),
            fills=fills,
        )

    def create_market_order(
        self,
        bot_id: str,
        symbol: str,
        side: Side,
        amount: float,
        client_order_id: str,
        price_hint: float | None = None,
    ) -> OrderResult:
        self._markets()
        if side is Side.SELL:
            base = symbol.split("/")[0]
            if base in self._free:
                self._free[base] -= amount  # whatever fills, at most this much leaves
        order = self._call(
            "create_order",
            self.client.create_order,
            symbol,
            "market",
            side.value,
            amount,
            None,
            # ccxt's unified parameter: newClientOrderId on Binance, orderLinkId on Bybit.
            {"clientOrderId": client_order_id},
            ambiguous_cid=client_order_id,
        )
        if not order.get("status") or order.get("filled") is None:
            # Some venues (Bybit) answer a create with ids only: ask for the order itself.
            return self.find_order(bot_id, symbol, client_order_id) or self._result(
                order, client_order_id
            )
        result = self._with_fees(order, symbol, client_order_id)
        if side is Side.BUY:
            self._add_bought(symbol, result)
        return result

    def _add_bought(self, symbol: str, result: OrderResult) -> None:
        """A buy's fill, net of a commission paid in the asset bought, raises the cached free
        balance (still a lower bound: what fills later is only seen by a fresh read)."""
        base = symbol.split("/")[0]
        if base not in self._free or result.filled <= 0:
            return
        fee = result.fee if result.fee_currency == base else 0.0
        self._free[base] += max(0.0, result.filled - fee)

    def _with_fees(self, order: dict[str, Any], symbol: str, cid: str) -> OrderResult:
        """The order, with its trades fetched when the answer carried no fee.

        An order read by lookup (GET order) has no fills and so no commission; on Binance spot a
        buy pays it in the asset bought, so the position would hold more than the account does.
        """
        result = self._result(order, cid)
        if result.filled > 0 and not order.get("trades") and not order.get("fee"):
            trades = self._call(
                "fetch_order_trades", self.client.fetch_order_trades, str(order["id"]), symbol
            )
            if trades:
                result = self._result({**order, "trades": trades, "fee": _fee_of(trades)}, cid)
        return result

    def find_order(
        self,
        bot_id: str,
        symbol: str,
        client_order_id: str,
        sent_at_ms: int | None = None,
    ) -> OrderResult | None:
        """The venue's record of the order, searched in every record it keeps.

        The order lookup first; then, because a just-processed order can be missing from it
        for a while (docs/venue-contract.md), the open orders, and the account's trades since
        the send whose order carries this client order id.
        """
        try:
            order = self._call(
                "fetch_order",
                self.client.fetch_order,
                None,
                symbol,
                {"clientOrderId": client_order_id},
            )
            return self._with_fees(order, symbol, client_order_id)
        except ee.OrderNotFoundError:
            pass
        for order in self._call("fetch_open_orders", self.client.fetch_open_orders, symbol):
            if order.get("clientOrderId") == client_order_id:
                return self._with_fees(order, symbol, client_order_id)
        if sent_at_ms is None:
            return None
        trades = self._call(
            "fetch_my_trades", self.client.fetch_my_trades, symbol, sent_at_ms - 5_000
        )
        for order_id in sorted({str(t["order"]) for t in trades if t.get("order")}):
            try:
                order = self._call("fetch_order", self.client.fetch_order, order_id, symbol)
            except ee.OrderNotFoundError:
                continue
            if order.get("clientOrderId") == client_order_id:
                return self._with_fees(order, symbol, client_order_id)
        return None

    def held(self, symbol: str, need: float) -> float | None:
        """The free balance of the market's base asset: what a CLOSE of a long can sell.

        The cached balances are a lower bound of the truth as far as this process's orders
        go (each sell is subtracted in full whatever it fills; a buy adds what its answer
        says filled, net of a commission in the asset bought), so they answer only when they
        show ``need`` is held. Anything less is read fresh: a cached figure
        below the truth would shrink a CLOSE and strand the rest at the venue.
        """
        base = symbol.split("/")[0]
        cached = self._free.get(base, 0.0)
        if time.monotonic() - self._free_at <= HELD_TTL_SECONDS and cached >= need:
            return cached
        balance = self._call("fetch_balance", self.client.fetch_balance)
        self._free = {
            asset: float(entry.get("free") or 0.0)
            for asset, entry in balance.items()
            if isinstance(entry, dict) and "free" in entry
        }
        self._free_at = time.monotonic()
        return max(0.0, self._free.get(base, 0.0))


def _fee_of(trades: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One fee for the order when its trades paid in one currency (they do on spot)."""
    fees = [t.get("fee") or {} for t in trades]
    currencies = {f.get("currency") for f in fees if f.get("cost")}
    if len(currencies) != 1:
        return None
    return {"cost": sum(float(f.get("cost") or 0) for f in fees), "currency": currencies.pop()}
