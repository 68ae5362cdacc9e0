"""Live orders on any ccxt venue, through the shared rate limiter, never blindly retried.

An order request that fails in a way that may have reached the venue (timeout, connection reset,
5xx) raises :class:`AmbiguousOrderError`; the executor then looks the order up by client order id
before anything is sent again. Keys come from the environment variables the account names and
are handed to ccxt only: never logged, never stored.
"""

from __future__ import annotations

import math
from typing import Any

import ccxt

from botbox_dagster.adapters.ccxt_client import translate, used_weight
from botbox_dagster.adapters.rate_limiter import LedgerRateLimiter
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain.execution import Fill, OrderResult, Side
from botbox_dagster.domain.order_states import order_status_from_venue
from botbox_dagster.domain.precision import MarketPrecision, to_decimal


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

    def _call(
        self, endpoint: str, fn: Any, *args: Any, ambiguous_cid: str | None = None, **kwargs: Any
    ) -> Any:
        self.limiter.acquire(endpoint, endpoint)
        try:
            result = fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            error = translate(exc, self.client, self.account)
            if isinstance(error, ee.RateLimitedError):
                self.limiter.back_off(error.retry_after_seconds, str(error))
            if (
                ambiguous_cid
                and isinstance(exc, ccxt.NetworkError)
                and not isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded)
            ):
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
        order = self._call(
            "create_order",
            self.client.create_order,
            symbol,
            "market",
            side.value,
            amount,
            None,
            {"newClientOrderId": client_order_id},
            ambiguous_cid=client_order_id,
        )
        if not order.get("status") or order.get("filled") is None:
            # Some venues (Bybit) answer a create with ids only: ask for the order itself.
            return self.find_order(bot_id, symbol, client_order_id) or self._result(
                order, client_order_id
            )
        return self._result(order, client_order_id)

    def find_order(self, bot_id: str, symbol: str, client_order_id: str) -> OrderResult | None:
        try:
            order = self._call(
                "fetch_order",
                self.client.fetch_order,
                None,
                symbol,
                {"origClientOrderId": client_order_id},
            )
        except ccxt.OrderNotFound:
            return None
        except ee.InvalidOrderError as exc:
            if "does not exist" in str(exc) or "-2013" in str(exc):
                return None
            raise
        return self._result(order, client_order_id)
