"""Scripted faults: error bursts, hangs, ambiguous answers, maintenance, slow or short fills.

A fault matches requests by method and path prefix and fires for its next ``count``
matching requests (``count=None``: until cleared). Faults are plain data so that tests in
another process can post them as JSON to ``POST /_fake/faults``, e.g.
``{"kind": "unknown_after_accept", "path": "/api/v3/order", "method": "POST", "code": -1001}``.

Kinds (fields they read in brackets):

- ``error`` [status, default 503]: answer an HTML ``status`` page without processing.
- ``hang`` [seconds]: sleep ``seconds`` then process normally (``seconds=None``: never answer,
  until the client hangs up or the server stops).
- ``reset_after_accept``: process the request (an order is recorded), then close the socket
  with a TCP reset and no response: the ambiguous outcome.
- ``unknown_after_accept`` [status, default 500; code, default -1006]: process the request,
  then answer HTTP ``status`` with ``{"code": code, "msg": ...}``: -1006 "An unexpected
  response was received from the message bus. Execution status unknown.", -1001 "Internal
  error; unable to process your request. Please try again." or -1007 "Timeout waiting for
  response from backend server. Send status unknown; execution status unknown."
  (Binance errors.md "10xx - General Server or Network issues"; rest-api.md "HTTP Return
  Codes": a 5XX means the execution status is UNKNOWN; docs/venue-contract.md §2).
- ``invisible`` [seconds, default 5]: orders placed while it matches answer -2013 "Order does
  not exist." to ``GET /api/v3/order`` and are missing from ``openOrders``, ``allOrders`` and
  ``myTrades`` for ``seconds`` (fake clock) after placement; balances change at once
  (rest-api.md "Data Sources": the API is asynchronous; docs/venue-contract.md §3).
- ``new_then_fill`` [seconds, default 1]: a MARKET order is answered ``NEW`` with
  ``executedQty`` 0 and no fills, and fills completely ``seconds`` later (fake clock), at the
  price then (enums.md "Order status": NEW "accepted by the engine"; §5).
- ``expired_partial`` [fill_ratio]: a MARKET order fills ``fill_ratio`` of its quantity
  (rounded down to the step, at least one step) and ends ``EXPIRED``
  (faqs/market_orders_faq.md: liquidity ran out; §5).
- ``partial_fill`` [fill_ratio]: an order fills only ``fill_ratio`` and stays
  ``PARTIALLY_FILLED`` (LIMIT or MARKET).
- ``maintenance`` [seconds]: every request answers 503 "System is under maintenance." for
  ``seconds``.

An order uses at most one of ``partial_fill``, ``expired_partial``, ``new_then_fill`` (the
earliest added that matches) plus one ``invisible``; they are used up only by an order the fake
accepts, and ``expired_partial`` / ``new_then_fill`` only by MARKET orders.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = (
    "error",
    "hang",
    "reset_after_accept",
    "unknown_after_accept",
    "invisible",
    "new_then_fill",
    "expired_partial",
    "partial_fill",
    "maintenance",
)

#: The answers of ``unknown_after_accept``, word for word from Binance errors.md "10xx".
UNKNOWN_MESSAGES = {
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
}
DEFAULT_SECONDS = {"invisible": 5.0, "new_then_fill": 1.0}


@dataclass
class Fault:
    """One scripted fault. ``path`` matches as a prefix; ``method`` None matches any."""

    kind: str
    path: str = ""
    method: str | None = None
    count: int | None = 1
    status: int | None = None
    seconds: float | None = None
    fill_ratio: float = 0.5
    code: int | None = None
    id: int = 0
    created_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.method is not None:
            self.method = self.method.upper()
        if self.status is None:
            self.status = 500 if self.kind == "unknown_after_accept" else 503
        if self.kind == "unknown_after_accept":
            self.code = -1006 if self.code is None else int(self.code)
            if self.code not in UNKNOWN_MESSAGES:
                raise ValueError(f"code must be one of {sorted(UNKNOWN_MESSAGES)}")
        if self.seconds is None and self.kind in DEFAULT_SECONDS:
            self.seconds = DEFAULT_SECONDS[self.kind]

    @property
    def http_status(self) -> int:
        """The HTTP status this fault answers with."""
        return 503 if self.status is None else self.status

    def unknown_body(self) -> dict[str, Any]:
        """The ``unknown_after_accept`` body: ``{"code": -1006, "msg": ...}``."""
        code = -1006 if self.code is None else self.code
        return {"code": code, "msg": UNKNOWN_MESSAGES[code]}

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.method is None or self.method == method) and path.startswith(self.path)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (for ``GET /_fake/faults``)."""
        data = asdict(self)
        data.pop("created_at")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build from a ``POST /_fake/faults`` body."""
        allowed = {"kind", "path", "method", "count", "status", "seconds", "fill_ratio", "code"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**dict(data))


class FaultPlan:
    """Thread-safe list of pending faults, consumed as requests arrive."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._maintenance_until = 0.0

    def add(self, fault: Fault) -> Fault:
        """Schedule a fault; a ``maintenance`` fault starts its window now."""
        with self._lock:
            fault.id = next(self._ids)
            if fault.kind == "maintenance":
                self._maintenance_until = self._now() + (fault.seconds or 0.0)
            else:
                self._faults.append(fault)
            return fault

    def clear(self) -> None:
        """Remove every pending fault and end any maintenance window."""
        with self._lock:
            self._faults.clear()
            self._maintenance_until = 0.0

    def pending(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return list(self._faults)

    def in_maintenance(self) -> bool:
        """Whether a maintenance window is open."""
        with self._lock:
            return self._now() < self._maintenance_until

    def peek(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first pending fault of ``kinds`` matching the request, not consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path):
                    return fault
            return None

    def use(self, fault: Fault) -> None:
        """Consume one use of a fault returned by ``peek``."""
        with self._lock:
            if fault.count is not None and fault in self._faults:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first pending fault of ``kinds`` matching the request, consuming one use."""
        with self._lock:
            fault = self.peek(method, path, kinds)
            if fault is not None:
                self.use(fault)
            return fault
