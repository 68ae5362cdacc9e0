"""Build a REAL ``ccxt.binance`` client pointed at a loopback (or any test) server.

How ccxt is pointed at another server, without patching it:

1. ccxt builds every request URL in ``binance.sign()`` as ``urls["api"][<api name>] + "/" +
   <path>``, where the api name comes from the endpoint table (``public`` → ``/api/v3``,
   ``private`` → ``/api/v3`` signed, ``v1`` → ``/api/v1``, ``sapi*`` → ``/sapi/v*``, and
   ``fapi*``/``dapi*``/``eapi*``/``papi*`` for derivatives). We replace the scheme and host
   of *every* entry of ``urls["api"]`` with the test server's, keeping each entry's path
   (``https://api.binance.com/api/v3`` → ``http://127.0.0.1:PORT/api/v3``), so that even
   an endpoint the fake does not serve reaches the fake (404) rather than the internet.
   Spot trading uses only ``public`` and ``private``.
2. ``options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
   "fetchMargins": False}``: ``load_markets()`` then calls only ``GET /api/v3/exchangeInfo``
   (without it ccxt also asks fapi/dapi exchangeInfo, ``sapi/v1/capital/config/getall``
   and the margin pair lists).
3. ``enableRateLimit=False``: ccxt's throttle is per instance; BotBox budgets weight itself.
4. Known difference from the live venue: ``binance.get_exceptions_by_url()`` applies the
   spot-specific error table only to URLs starting with ``https://api.binance.com/``. For
   spot the common table gives the same classes for the codes the fake sends (-1013 →
   ``BadRequest`` unless the body says LOT_SIZE/PRICE_FILTER → ``InvalidOrder``; -2010 →
   ``InvalidOrder``, or ``InsufficientFunds`` for the insufficient-balance message; -2013 →
   ``OrderNotFound``; 418/429 → ``DDoSProtection``; 5xx → ``ExchangeNotAvailable``).

Production code pointing a live-exchange client at a test server should use this same
function (or the same three steps) rather than monkeypatching ccxt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ccxt

SPOT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}


def rebase_urls(api_urls: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Every ``urls["api"]`` entry with its scheme and host replaced by ``base_url``'s."""
    base = base_url.rstrip("/")
    out: dict[str, Any] = {}
    for name, url in api_urls.items():
        if isinstance(url, str):
            parts = urlsplit(url)
            out[name] = base + parts.path
        elif isinstance(url, dict):
            out[name] = rebase_urls(url, base_url)
        else:
            out[name] = url
    return out


def make_binance_client(
    base_url: str,
    api_key: str | None = "fake-key",
    secret: str | None = "fake-secret",
    timeout_ms: int = 10_000,
    options: dict[str, Any] | None = None,
) -> ccxt.binance:
    """A real ``ccxt.binance`` talking to ``base_url`` (e.g. ``FakeExchange.base_url``).

    ``api_key``/``secret`` None gives a public-only client. ``timeout_ms`` is ccxt's
    per-request timeout; ``options`` are merged over ``SPOT_OPTIONS``.
    """
    import ccxt  # here, so that the server process does not pay for importing ccxt

    config: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": {**SPOT_OPTIONS, **(options or {})},
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    exchange = ccxt.binance(config)
    exchange.urls["api"] = rebase_urls(exchange.urls["api"], base_url)
    return exchange
