"""Binance spot REST endpoints served by the fake: ``(exchange, params) -> JSON body``.

Each route raises ``BinanceError`` for an error answer. Routes run under the exchange lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botbox_dagster.fake_exchange.candles import INTERVAL_MS, CandleFeed
from botbox_dagster.fake_exchange.errors import BinanceError, bad, mandatory
from botbox_dagster.fake_exchange.faults import Fault
from botbox_dagster.fake_exchange.markets import exchange_info, fmt
from botbox_dagster.fake_exchange.orders import Execution

if TYPE_CHECKING:
    from botbox_dagster.fake_exchange.server import FakeExchange

Route = Callable[["FakeExchange", Mapping[str, str]], Any]

SIGNED_PATHS = (
    "/api/v3/account",
    "/api/v3/order",
    "/api/v3/openOrders",
    "/api/v3/allOrders",
    "/api/v3/myTrades",
)
#: Fault kinds that change how an order executes; the MARKET-only ones first.
MARKET_EXECUTION_FAULTS = ("expired_partial", "new_then_fill")
DAY_MS = 86_400_000


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise bad(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _feed(ex: FakeExchange, market_id: str | None) -> tuple[str, CandleFeed]:
    spec = ex.book.market(market_id)
    feed = ex.feeds.get(spec.symbol)
    if feed is None:
        raise bad(-1121, "Invalid symbol.")
    return spec.symbol, feed


def ping(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/ping``."""
    return {}


