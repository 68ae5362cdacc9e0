"""Record of every request the fake exchange answered, with sliding-window statistics."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request: when (monotonic and wall, seconds), what, its weight and the status sent.

    ``status`` 0 means no response was sent (connection reset or client gone).
    """

    monotonic: float
    wall: float
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    weight: int = 0
    status: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (for ``GET /_fake/requests``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        """Inverse of ``to_json`` (used by the remote control client)."""
        return cls(**data)


def max_in_window(
    records: Iterable[RequestRecord], window_s: float, by: str = "count"
) -> int | float:
    """Largest number of requests (``by="count"``) or total weight (``by="weight"``) in
    any sliding window of ``window_s`` seconds (half-open: ``[t, t + window_s)``).
    """
    if by not in ("count", "weight"):
        raise ValueError("by must be 'count' or 'weight'")
    ordered = sorted(records, key=lambda r: r.monotonic)
    window: deque[RequestRecord] = deque()
    total = best = 0
    for rec in ordered:
        window.append(rec)
        total += 1 if by == "count" else rec.weight
        while window and window[0].monotonic <= rec.monotonic - window_s:
            old = window.popleft()
            total -= 1 if by == "count" else old.weight
        best = max(best, total)
    return best


class RequestLog:
    """Thread-safe append-only list of ``RequestRecord``s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Add one record."""
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def records(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Records, optionally only those whose path starts with ``path`` and method matches."""
        with self._lock:
            out = list(self._records)
        return [
            r
            for r in out
            if (path is None or r.path.startswith(path)) and (method is None or r.method == method)
        ]

    def max_requests(self, window_s: float, path: str | None = None) -> int:
        """Most requests in any sliding window of ``window_s`` seconds."""
        return int(max_in_window(self.records(path), window_s, "count"))

    def max_weight(self, window_s: float, path: str | None = None) -> int:
        """Most weight in any sliding window of ``window_s`` seconds."""
        return int(max_in_window(self.records(path), window_s, "weight"))
