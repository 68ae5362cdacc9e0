"""Scripted faults: error bursts, hangs, resets after an accepted order, maintenance, partial fills.

A fault matches requests by method and path prefix and fires for its next ``count``
matching requests (``count=None``: until cleared). Faults are plain data so that tests in
another process can post them as JSON to ``POST /_fake/faults``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: ``error``: answer ``status`` (500/502/503...) without processing.
#: ``hang``: sleep ``seconds`` then process normally (``seconds=None``: never answer, until
#:   the client hangs up or the server stops).
#: ``reset_after_accept``: process the request (an order is recorded), then close the socket
#:   with a TCP reset and no response: the ambiguous outcome.
#: ``partial_fill``: the next matching orders fill only ``fill_ratio`` of their quantity.
#: ``maintenance``: every request answers 503 "System is under maintenance." for ``seconds``.
FAULT_KINDS = ("error", "hang", "reset_after_accept", "partial_fill", "maintenance")


@dataclass
class Fault:
    """One scripted fault. ``path`` matches as a prefix; ``method`` None matches any."""

    kind: str
    path: str = ""
    method: str | None = None
    count: int | None = 1
    status: int = 503
    seconds: float | None = None
    fill_ratio: float = 0.5
    id: int = 0
    created_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.method is not None:
            self.method = self.method.upper()

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
        allowed = {"kind", "path", "method", "count", "status", "seconds", "fill_ratio"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**dict(data))


class FaultPlan:
    """Thread-safe list of pending faults, consumed as requests arrive."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._lock = threading.Lock()
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

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first pending fault of ``kinds`` matching the request, consuming one use."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
            return None
