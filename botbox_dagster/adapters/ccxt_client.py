"""Building real ccxt clients, and turning ccxt's exceptions into BotBox's.

ccxt's own throttle (``enableRateLimit``) works per client instance, so it is off: every call goes
through the account's shared :class:`LedgerRateLimiter` instead. To point a client at a test
server (the loopback fake exchange), every ``urls["api"]`` entry keeps its path and takes the test
server's scheme and host, so even an endpoint the test server lacks can never reach the internet.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt

from botbox_dagster.domain import exchange_errors as ee

# Binance spot: load_markets then calls only GET /api/v3/exchangeInfo (no futures, margin or
# currency endpoints, which cost weight and need other permissions).
VENUE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
    }
}


def rebase_urls(api_urls: Any, base_url: str) -> Any:
    """Every ``urls["api"]`` entry with its scheme and host replaced by ``base_url``'s."""
    base = base_url.rstrip("/")
    if isinstance(api_urls, str):
        return base + urlsplit(api_urls).path
    if isinstance(api_urls, dict):
        return {name: rebase_urls(url, base_url) for name, url in api_urls.items()}
    return api_urls


def build_client(
    venue: str,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
    timeout_ms: int = 10_000,
) -> ccxt.Exchange:
    """A real ccxt client for ``venue``; keys only when given (public market data needs none)."""
    try:
        cls = getattr(ccxt, venue)
    except AttributeError:
        raise ee.UnknownSymbolError(f"ccxt has no exchange {venue!r}", exchange=venue) from None
    config: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": dict(VENUE_OPTIONS.get(venue, {})),
    }
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    client = cls(config)
    if api_url:
        client.urls["api"] = rebase_urls(client.urls["api"], api_url)
    return client


def retry_after(client: ccxt.Exchange) -> float | None:
    headers = getattr(client, "last_response_headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def used_weight(client: ccxt.Exchange, header: str | None) -> float | None:
    if not header:
        return None
    headers = getattr(client, "last_response_headers", None) or {}
    for key, value in headers.items():
        if key.lower() == header.lower():
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


# Answers to an order request that say the venue refused it: nothing was placed. Every other
# failure of an order request (timeouts, resets, 5xx, -1006/-1001 which ccxt raises as
# OperationFailed or BadResponse, unparseable bodies) may follow a processed order and is
# ambiguous: the harsher reading of docs/venue-contract.md.
DEFINITE_REFUSALS: tuple[type[Exception], ...] = (
    ccxt.InsufficientFunds,
    ccxt.InvalidOrder,
    ccxt.BadSymbol,
    ccxt.BadRequest,
    ccxt.ArgumentsRequired,
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.DDoSProtection,
    ccxt.RateLimitExceeded,
)


def order_outcome_unknown(exc: Exception) -> bool:
    """Whether a failed order request may have placed the order."""
    return not isinstance(exc, DEFINITE_REFUSALS)


def translate(exc: Exception, client: ccxt.Exchange, exchange: str) -> ee.ExchangeError:
    """Map a ccxt exception to BotBox's hierarchy (which says whether to retry)."""
    text = str(exc)[:300]
    status = getattr(client, "last_http_response_status", None)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        code = 418 if "418" in text else 429
        return ee.RateLimitedError(
            text, retry_after_seconds=retry_after(client), exchange=exchange, status=code
        )
    if isinstance(exc, ccxt.OnMaintenance):
        return ee.ExchangeUnavailableError(text, exchange=exchange)
    if isinstance(exc, ccxt.InsufficientFunds):
        return ee.InsufficientFundsError(text, exchange=exchange)
    if isinstance(exc, ccxt.OrderNotFound):
        return ee.OrderNotFoundError(text, exchange=exchange)
    if isinstance(exc, ccxt.BadSymbol):
        return ee.UnknownSymbolError(text, exchange=exchange)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.ArgumentsRequired):
        return ee.InvalidOrderError(text, exchange=exchange)
    if isinstance(exc, ccxt.NetworkError | ccxt.ExchangeNotAvailable | ccxt.RequestTimeout):
        return ee.TransientExchangeError(text, exchange=exchange)
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied):
        return ee.PermanentExchangeError(f"authentication failed: {text}", exchange=exchange)
    return ee.TransientExchangeError(text, exchange=exchange, status=status)
