"""Short DuckDB transactions that survive other processes holding the file.

DuckDB admits one read-write process per file: a second process fails at once with "Could not set
lock on file", and two connections of one process updating the same row get a transaction
conflict. BotBox's processes (Dagster runs, the code server's sensors, the CLI, the dashboard)
therefore never keep the file open: each unit of work opens it, runs one transaction, closes it,
and retries the whole unit with jittered exponential backoff when it meets a lock or a conflict,
up to a bounded wait after which :class:`LedgerBusyError` names the file and the time waited.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from botbox_dagster.domain.errors import BotBoxError

log = logging.getLogger("botbox.ledger")

T = TypeVar("T")

# Connections of one process to one file share a database instance; serialising them per process
# turns intra-process write conflicts into short waits instead of aborted transactions.
_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


class LedgerBusyError(BotBoxError):
    """The ledger stayed locked by other processes for longer than the bounded wait."""


def _process_lock(path: str) -> threading.RLock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(path, threading.RLock())


def is_lock_conflict(exc: BaseException) -> bool:
    """True for the errors that mean "someone else holds it now, try again"."""
    text = str(exc)
    if isinstance(exc, duckdb.IOException):
        return "lock" in text.lower()
    if isinstance(exc, duckdb.TransactionException):
        return "conflict" in text.lower()
    return isinstance(exc, duckdb.Error) and "Conflicting lock" in text


class LockStats:
    """Lock waits seen by this process, for logs and metrics."""

    def __init__(self) -> None:
        self.waits = 0
        self.total_wait_seconds = 0.0
        self.max_wait_seconds = 0.0

    def record(self, seconds: float) -> None:
        self.waits += 1
        self.total_wait_seconds += seconds
        self.max_wait_seconds = max(self.max_wait_seconds, seconds)


class DuckDBConnector:
    """Runs units of work on a DuckDB file, one short transaction each."""

    dialect = "duckdb"

    def __init__(
        self,
        path: Path,
        *,
        max_wait_seconds: float = 30.0,
        base_delay: float = 0.005,
        max_delay: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_wait_seconds = max_wait_seconds
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._rng = rng or random.Random()
        self.stats = LockStats()

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(self.path), read_only=read_only)
        conn.execute("SET TimeZone = 'UTC'")
        return conn

    def run(self, work: Callable[[duckdb.DuckDBPyConnection], T], *, read_only: bool = False) -> T:
        """Run ``work(conn)`` inside one transaction, retrying it whole on lock conflicts.

        ``work`` must only touch the database: it may run more than once.
        """
        started = time.monotonic()
        attempt = 0
        lock = _process_lock(str(self.path.resolve()))
        while True:
            try:
                with lock:
                    result = self._run_once(work, read_only)
            except duckdb.Error as exc:
                if not is_lock_conflict(exc):
                    raise
                waited = time.monotonic() - started
                if waited >= self.max_wait_seconds:
                    self._record_wait(waited)
                    raise LedgerBusyError(
                        f"ledger {self.path} stayed locked for {waited:.1f}s "
                        f"({attempt + 1} attempts): {exc}"
                    ) from exc
                attempt += 1
                cap = min(self.max_delay, self.base_delay * 2**attempt)
                time.sleep(min(self._rng.uniform(0, cap), self.max_wait_seconds - waited))
                continue
            if attempt:
                self._record_wait(time.monotonic() - started)
            return result

    def _run_once(self, work: Callable[[Any], T], read_only: bool) -> T:
        conn = self._connect(read_only)
        try:
            conn.execute("BEGIN TRANSACTION")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    conn.execute("ROLLBACK")
                raise
            return result
        finally:
            conn.close()

    def _record_wait(self, waited: float) -> None:
        if waited > 1.0:
            log.warning("ledger %s: waited %.2fs for the lock", self.path, waited)
        self.stats.record(waited)
