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

The three steps are done by :func:`botbox_dagster.adapters.ccxt_client.build_client`, which
production code uses for every venue; this wrapper only fixes the venue and test keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ccxt


def make_binance_client(
    base_url: str,
    api_key: str | None = "fake-key",
    secret: str | None = "fake-secret",
    timeout_ms: int = 10_000,
) -> ccxt.binance:
    """A real ``ccxt.binance`` talking to ``base_url`` (e.g. ``FakeExchange.base_url``).

    ``api_key``/``secret`` None gives a public-only client. ``timeout_ms`` is ccxt's
    per-request timeout.
    """
    # Imported here, so that the server process does not pay for importing ccxt.
    from botbox_dagster.adapters.ccxt_client import build_client

    client = build_client(
        "binance", api_url=base_url, api_key=api_key, secret=secret, timeout_ms=timeout_ms
    )
    return client