def server_time(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/time``."""
    return {"serverTime": ex.clock.now_ms()}


def get_exchange_info(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/exchangeInfo`` (all markets; ``symbol``/``symbols`` narrow it)."""
    wanted = _symbol_ids(params)
    symbols = [s for s in ex.symbol_entries if wanted is None or s["symbol"] in wanted]
    return exchange_info(symbols, ex.clock.now_ms(), ex.limiter.config)


def _symbol_ids(params: Mapping[str, str]) -> list[str] | None:
    if params.get("symbol"):
        return [params["symbol"]]
    if params.get("symbols"):
        try:
            return list(json.loads(params["symbols"]))
        except ValueError:
            raise bad(-1100, "Illegal characters found in parameter 'symbols'.") from None
    return None


def klines(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/klines``: the last row is the forming candle (close time in the future)."""
    _, feed = _feed(ex, params.get("symbol"))
    interval = params.get("interval")
    if not interval:
        raise mandatory("interval")
    interval_ms = INTERVAL_MS.get(interval)
    if interval_ms is None or interval_ms < feed.timeframe_ms or interval_ms % feed.timeframe_ms:
        raise bad(-1120, "Invalid interval.")
    limit = _int(params, "limit") or 500
    if not 1 <= limit <= 1000:
        raise bad(-1130, "Data sent for parameter 'limit' is not valid.")
    bars = feed.klines(
        interval_ms, ex.clock.now_ms(), _int(params, "startTime"), _int(params, "endTime"), limit
    )
    return [
        [
            b.open_time,
            fmt(b.open),
            fmt(b.high),
            fmt(b.low),
            fmt(b.close),
            fmt(b.volume),
            b.open_time + interval_ms - 1,
            fmt(b.volume * b.close),
            100 if b.volume > 0 else 0,
            fmt(b.volume / 2),
            fmt(b.volume * b.close / 2),
            "0",
        ]
        for b in bars
    ]


def _ticker(ex: FakeExchange, market_id: str) -> dict[str, Any]:
    symbol, feed = _feed(ex, market_id)
    now = ex.clock.now_ms()
    bars = list(feed.raw_bars_between(now - DAY_MS, now))
    last = ex.price(symbol) or Decimal(0)
    tick = ex.book.ticks[market_id]
    open_ = Decimal(str(bars[0].open)) if bars else last
    volume = sum(b.volume for b in bars)
    quote_volume = sum(b.volume * b.close for b in bars)
    change = last - open_
    return {
        "symbol": market_id,
        "priceChange": fmt(change),
        "priceChangePercent": f"{(change / open_ * 100) if open_ else 0:.3f}",
        "weightedAvgPrice": fmt(quote_volume / volume if volume else float(last)),
        "prevClosePrice": fmt(open_),
        "lastPrice": fmt(last),
        "lastQty": "1.00000000",
        "bidPrice": fmt(last),
        "bidQty": "10.00000000",
        "askPrice": fmt(last + tick),
        "askQty": "10.00000000",
        "openPrice": fmt(open_),
        "highPrice": fmt(max([b.high for b in bars] + [float(last)])),
        "lowPrice": fmt(min([b.low for b in bars] + [float(last)])),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": now - DAY_MS,
        "closeTime": now,
        "firstId": 1,
        "lastId": len(bars),
        "count": len(bars),
    }


def _market_ids(ex: FakeExchange, params: Mapping[str, str]) -> list[str] | None:
    wanted = _symbol_ids(params)
    if wanted is not None:
        for market_id in wanted:
            _feed(ex, market_id)
    return wanted


def ticker_24hr(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/ticker/24hr``: one object with ``symbol``, else a list."""
    wanted = _market_ids(ex, params)
    if params.get("symbol"):
        return _ticker(ex, params["symbol"])
    ids = (
        wanted
        if wanted is not None
        else [m for m, s in ex.book.markets.items() if s.symbol in ex.feeds]
    )
    return [_ticker(ex, m) for m in ids]


def ticker_price(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/ticker/price``."""
    wanted = _market_ids(ex, params)
    ids = (
        wanted
        if wanted is not None
        else [m for m, s in ex.book.markets.items() if s.symbol in ex.feeds]
    )
    rows = [
        {"symbol": m, "price": fmt(ex.price(ex.book.markets[m].symbol) or Decimal(0))} for m in ids
    ]
    return rows[0] if params.get("symbol") else rows


def account(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/account`` (signed)."""
    body = ex.book.account()
    if params.get("omitZeroBalances") == "true":
        body["balances"] = [
            b for b in body["balances"] if Decimal(b["free"]) or Decimal(b["locked"])
        ]
    return body


def _execution(ex: FakeExchange, params: Mapping[str, str]) -> tuple[Execution, list[Fault]]:
    """The scripted execution of this order and the faults it would use up."""
    market = (params.get("type") or "").upper() == "MARKET"
    kinds = ("partial_fill", *MARKET_EXECUTION_FAULTS) if market else ("partial_fill",)
    shape = ex.faults.peek("POST", "/api/v3/order", kinds)
    hide = ex.faults.peek("POST", "/api/v3/order", ("invisible",))
    used = [f for f in (shape, hide) if f is not None]
    run = Execution(hidden_ms=int((hide.seconds or 0.0) * 1000) if hide else 0)
    if shape is not None and shape.kind == "new_then_fill":
        run = replace(run, delay_ms=int((shape.seconds or 0.0) * 1000))
    elif shape is not None:
        run = replace(run, fill_ratio=shape.fill_ratio, expire=shape.kind == "expired_partial")
    return run, used


def new_order(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``POST /api/v3/order`` (signed): MARKET or LIMIT, answered per ``newOrderRespType``.

    Binance rest-api.md "New order (TRADE)": ``newOrderRespType`` defaults to FULL for
    MARKET and LIMIT; RESULT and FULL carry status, executedQty and cummulativeQuoteQty,
    FULL adds the fills with commission and commissionAsset (docs/venue-contract.md §4-5).
    """
    run, used = _execution(ex, params)
    order = ex.book.place(params, run)
    for fault in used:  # only an accepted order uses a fault up
        ex.faults.use(fault)
    return order.to_binance((params.get("newOrderRespType") or "FULL").upper())


def get_order(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/order`` by ``orderId`` or ``origClientOrderId`` (signed)."""
    return ex.book.find(params).to_binance()


def cancel_order(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``DELETE /api/v3/order`` (signed)."""
    body = ex.book.cancel(params).to_binance("RESULT")
    body["origClientOrderId"] = body["clientOrderId"]
    body.pop("transactTime", None)
    return body


def open_orders(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/openOrders`` (signed)."""
    return [o.to_binance() for o in ex.book.open_orders(params.get("symbol"))]


def _limit(params: Mapping[str, str]) -> int:
    limit = _int(params, "limit") or 500
    if not 1 <= limit <= 1000:
        raise bad(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def all_orders(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/allOrders`` (signed; ``symbol`` required): rest-api.md "All orders"."""
    orders = ex.book.all_orders(params.get("symbol"))
    order_id, start = _int(params, "orderId"), _int(params, "startTime")
    end, limit = _int(params, "endTime"), _limit(params)
    rows = [
        o
        for o in orders
        if (order_id is None or o.order_id >= order_id)
        and (start is None or o.time >= start)
        and (end is None or o.time <= end)
    ]
    # "If orderId is set, it will get orders >= that orderId. Otherwise most recent orders."
    rows = rows[:limit] if order_id is not None or start is not None else rows[-limit:]
    return [o.to_binance() for o in rows]


def my_trades(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/myTrades`` (signed; ``symbol`` required)."""
    trades = ex.book.visible_trades(params.get("symbol"))
    order_id, start = _int(params, "orderId"), _int(params, "startTime")
    end, limit = _int(params, "endTime"), _limit(params)
    from_id = _int(params, "fromId")
    rows = [
        t
        for t in trades
        if (order_id is None or t["orderId"] == order_id)
        and (start is None or t["time"] >= start)
        and (end is None or t["time"] <= end)
        and (from_id is None or t["id"] >= from_id)
    ]
    rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [{k: v for k, v in t.items() if k != "tradeId"} for t in rows]


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v3/ping"): ping,
    ("GET", "/api/v3/time"): server_time,
    ("GET", "/api/v3/exchangeInfo"): get_exchange_info,
    ("GET", "/api/v3/klines"): klines,
    ("GET", "/api/v3/ticker/24hr"): ticker_24hr,
    ("GET", "/api/v3/ticker/price"): ticker_price,
    ("GET", "/api/v3/account"): account,
    ("POST", "/api/v3/order"): new_order,
    ("GET", "/api/v3/order"): get_order,
    ("DELETE", "/api/v3/order"): cancel_order,
    ("GET", "/api/v3/openOrders"): open_orders,
    ("GET", "/api/v3/allOrders"): all_orders,
    ("GET", "/api/v3/myTrades"): my_trades,
}


def check_signed(path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> None:
    """Signed endpoints need an API key header, a timestamp and a signature (not verified)."""
    if path not in SIGNED_PATHS:
        return
    if not headers.get("X-MBX-APIKEY"):
        raise BinanceError(401, -2014, "API-key format invalid.")
    for name in ("timestamp", "signature"):
        if not params.get(name):
            raise mandatory(name)
