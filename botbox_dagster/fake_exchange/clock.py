"""The fake exchange's clock: wall time, optionally shifted or frozen, injectable in tests."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Milliseconds since the epoch as the fake exchange sees them.

    By default this is the wall clock. Tests may shift it (``advance``) or freeze it
    (``freeze``) so that candle boundaries and fills are deterministic.
    """

    def __init__(self, frozen_ms: int | None = None, offset_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._frozen_ms = frozen_ms
        self._offset_ms = offset_ms

    def now_ms(self) -> int:
        """Current fake time in Unix milliseconds."""
        with self._lock:
            if self._frozen_ms is not None:
                return self._frozen_ms
            return int(time.time() * 1000) + self._offset_ms

    def freeze(self, at_ms: int | None = None) -> None:
        """Stop the clock at ``at_ms`` (default: now)."""
        now = self.now_ms() if at_ms is None else at_ms
        with self._lock:
            self._frozen_ms = now

    def unfreeze(self) -> None:
        """Let the clock run again from where the wall clock is (keeping the offset)."""
        with self._lock:
            self._frozen_ms = None

    def advance(self, ms: int) -> None:
        """Move the clock forward by ``ms`` (frozen or running)."""
        with self._lock:
            if self._frozen_ms is not None:
                self._frozen_ms += ms
            else:
                self._offset_ms += ms
