"""The ledger-backed limiter: refill, exhaustion, and one budget shared by many processes."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.rate_limiter import BudgetExhaustedError, LedgerRateLimiter
from botbox_dagster.domain import rate_limit as rl

# Small, fast limits: budget 24 per 4 s, burst 4, refill 5 per second.
SMALL = rl.VenueLimits(
    venue="test",
    buckets=(rl.BucketLimit("weight", limit=30, window_seconds=4, burst_fraction=1 / 6),),
    costs={"fetch_ohlcv": {"weight": 1}, "load_markets": {"weight": 4}},
)
WEIGHT = SMALL.bucket("weight")


class Clock:
    """A fake clock whose sleep advances it (no real waiting)."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def calls(store: LedgerStore, account: str = "acct") -> list[tuple[str, int, str, datetime]]:
    return store.run(
        lambda c: c.execute(
            "SELECT purpose, weight, outcome, called_at FROM exchange_calls WHERE account = ? "
            "ORDER BY id",
            [account],
        ).fetchall()
    )


def test_burst_then_refill(tmp_path: Path) -> None:
    store, clock = LedgerStore(tmp_path / "l.duckdb"), Clock()
    limiter = LedgerRateLimiter(store, "acct", SMALL, clock=clock, sleep=clock.sleep)
    assert WEIGHT.capacity == pytest.approx(4) and WEIGHT.refill_per_second == pytest.approx(5)
    waits = [limiter.acquire("fetch_ohlcv", "candles") for _ in range(4)]
    assert waits == [0.0] * 4 and clock.slept == []
    assert limiter.acquire("fetch_ohlcv", "candles") == pytest.approx(0.2)  # one token at 5/s
    clock.t += 10  # refill caps at capacity, however long the pause
    for _ in range(4):
        assert limiter.acquire("fetch_ohlcv") == 0.0
    assert limiter.acquire("fetch_ohlcv") == pytest.approx(0.2)
    assert limiter.acquire("load_markets") == pytest.approx(0.8)  # four tokens
    logged = calls(store)
    assert len(logged) == limiter.calls == 11
    assert [w for _, w, _, _ in logged] == [1] * 10 + [4]
    assert {o for _, _, o, _ in logged} == {"sent"}


def test_exhaustion_raises_and_sends_nothing(tmp_path: Path) -> None:
    store, clock = LedgerStore(tmp_path / "l.duckdb"), Clock()
    limiter = LedgerRateLimiter(
        store, "acct", SMALL, clock=clock, sleep=clock.sleep, max_wait_seconds=0.5
    )
    for _ in range(4):
        limiter.acquire("fetch_ohlcv")
    limiter.acquire("fetch_ohlcv")  # waits 0.2 s, within the budget
    with pytest.raises(BudgetExhaustedError, match="budget spent"):
        limiter.acquire("load_markets")  # needs 0.8 s > 0.5 s
    with pytest.raises(BudgetExhaustedError):
        limiter.acquire("fetch_ohlcv", max_wait=0.0)
    assert len(calls(store)) == 5  # refused calls are never logged as sent
    with pytest.raises(KeyError, match="declare the cost"):
        limiter.acquire("fetch_balance")


def test_back_off_blocks_the_account(tmp_path: Path) -> None:
    store, clock = LedgerStore(tmp_path / "l.duckdb"), Clock()
    limiter = LedgerRateLimiter(
        store, "acct", SMALL, clock=clock, sleep=clock.sleep, max_wait_seconds=5
    )
    limiter.acquire("fetch_ohlcv")
    limiter.back_off(3.0, "429 from venue")
    # Another process's limiter sees the block through the ledger.
    other = LedgerRateLimiter(store, "acct", SMALL, clock=clock, sleep=clock.sleep)
    waited = other.acquire("fetch_ohlcv")
    assert waited == pytest.approx(3.0 + 1 / 5)  # the block, then refill from empty
    assert [o for _, _, o, _ in calls(store)] == ["sent", "rate_limited", "sent"]
    # Another account is unaffected.
    assert LedgerRateLimiter(store, "other", SMALL, clock=clock).acquire("fetch_ohlcv") == 0.0


def _worker(path: str, n: int, barrier: Any, out: Any) -> None:
    store = LedgerStore(path, migrate=False)
    limiter = LedgerRateLimiter(store, "acct", SMALL, max_wait_seconds=60)
    barrier.wait()
    granted = []
    for _ in range(n):
        limiter.acquire("fetch_ohlcv", "candles")
        granted.append(time.time())
    out.put(granted)


def max_in_window(times: list[float], window: float) -> int:
    """Most events in any closed interval of ``window`` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] < t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.integration
def test_processes_share_one_budget(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    LedgerStore(path)  # migrate once, before the workers race
    ctx = mp.get_context("spawn")
    procs, per_process = 4, 8
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(str(path), per_process, barrier, out))
        for _ in range(procs)
    ]
    for w in workers:
        w.start()
    barrier.wait(timeout=60)
    started = time.time()
    results = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=10)
        assert w.exitcode == 0
    elapsed = time.time() - started
    logged = calls(LedgerStore(path))
    assert len(logged) == procs * per_process == sum(len(r) for r in results)
    stamps = [row[3].timestamp() for row in logged]
    for window in (1.0, WEIGHT.window_seconds):
        bound = WEIGHT.max_in(window) + rl.EPSILON
        assert max_in_window(stamps, window) <= bound, (window, bound)
    # The budget, not the database, set the pace: 32 grants at 5/s after a burst of 4.
    assert elapsed >= (procs * per_process - WEIGHT.capacity) / WEIGHT.refill_per_second * 0.9
