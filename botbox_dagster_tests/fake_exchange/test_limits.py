"""Rate limiter and sliding-window statistics (no HTTP, injected clock)."""

from __future__ import annotations

from botbox_dagster.fake_exchange.limits import LimitConfig, RateLimiter, request_weight
from botbox_dagster.fake_exchange.requests_log import RequestRecord, max_in_window


class Tick:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_weights_follow_binance() -> None:
    assert request_weight("GET", "/api/v3/klines", {"symbol": "X"}) == 2
    assert request_weight("GET", "/api/v3/exchangeInfo", {}) == 20
    assert request_weight("GET", "/api/v3/account", {}) == 20
    assert request_weight("POST", "/api/v3/order", {}) == 1
    assert request_weight("GET", "/api/v3/ticker/price", {}) == 4
    assert request_weight("GET", "/api/v3/ticker/24hr", {"symbol": "X"}) == 2


def test_weight_limit_429_then_418_ban_then_recovery() -> None:
    now = Tick()
    limiter = RateLimiter(LimitConfig(weight_per_minute=10, ban_seconds=5), now)
    assert all(limiter.admit(2, False).status == 200 for _ in range(5))
    assert limiter.used_weight() == 10
    verdict = limiter.admit(2, False)
    assert (verdict.status, verdict.code) == (429, -1003)
    assert verdict.retry_after_s == 60
    now.t += 1
    banned = limiter.admit(1, False)
    assert banned.status == 418 and banned.retry_after_s == 5
    now.t += 61
    assert limiter.admit(2, False).status == 200


def test_order_count_limit() -> None:
    now = Tick()
    limiter = RateLimiter(LimitConfig(orders_per_10s=3), now)
    assert [limiter.admit(1, True).status for _ in range(3)] == [200, 200, 200]
    verdict = limiter.admit(1, True)
    assert (verdict.status, verdict.code) == (429, -1015)
    assert limiter.admit(1, False).status == 200  # non-order requests still pass
    now.t += 10.5
    assert limiter.admit(1, True).status == 200


def test_max_in_window() -> None:
    recs = [
        RequestRecord(t, t, "GET", "/x", {}, w, 200)
        for t, w in [(0, 1), (0.5, 2), (0.9, 3), (1.5, 10), (70, 1)]
    ]
    assert max_in_window(recs, 1.0) == 3
    assert max_in_window(recs, 1.0, by="weight") == 13
    assert max_in_window(recs, 60.0, by="weight") == 16
    assert max_in_window([], 1.0) == 0
