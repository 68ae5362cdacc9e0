"""Exchange errors, classified by what the caller may do next.

The class of an error is the retry policy: callers catch ``TransientExchangeError`` to retry
with backoff, ``PermanentExchangeError`` to give up with the reason, and
``AmbiguousOrderError`` to look the order up by client order id before anything is sent
again (an order request is never blindly retried: the first one may have reached the venue).

Adapters translate library exceptions (ccxt, HTTP) into these; nothing above the adapters
needs to know which library raised. ``trips_breaker`` says whether the error is evidence that
the exchange itself is unhealthy: an insufficient balance is our problem, a timeout is theirs.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from botbox_dagster.domain.errors import BotBoxError


class ExchangeError(BotBoxError):
    """Base of every exchange error; ``reason`` is a short line an operator can act on."""

    retryable: ClassVar[bool] = False
    trips_breaker: ClassVar[bool] = False

    def __init__(
        self, reason: str, *, exchange: str | None = None, status: int | None = None
    ) -> None:
        self.reason = reason
        self.exchange = exchange
        self.status = status
        where = f"{exchange}: " if exchange else ""
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{where}{reason}{code}")


class TransientExchangeError(ExchangeError):
    """Timeouts, 5xx answers and network failures on calls that are safe to repeat."""

    retryable = True
    trips_breaker = True


class RateLimitedError(TransientExchangeError):
    """The venue answered 429 (slow down) or 418 (IP banned for a while).

    ``retry_after_seconds`` comes from the venue's Retry-After header when it sent one; the
    limiter blocks the account's bucket until then, and the breaker counts it as a failure.
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_after_seconds: float | None = None,
        exchange: str | None = None,
        status: int | None = 429,
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(reason, exchange=exchange, status=status)

    @property
    def is_ban(self) -> bool:
        """Binance answers 418 once an IP kept going after 429s: the ban grows if ignored."""
        return self.status == 418


class ExchangeUnavailableError(TransientExchangeError):
    """Maintenance or a venue-wide outage: retryable, but on a scale of minutes, not seconds."""


class AmbiguousOrderError(ExchangeError):
    """An order request may or may not have reached the venue (timeout after send, 5xx).

    Not retryable as such: resending could place a second order. The order must first be
    looked up by ``client_order_id``; only if the venue has never seen it may it be sent again.
    """

    trips_breaker = True

    def __init__(
        self,
        reason: str,
        *,
        client_order_id: str,
        exchange: str | None = None,
        status: int | None = None,
    ) -> None:
        self.client_order_id = client_order_id
        super().__init__(reason, exchange=exchange, status=status)


class PermanentExchangeError(ExchangeError):
    """The same request will fail the same way: do not retry, record the reason."""


class InsufficientFundsError(PermanentExchangeError):
    """The account cannot pay for the order."""


class InvalidOrderError(PermanentExchangeError):
    """The venue refused the order's parameters (size, price, filters, type)."""


class OrderNotFoundError(InvalidOrderError):
    """The venue has no order by that id, *now*: right after a send this proves nothing
    (Binance can answer -2013 for an order it has just processed; docs/venue-contract.md)."""


class UnknownSymbolError(PermanentExchangeError):
    """The venue does not list the market (delisted, typo, wrong venue)."""


def classify_http_status(
    status: int,
    reason: str,
    *,
    order_sent: bool = False,
    client_order_id: str | None = None,
    retry_after_seconds: float | None = None,
    exchange: str | None = None,
) -> ExchangeError:
    """The error for an HTTP failure, for adapters whose library gives only the status.

    A 5xx on an order request is ambiguous, not transient: Binance documents that the
    execution status is then unknown and the order may have been placed.
    """
    if order_sent and not client_order_id:
        raise ValueError("an order request always carries its client order id: pass it")
    if status in (418, 429):
        return RateLimitedError(
            reason, retry_after_seconds=retry_after_seconds, exchange=exchange, status=status
        )
    if status >= 500 and order_sent:
        return AmbiguousOrderError(
            reason, client_order_id=str(client_order_id), exchange=exchange, status=status
        )
    if status == 503:
        return ExchangeUnavailableError(reason, exchange=exchange, status=status)
    if status >= 500 or status == 408:
        return TransientExchangeError(reason, exchange=exchange, status=status)
    return PermanentExchangeError(reason, exchange=exchange, status=status)


class SupportsRandom(Protocol):
    """What ``retry_delay`` needs of its random source: ``random.Random`` fits."""

    def random(self) -> float: ...


# Beyond 2**62 the exponential term no longer fits a float sensibly; the cap has long won.
_MAX_DOUBLINGS = 62


def retry_delay(attempt: int, base: float, cap: float, rng: SupportsRandom) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)).
    Full jitter spreads processes that failed together (one venue outage hits every run at
    once) so they do not retry in lockstep; the random source is injected so tests are exact.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError(f"base and cap must be >= 0, got base={base} cap={cap}")
    ceiling = cap if attempt > _MAX_DOUBLINGS else min(cap, base * 2.0**attempt)
    return rng.random() * ceiling


def delay_for_error(
    error: ExchangeError, attempt: int, base: float, cap: float, rng: SupportsRandom
) -> float:
    """``retry_delay``, but never shorter than the Retry-After the venue asked for."""
    delay = retry_delay(attempt, base, cap, rng)
    if isinstance(error, RateLimitedError) and error.retry_after_seconds is not None:
        return max(delay, error.retry_after_seconds)
    return delay
