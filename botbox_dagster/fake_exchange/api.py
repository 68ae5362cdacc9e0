"""Binance spot REST endpoints served by the fake: ``(exchange, params) -> JSON body``.

Each route raises ``BinanceError`` for an error answer. Routes run under the exchange lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botbox_dagster.fake_exchange.candles import INTERVAL_MS, CandleFeed
from botbox_dagster.fake_exchange.errors import BinanceError, bad, mandatory
from botbox_dagster.fake_exchange.markets import exchange_info, fmt

if TYPE_CHECKING:
    from botbox_dagster.fake_exchange.server import FakeExchange

Route = Callable[["FakeExchange", Mapping[str, str]], Any]

SIGNED_PATHS = ("/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades")
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
    ex.book.match_resting()
    body = ex.book.account()
    if params.get("omitZeroBalances") == "true":
        body["balances"] = [
            b for b in body["balances"] if Decimal(b["free"]) or Decimal(b["locked"])
        ]
    return body


def new_order(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``POST /api/v3/order`` (signed): MARKET or LIMIT, answered per ``newOrderRespType``."""
    fault = ex.faults.take("POST", "/api/v3/order", ("partial_fill",))
    order = ex.book.place(params, fill_ratio=fault.fill_ratio if fault else None)
    default = "FULL" if order.type in ("MARKET", "LIMIT") else "ACK"
    return order.to_binance((params.get("newOrderRespType") or default).upper())


def get_order(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/order`` by ``orderId`` or ``origClientOrderId`` (signed)."""
    ex.book.match_resting()
    return ex.book.find(params).to_binance()


def cancel_order(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``DELETE /api/v3/order`` (signed)."""
    body = ex.book.cancel(params).to_binance("RESULT")
    body["origClientOrderId"] = body["clientOrderId"]
    body.pop("transactTime", None)
    return body


def open_orders(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/openOrders`` (signed)."""
    ex.book.match_resting()
    return [o.to_binance() for o in ex.book.open_orders(params.get("symbol"))]


def my_trades(ex: FakeExchange, params: Mapping[str, str]) -> Any:
    """``GET /api/v3/myTrades`` (signed; ``symbol`` required)."""
    spec = ex.book.market(params.get("symbol"))
    ex.book.match_resting()
    order_id, start = _int(params, "orderId"), _int(params, "startTime")
    end, limit = _int(params, "endTime"), _int(params, "limit") or 500
    rows = [
        t
        for t in ex.book.trades
        if t["symbol"] == spec.market_id
        and (order_id is None or t["orderId"] == order_id)
        and (start is None or t["time"] >= start)
        and (end is None or t["time"] <= end)
    ]
    return [{k: v for k, v in t.items() if k != "tradeId"} for t in rows[:limit]]


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
