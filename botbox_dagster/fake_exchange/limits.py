"""Binance-like request weight and order-count limits (rolling windows, 429 then 418)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Binance spot REST weights (2025). Keyed by (method, path); see ``request_weight``.
_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/account"): 20,
    ("POST", "/api/v3/order"): 1,
    ("GET", "/api/v3/order"): 4,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/myTrades"): 20,
    ("GET", "/api/v3/allOrders"): 20,
}


def request_weight(method: str, path: str, params: Mapping[str, str]) -> int:
    """Weight Binance charges for one request (parameter-dependent where Binance is)."""
    has_symbol = "symbol" in params or "symbols" in params
    if path == "/api/v3/ticker/24hr":
        return 2 if has_symbol else 80
    if path == "/api/v3/ticker/price":
        return 2 if has_symbol else 4
    if path == "/api/v3/openOrders":
        return 6 if has_symbol else 80
    if path == "/api/v3/myTrades":  # rest-api.md "Account trade list": 5 with orderId
        return 5 if "orderId" in params else 20
    return _WEIGHTS.get((method, path), 1)


@dataclass(frozen=True)
class LimitConfig:
    """Limits; Binance spot defaults (6,000 weight per minute, 100 orders per 10 s).

    ``ban_seconds`` is how long a 418 ban lasts: Binance starts at 2 minutes; tests use less.
    """

    weight_per_minute: int = 6000
    orders_per_10s: int = 100
    weight_window_s: float = 60.0
    order_window_s: float = 10.0
    ban_seconds: float = 120.0


@dataclass(frozen=True)
class LimitVerdict:
    """Outcome of admitting a request: ``status`` 200 means go ahead."""

    status: int
    code: int = 0
    msg: str = ""
    retry_after_s: int = 0


class RateLimiter:
    """Rolling-window weight and order counters with Binance's 429 → 418 escalation.

    A request over the weight limit gets 429 and a Retry-After; a request sent before that
    Retry-After has passed gets 418 (IP ban) for ``ban_seconds``.
    """

    def __init__(
        self, config: LimitConfig | None = None, now: Callable[[], float] = time.monotonic
    ):
        self.config = config or LimitConfig()
        self._now = now
        self._lock = threading.Lock()
        self._weights: deque[tuple[float, int]] = deque()
        self._orders: deque[float] = deque()
        self._backoff_until = 0.0
        self._banned_until = 0.0

    def reset(self, config: LimitConfig | None = None) -> None:
        """Forget all counters and bans (optionally with new limits)."""
        with self._lock:
            if config is not None:
                self.config = config
            self._weights.clear()
            self._orders.clear()
            self._backoff_until = self._banned_until = 0.0

    def _prune(self, now: float) -> None:
        while self._weights and self._weights[0][0] <= now - self.config.weight_window_s:
            self._weights.popleft()
        while self._orders and self._orders[0] <= now - self.config.order_window_s:
            self._orders.popleft()

    def used_weight(self) -> int:
        """Weight used in the current rolling window (the X-MBX-USED-WEIGHT-1M value)."""
        with self._lock:
            self._prune(self._now())
            return sum(w for _, w in self._weights)

    def order_count(self) -> int:
        """Orders placed in the current rolling order window."""
        with self._lock:
            self._prune(self._now())
            return len(self._orders)

    def admit(self, weight: int, is_order: bool) -> LimitVerdict:
        """Count a request, or refuse it with 429/418 (refused requests cost nothing)."""
        cfg = self.config
        with self._lock:
            now = self._now()
            self._prune(now)
            if now < self._banned_until:
                return self._ban_verdict(now)
            if now < self._backoff_until:
                self._banned_until = now + cfg.ban_seconds
                self._backoff_until = 0.0
                return self._ban_verdict(now)
            used = sum(w for _, w in self._weights)
            if used + weight > cfg.weight_per_minute:
                retry = self._seconds_until_free(now, used + weight - cfg.weight_per_minute)
                self._backoff_until = now + retry
                return LimitVerdict(
                    429,
                    -1003,
                    f"Too much request weight used; current limit is {cfg.weight_per_minute} "
                    "request weight per 1 MINUTE. Please use WebSocket Streams for live "
                    "updates to avoid polling the API.",
                    retry,
                )
            if is_order and len(self._orders) >= cfg.orders_per_10s:
                retry = max(1, math.ceil(self._orders[0] + cfg.order_window_s - now))
                return LimitVerdict(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {cfg.orders_per_10s} orders per "
                    "10 SECOND.",
                    retry,
                )
            self._weights.append((now, weight))
            if is_order:
                self._orders.append(now)
            return LimitVerdict(200)

    def _seconds_until_free(self, now: float, excess: int) -> int:
        freed = 0
        for ts, w in self._weights:
            freed += w
            if freed >= excess:
                return max(1, math.ceil(ts + self.config.weight_window_s - now))
        return max(1, math.ceil(self.config.weight_window_s))

    def _ban_verdict(self, now: float) -> LimitVerdict:
        until_ms = int((time.time() + self._banned_until - now) * 1000)
        return LimitVerdict(
            418,
            -1003,
            f"Way too much request weight used; IP banned until {until_ms}. Please use "
            "WebSocket Streams for live updates to avoid bans.",
            max(1, math.ceil(self._banned_until - now)),
        )
