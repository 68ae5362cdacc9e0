"""Markets the fake lists, and their Binance ``exchangeInfo`` entries.

Symbol entries are built from a template transcribed from a real Binance ``exchangeInfo``
entry (BTCUSDT, as captured in ``shared/data/ccxt/binance_selected.json``), with the
symbol, assets and the PRICE_FILTER / LOT_SIZE / NOTIONAL filters replaced per market.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from botbox_dagster.fake_exchange.limits import LimitConfig

SYMBOL_TEMPLATE: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "status": "TRADING",
    "baseAsset": "BTC",
    "baseAssetPrecision": 8,
    "quoteAsset": "USDT",
    "quotePrecision": 8,
    "quoteAssetPrecision": 8,
    "baseCommissionPrecision": 8,
    "quoteCommissionPrecision": 8,
    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
    "icebergAllowed": True,
    "ocoAllowed": True,
    "quoteOrderQtyMarketAllowed": True,
    "allowTrailingStop": True,
    "cancelReplaceAllowed": True,
    "isSpotTradingAllowed": True,
    "isMarginTradingAllowed": False,
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00000000",
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ],
    "permissions": [],
    "permissionSets": [["SPOT"]],
    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
}


def fmt(value: Decimal | float) -> str:
    """Binance's 8-decimal string form."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else str(value)
    return f"{Decimal(str(value)) if isinstance(value, float) else value:.8f}"


def default_tick(price: float) -> Decimal:
    """A tick size giving about five significant digits at ``price`` (at least 1e-8)."""
    if price <= 0 or not math.isfinite(price):
        return Decimal("0.00000001")
    exponent = max(math.floor(math.log10(price)) - 4, -8)
    return Decimal(1).scaleb(exponent)


@dataclass(frozen=True)
class MarketSpec:
    """One spot market: unified symbol (``ETH/BTC``), candle file and trading filters.

    ``tick_size`` None: derived from the recording's last price. ``min_qty`` None: one step.
    """

    symbol: str
    csv_path: Path | None = None
    timeframe: str | None = None
    tick_size: Decimal | None = None
    step_size: Decimal = Decimal("0.0001")
    min_qty: Decimal | None = None
    max_qty: Decimal = Decimal("9000000")
    min_notional: Decimal = Decimal("0.0001")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """Base asset (``ETH``)."""
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        """Quote asset (``BTC``)."""
        return self.symbol.split("/")[1]

    @property
    def market_id(self) -> str:
        """Binance symbol id (``ETHBTC``)."""
        return self.base + self.quote

    @property
    def lot_min(self) -> Decimal:
        """Smallest order quantity."""
        return self.min_qty if self.min_qty is not None else self.step_size


def symbol_entry(spec: MarketSpec, tick: Decimal, template: dict[str, Any] | None = None) -> dict:
    """The ``exchangeInfo.symbols[]`` entry for one market."""
    entry = copy.deepcopy(template or SYMBOL_TEMPLATE)
    entry.update(symbol=spec.market_id, baseAsset=spec.base, quoteAsset=spec.quote)
    filters = {f["filterType"]: f for f in entry["filters"]}
    filters["PRICE_FILTER"].update(minPrice=fmt(tick), tickSize=fmt(tick))
    filters["LOT_SIZE"].update(
        minQty=fmt(spec.lot_min), maxQty=fmt(spec.max_qty), stepSize=fmt(spec.step_size)
    )
    if "MARKET_LOT_SIZE" in filters:
        filters["MARKET_LOT_SIZE"].update(maxQty=fmt(spec.max_qty))
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL")
    if notional is not None:
        notional["minNotional"] = fmt(spec.min_notional)
    entry.update(spec.extra)
    return entry


def exchange_info(symbols: list[dict], server_time_ms: int, limits: LimitConfig) -> dict:
    """The full ``GET /api/v3/exchangeInfo`` body."""
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": limits.weight_per_minute,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": limits.orders_per_10s,
            },
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }
