"""The exchange error hierarchy says what to do next; retry delays jitter within bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botbox_dagster.domain.errors import BotBoxError
from botbox_dagster.domain.exchange_errors import (
    AmbiguousOrderError,
    ExchangeError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownSymbolError,
    classify_http_status,
    delay_for_error,
    retry_delay,
)


class FixedRandom:
    """A random source that always returns the same draw."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("error", "retryable", "trips_breaker"),
    [
        (TransientExchangeError("read timed out"), True, True),
        (RateLimitedError("too many requests", retry_after_seconds=3), True, True),
        (ExchangeUnavailableError("system maintenance"), True, True),
        (AmbiguousOrderError("timeout after send", client_order_id="bb-1"), False, True),
        (InsufficientFundsError("balance 3 USDT, order needs 10"), False, False),
        (InvalidOrderError("LOT_SIZE filter"), False, False),
        (UnknownSymbolError("FOO/USDT is not listed"), False, False),
    ],
)
def test_each_error_declares_its_retry_policy(
    error: ExchangeError, retryable: bool, trips_breaker: bool
) -> None:
    assert isinstance(error, ExchangeError)
    assert isinstance(error, BotBoxError)
    assert error.retryable is retryable
    assert error.trips_breaker is trips_breaker


def test_permanent_errors_share_a_base_and_are_not_transient() -> None:
    for cls in (InsufficientFundsError, InvalidOrderError, UnknownSymbolError):
        assert issubclass(cls, PermanentExchangeError)
        assert not issubclass(cls, TransientExchangeError)
    assert issubclass(RateLimitedError, TransientExchangeError)
    assert not issubclass(AmbiguousOrderError, TransientExchangeError)


def test_message_names_exchange_reason_and_status() -> None:
    error = InvalidOrderError("price below tick", exchange="binance", status=400)
    assert str(error) == "binance: price below tick (HTTP 400)"
    assert error.reason == "price below tick"


def test_rate_limited_carries_retry_after_and_ban() -> None:
    error = RateLimitedError("banned", retry_after_seconds=120.0, status=418)
    assert error.retry_after_seconds == 120.0
    assert error.is_ban
    assert not RateLimitedError("slow down").is_ban


def test_ambiguous_order_carries_client_order_id() -> None:
    error = AmbiguousOrderError("timeout after send", client_order_id="bb-abc")
    assert error.client_order_id == "bb-abc"


@pytest.mark.parametrize(
    ("status", "order_sent", "expected"),
    [
        (429, False, RateLimitedError),
        (418, True, RateLimitedError),
        (500, True, AmbiguousOrderError),
        (503, True, AmbiguousOrderError),
        (503, False, ExchangeUnavailableError),
        (502, False, TransientExchangeError),
        (408, False, TransientExchangeError),
        (400, True, PermanentExchangeError),
        (404, False, PermanentExchangeError),
    ],
)
def test_classify_http_status(status: int, order_sent: bool, expected: type) -> None:
    error = classify_http_status(
        status, "x", order_sent=order_sent, client_order_id="bb-1" if order_sent else None
    )
    assert type(error) is expected
    assert error.status == status


def test_classify_keeps_retry_after() -> None:
    error = classify_http_status(429, "slow down", retry_after_seconds=7.0)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_seconds == 7.0


def test_classify_an_order_needs_its_client_order_id() -> None:
    with pytest.raises(ValueError, match="client order id"):
        classify_http_status(500, "boom", order_sent=True)


def test_retry_delay_grows_then_caps() -> None:
    top = FixedRandom(1.0)  # the ceiling itself, to read the envelope
    assert [retry_delay(a, 0.5, 10.0, top) for a in range(6)] == [0.5, 1, 2, 4, 8, 10]
    assert retry_delay(5000, 0.5, 10.0, top) == 10.0
    assert retry_delay(3, 0.5, 10.0, FixedRandom(0.0)) == 0.0


def test_retry_delay_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        retry_delay(-1, 1.0, 10.0, random.Random(0))
    with pytest.raises(ValueError):
        retry_delay(1, -1.0, 10.0, random.Random(0))


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0, max_value=60, allow_nan=False),
    cap=st.floats(min_value=0, max_value=3600, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_retry_delay_is_within_full_jitter_envelope(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = retry_delay(attempt, base, cap, random.Random(seed))
    envelope = cap if attempt > 62 else min(cap, base * 2.0**attempt)
    assert 0.0 <= delay <= envelope


def test_retry_delay_is_deterministic_for_a_seeded_rng() -> None:
    first = [retry_delay(a, 1.0, 30.0, random.Random(42)) for a in range(5)]
    again = [retry_delay(a, 1.0, 30.0, random.Random(42)) for a in range(5)]
    assert first == again


def test_delay_for_error_honours_retry_after() -> None:
    rng = FixedRandom(0.5)
    limited = RateLimitedError("slow down", retry_after_seconds=30.0)
    assert delay_for_error(limited, 0, 1.0, 10.0, rng) == 30.0
    assert delay_for_error(TransientExchangeError("timeout"), 2, 1.0, 10.0, rng) == 2.0
