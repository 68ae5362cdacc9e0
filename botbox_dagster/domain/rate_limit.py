"""Request budgets per exchange account: token buckets on request weight, clock injected.

The guarantee. For a ``BucketLimit`` with capacity ``C`` and refill rate ``r``, the cost
granted in ANY closed time interval of length ``T`` is at most ``C + r * T``. Capacity and
rate are sized so that over one venue window ``C + r * window = budget_fraction * limit``:
never more than 80% (by default) of the published limit in any sliding window, however the
requests are timed. Over any 1 s interval the bound is ``max_per_second = C + r``.

Why not the textbook bucket (capacity = budget, rate = budget / window): a full bucket can
be drained at once and then refilled within the same window, letting 2x the budget through.
Here the burst is a small fraction of the budget (``burst_fraction``, 10%): Binance spot
weight gets bursts of 480, a sustained 72/s (4,320 a minute, 90% of the budget), at most
4,800 in any 60 s and 552 in any 1 s.

Proof sketch: tokens never exceed ``C``; they grow only by refill, at most ``r`` per second;
a grant needs tokens >= cost, so the balance after a grant is >= 0. Over [t, t+T] the
grants therefore sum to at most tokens(t) + r*T <= C + r*T. ``observe_venue_usage`` and
``backoff_after_rate_limit`` only lower tokens or postpone refill, so they keep the bound.
The hypothesis test in ``test_rate_limit.py`` checks it on arbitrary request sequences.

The state is two numbers per bucket so it fits a ledger row shared by every process
(``to_row``/``from_row``); all processes must read the same (NTP-synchronised) clock.
``updated_at`` may lie in the future: after a 429/418 the bucket is empty and refills
only from the end of the block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Float slack when comparing tokens with a cost: grants may exceed the bound by this much.
EPSILON = 1e-9


@dataclass(frozen=True)
class BucketLimit:
    """One published limit (``limit`` per ``window_seconds``) and the share of it we use."""

    name: str
    limit: float
    window_seconds: float
    budget_fraction: float = 0.8
    burst_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not (self.limit > 0 and self.window_seconds > 0):
            raise ValueError(f"bucket {self.name!r}: limit and window must be positive")
        if not 0 < self.budget_fraction <= 1:
            raise ValueError(f"bucket {self.name!r}: budget_fraction must be in (0, 1]")
        if not 0 < self.burst_fraction < 1:
            raise ValueError(f"bucket {self.name!r}: burst_fraction must be in (0, 1)")

    @property
    def budget(self) -> float:
        """The most we ever spend in one window: ``budget_fraction`` of the published limit."""
        return self.limit * self.budget_fraction

    @property
    def capacity(self) -> float:
        """Largest burst: what a full bucket lets through at once."""
        return self.budget * self.burst_fraction

    @property
    def refill_per_second(self) -> float:
        return (self.budget - self.capacity) / self.window_seconds

    @property
    def max_per_second(self) -> float:
        """The bound over any 1 s interval."""
        return self.max_in(1.0)

    def max_in(self, seconds: float) -> float:
        """The most this bucket grants in any interval of ``seconds``: ``C + r * seconds``."""
        return self.capacity + self.refill_per_second * seconds


@dataclass(frozen=True)
class BucketState:
    """Tokens available as of ``updated_at`` (epoch seconds, possibly in the future)."""

    tokens: float
    updated_at: float

    @classmethod
    def full(cls, limit: BucketLimit, now: float) -> BucketState:
        return cls(tokens=limit.capacity, updated_at=now)

    def to_row(self) -> dict[str, float]:
        """``{"tokens": float, "updated_at": float}``: one row per (account, bucket name)."""
        return {"tokens": self.tokens, "updated_at": self.updated_at}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BucketState:
        return cls(tokens=float(row["tokens"]), updated_at=float(row["updated_at"]))

    def blocked_until(self, now: float) -> float | None:
        """End of a rate-limit block still running at ``now``, else None (for operators)."""
        return self.updated_at if self.updated_at > now else None


def refill(state: BucketState, now: float, limit: BucketLimit) -> BucketState:
    """Tokens accrued since ``updated_at``, capped at capacity.

    A ``now`` at or before ``updated_at`` (a block, or another process's clock a little
    ahead) accrues nothing and leaves ``updated_at`` where it is, so time is never counted
    twice.
    """
    if now <= state.updated_at:
        return state
    tokens = state.tokens + (now - state.updated_at) * limit.refill_per_second
    return BucketState(tokens=min(limit.capacity, tokens), updated_at=now)


def try_take(
    state: BucketState, cost: float, now: float, limit: BucketLimit
) -> tuple[BucketState, bool, float]:
    """Take ``cost`` tokens if available: ``(new_state, granted, wait_seconds)``.

    Refused, ``wait_seconds`` is how long until the cost would be available (including any
    block) if nobody else takes tokens meanwhile; the returned state is the refilled one and
    may be stored or dropped. A cost above capacity could never be granted: that is a
    configuration error and raises.
    """
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"bucket {limit.name!r}: cost must be finite and >= 0, got {cost}")
    if cost > limit.capacity:
        raise ValueError(
            f"bucket {limit.name!r}: cost {cost} exceeds capacity {limit.capacity:g} and "
            "could never be granted; raise burst_fraction"
        )
    current = refill(state, now, limit)
    if current.tokens + EPSILON >= cost:
        return BucketState(current.tokens - cost, current.updated_at), True, 0.0
    blocked = max(0.0, current.updated_at - now)
    ready_at = now + blocked + max(0.0, cost - current.tokens) / limit.refill_per_second
    # Epoch seconds resolve to ~0.2 us: step past ready_at so a caller that sleeps exactly
    # the wait makes progress instead of retrying at the same instant forever.
    return current, False, math.nextafter(ready_at, math.inf) - now


def observe_venue_usage(
    state: BucketState, used_weight: float, now: float, limit: BucketLimit
) -> BucketState:
    """Follow the venue's own count of what this IP used in its window.

    Binance reports it in ``X-MBX-USED-WEIGHT-1M``; it includes requests we did not make
    (other tools on the same IP, processes that lost their ledger row). Tokens drop to
    ``budget - used`` if that is lower, even below zero (a debt paid back by refill), so a
    venue count near our budget slows us down before the venue answers 429. The count is
    only ever used to lower tokens: a stale or lagging header can never add any. A
    nonsensical value (negative, NaN) is ignored.
    """
    if not (math.isfinite(used_weight) and used_weight >= 0):
        return state
    current = refill(state, now, limit)
    ceiling = max(limit.budget - used_weight, -limit.budget)
    if ceiling >= current.tokens:
        return current
    return BucketState(tokens=ceiling, updated_at=current.updated_at)


def backoff_after_rate_limit(
    state: BucketState, retry_after_seconds: float | None, now: float, default_seconds: float = 60.0
) -> BucketState:
    """After a 429/418: no grant until ``now + Retry-After``, then refill from empty.

    Without a usable Retry-After (absent, negative, NaN) the block lasts ``default_seconds``
    (a full Binance weight window). Starting empty rather than full after the block keeps a
    fleet from bursting straight back into the limit it just hit.
    """
    if retry_after_seconds is None or not math.isfinite(retry_after_seconds):
        retry_after_seconds = default_seconds
    until = now + max(0.0, retry_after_seconds)
    return BucketState(tokens=min(0.0, state.tokens), updated_at=max(state.updated_at, until))


@dataclass(frozen=True)
class VenueLimits:
    """A venue's declared limits and what each call costs in each bucket (data, not code).

    ``costs`` maps a ccxt method name to ``{bucket name: cost}``; a call costs nothing in a
    bucket it does not name. Undeclared calls are refused loudly rather than guessed.
    """

    venue: str
    buckets: tuple[BucketLimit, ...]
    costs: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    used_weight_header: str | None = None

    def bucket(self, name: str) -> BucketLimit:
        for limit in self.buckets:
            if limit.name == name:
                return limit
        raise KeyError(f"{self.venue} has no bucket {name!r}")

    def cost_of(self, endpoint: str) -> Mapping[str, float]:
        try:
            return self.costs[endpoint]
        except KeyError:
            raise KeyError(
                f"{self.venue}: declare the cost of {endpoint!r} in its limits"
            ) from None


def take_request(
    states: Mapping[str, BucketState], endpoint: str, now: float, venue: VenueLimits
) -> tuple[dict[str, BucketState], bool, float]:
    """Take one call's cost from every bucket it touches, all or nothing.

    ``states`` maps bucket name to state (a missing bucket starts full). Refused, no bucket
    is charged and the wait is the longest among the buckets that refused.
    """
    new_states = dict(states)
    waits: list[float] = []
    for name, cost in venue.cost_of(endpoint).items():
        limit = venue.bucket(name)
        state = states.get(name) or BucketState.full(limit, now)
        taken, granted, wait = try_take(state, cost, now, limit)
        new_states[name] = taken if granted else state
        if not granted:
            waits.append(wait)
    if waits:
        return dict(states), False, max(waits)
    return new_states, True, 0.0


def backoff_all(
    states: Mapping[str, BucketState], retry_after_seconds: float | None, now: float
) -> dict[str, BucketState]:
    """``backoff_after_rate_limit`` on every bucket: a 429/418 blocks the whole account."""
    return {
        name: backoff_after_rate_limit(state, retry_after_seconds, now)
        for name, state in states.items()
    }


# Binance spot, as published (REQUEST_WEIGHT 6,000 per minute per IP, ORDERS 100 per 10 s
# per account). The daily cap of 200,000 orders is far beyond a bot fleet's pace.
BINANCE_SPOT = VenueLimits(
    venue="binance",
    buckets=(
        BucketLimit("weight", limit=6000, window_seconds=60),
        BucketLimit("orders", limit=100, window_seconds=10),
    ),
    costs={
        "fetch_ohlcv": {"weight": 2},
        "fetch_ticker": {"weight": 2},
        "create_order": {"weight": 1, "orders": 1},
        "cancel_order": {"weight": 1},
        "fetch_order": {"weight": 4},
        "fetch_open_orders": {"weight": 6},
        "fetch_my_trades": {"weight": 20},
        "fetch_order_trades": {"weight": 5},  # myTrades with orderId: 5 (rest-api.md)
        "fetch_balance": {"weight": 20},
        "load_markets": {"weight": 20},
    },
    used_weight_header="X-MBX-USED-WEIGHT-1M",
)
