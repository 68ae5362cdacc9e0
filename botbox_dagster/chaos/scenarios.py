"""The fault scenarios ``botbox chaos`` runs; each returns the run's :class:`ChaosReport`.

- ``burst``: many bots, bursts of signals, several concurrent Dagster execution processes and a
  weight limit small enough that the shared budget binds: zero 429s, peaks within 80%.
- ``errors``: 5xx answers to order requests: the breaker opens after 5 consecutive failures,
  half-opens after the cooldown and trading resumes by itself.
- ``ambiguous``: the connection resets after the venue accepted orders: lookup, not resend.
- ``maintenance``: every request fails for a while, then the venue comes back.
- ``crash``: execution processes SIGKILLed at random points, then recovered.
- ``unknown``: Binance's "execution status unknown" (HTTP 5xx with -1006, -1001, -1007) after
  the venue processed the order, some orders invisible to lookups for seconds after: settled
  from the venue's records, never sent twice (docs/venue-contract.md §2, §3).
- ``fills``: market orders answered NEW and filled seconds later, and market orders that fill
  part and end EXPIRED, on entries and on CLOSEs: followed to the end, positions net of the
  base-asset commission, the rest of a partial CLOSE queued and sold (§4, §5).

Every scenario's account starts with no base asset: it holds only what it bought.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from botbox_dagster.chaos import runs
from botbox_dagster.chaos.queue import open_rows, seed_burst
from botbox_dagster.chaos.report import ORDER_PATH, ChaosReport
from botbox_dagster.chaos.world import World, chaos_world


@dataclass(frozen=True)
class Options:
    """Knobs shared by the scenarios (the CLI exposes them)."""

    bots: int = 0  # 0: the scenario's own default
    seed: int = 1
    trials: int = 20
    minutes: int = 10
    minute_seconds: float = 3.0
    processes: int = 3
    deadline_s: float = 240.0


def burst(o: Options) -> ChaosReport:
    """200 bots on 10 markets, a burst of signals every simulated minute, N concurrent runs."""
    # 300 weight a minute: the smallest limit whose 10% burst still admits exchangeInfo (20).
    with chaos_world(bots=o.bots or 200, weight_limit=300, orders_per_10s=50, seed=o.seed) as w:
        return run_bursts(w, o, per_burst=max(1, len(w.bots) // 8))


def run_bursts(w: World, o: Options, per_burst: int) -> ChaosReport:
    """Seed ``o.minutes`` bursts ``o.minute_seconds`` apart while ``o.processes`` loops of Dagster
    execution runs work the queue concurrently; then drain."""
    seeding = threading.Event()
    seeding.set()
    counter = iter(range(10_000))
    lock = threading.Lock()

    timed_out: list[str] = []

    def loop(worker: int) -> None:
        end = time.monotonic() + o.deadline_s
        while time.monotonic() < end and (seeding.is_set() or open_rows(w.store)):
            with lock:
                n = next(counter)
            try:
                w.dagster_run(f"burst-w{worker}-{n}")
            except subprocess.TimeoutExpired:
                # A run that overran was killed, perhaps mid-order: that is a crash, and the
                # draining runs below recover its rows from the venue's records.
                timed_out.append(f"burst-w{worker}-{n}")

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(o.processes)]
    for t in threads:
        t.start()
    try:
        for minute in range(o.minutes):
            seed_burst(w.store, w.bots, minute, per_burst, w.rng)
            time.sleep(o.minute_seconds)
    finally:
        seeding.clear()
        for t in threads:
            t.join()
    # On a busy machine the concurrent loops can reach their deadline with rows still queued:
    # finish them one run at a time (how long that takes is not the guarantee under test). No
    # loop runs any more, so rows still EXECUTING belong to killed runs: recover them at once.
    drained = w.drain(o.deadline_s, orphan_after_seconds=30.0)
    report = w.report("burst")
    report.notes.append(
        f"{o.minutes} bursts of up to {per_burst} signals, {o.processes} concurrent Dagster "
        f"execution processes, {next(counter)} runs, then {drained} draining run(s)"
    )
    if timed_out:
        report.notes.append(f"runs killed after overrunning their timeout: {len(timed_out)}")
    return report


def errors(o: Options) -> ChaosReport:
    """Five 503s in a row on order requests, then a healthy venue."""
    with chaos_world(bots=o.bots or 12, breaker_open_seconds=3.0, seed=o.seed) as w:
        seed_burst(w.store, w.bots, 0, len(w.bots), w.rng)
        w.fake.remote.add_fault("error", path="/api/v3/order", method="POST", count=5, status=503)
        w.dagster_run("errors-1")
        state = w.breaker_state()
        w.drain(o.deadline_s)
        report = w.report("errors")
        report.notes.append(
            f"breaker after the first run: {state.status} after "
            f"{state.consecutive_failures} consecutive failures"
        )
        return report


def ambiguous(o: Options) -> ChaosReport:
    """The venue accepts orders and resets the connection before answering."""
    with chaos_world(bots=o.bots or 10, seed=o.seed) as w:
        seed_burst(w.store, w.bots, 0, len(w.bots), w.rng)
        w.fake.remote.add_fault("reset_after_accept", path="/api/v3/order", method="POST", count=3)
        w.drain(o.deadline_s)
        return w.report("ambiguous")


def maintenance(o: Options) -> ChaosReport:
    """Everything answers 503 for 8 s while trades are queued."""
    with chaos_world(bots=o.bots or 10, breaker_open_seconds=3.0, seed=o.seed) as w:
        seed_burst(w.store, w.bots, 0, len(w.bots), w.rng)
        w.fake.remote.maintenance(8.0)
        w.drain(o.deadline_s)
        return w.report("maintenance")


def crash(o: Options) -> ChaosReport:
    """``o.trials`` bare execution processes SIGKILLed after a random delay, then recovery."""
    with chaos_world(bots=o.bots or 30, seed=o.seed) as w:
        killed = crash_trials(w, o.trials, per_trial=6)
        w.drain(o.deadline_s, dagster=False)
        report = w.report("crash", with_rate=False)
        report.notes.append(f"{o.trials} processes killed with SIGKILL; {killed} mid-order")
        return report


def crash_trials(w: World, trials: int, per_trial: int, *, dagster: bool = False) -> int:
    """Each trial queues signals and SIGKILLs an execution process at a random point; returns
    how many kills left a row EXECUTING (the interesting case: the order may be out).

    ``dagster`` kills real ``execute_trades_job`` run processes (``dagster job execute``);
    otherwise bare workers running the same executor, which start faster."""
    # A slower venue widens the window between "order sent" and "fill recorded".
    w.fake.remote.add_fault("hang", path="/api/v3/order", method="POST", count=None, seconds=0.15)
    mid_order = 0
    for trial in range(trials):
        seed_burst(w.store, w.bots, trial, per_trial, w.rng)
        seen = len(w.fake.remote.requests())
        proc = (
            runs.start_execute_run(w.env, w.log_path(f"crash-run-{trial}"))
            if dagster
            else runs.start_worker(w.env, w.log_path(f"crash-{trial}"), f"crash-{trial}")
        )
        # Start-up time varies with load: aim at the random point from the process's first
        # exchange request (or kill it during start-up if it never gets that far).
        ready = time.monotonic() + 30
        while len(w.fake.remote.requests()) == seen and time.monotonic() < ready:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(w.rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        executing = w.store.run(
            lambda c: c.execute(
                "SELECT count(*) FROM trade_queue WHERE status = 'EXECUTING'"
            ).fetchone()[0]
        )
        mid_order += 1 if executing else 0
    w.fake.remote.clear_faults()
    return mid_order


def unknown(o: Options) -> ChaosReport:
    """Entries, then their CLOSEs, under processed-then-5xx answers and invisible orders."""
    # Six unknown outcomes in a row open the breaker (the venue is failing); a short cooldown
    # lets the half-open probe and the rest go on within the scenario.
    with chaos_world(bots=o.bots or 12, breaker_open_seconds=3.0, seed=o.seed) as w:
        return run_unknown(w, o)


def run_unknown(w: World, o: Options) -> ChaosReport:
    """The ``unknown`` scenario on a world (tests look at the venue's records after it)."""
    remote = w.fake.remote
    sends = 0
    for round_ in range(2):  # entries, then the CLOSEs of what they opened
        sends += len(seed_burst(w.store, w.bots, round_, len(w.bots), w.rng))
        # Orders placed while "invisible" matches are hidden from every lookup for 3 s; the
        # first six sends of the round also answer 5xx after being processed.
        remote.add_fault("invisible", path=ORDER_PATH, method="POST", count=3, seconds=3.0)
        for code in (-1006, -1001, -1007):
            remote.add_fault(
                "unknown_after_accept", path=ORDER_PATH, method="POST", count=2, code=code
            )
        w.drain(o.deadline_s)
        remote.clear_faults()
    report = w.report("unknown", with_rate=False)
    unknown_answers = sum(1 for r in remote.requests(ORDER_PATH, "POST") if r.status >= 500)
    report.notes.append(
        f"{sends} rows queued in 2 rounds; {unknown_answers} sends answered 5xx after the "
        "venue processed them"
    )
    return report


def fills(o: Options) -> ChaosReport:
    """Entries, then their CLOSEs, answered NEW then filled, or partly filled then EXPIRED."""
    with chaos_world(bots=o.bots or 12, seed=o.seed) as w:
        return run_fills(w, o)


def run_fills(w: World, o: Options) -> ChaosReport:
    """The ``fills`` scenario on a world (tests look at the venue's records after it)."""
    remote = w.fake.remote
    for round_ in range(2):
        queued = len(seed_burst(w.store, w.bots, round_, len(w.bots), w.rng))
        # Half the round's orders are answered NEW and fill 2 s later; the other half fill 40%
        # and end EXPIRED (a CLOSE's rest is queued and sold by a later run).
        slow = queued // 2
        remote.add_fault("new_then_fill", path=ORDER_PATH, method="POST", count=slow, seconds=2)
        remote.add_fault(
            "expired_partial", path=ORDER_PATH, method="POST", count=queued - slow, fill_ratio=0.4
        )
        w.drain(o.deadline_s)
        remote.clear_faults()
    report = w.report("fills", with_rate=False)
    statuses = Counter(order["status"] for order in remote.orders())
    rest = w.store.run(
        lambda c: c.execute(
            # Seeded rows have ids "bb-ch…"; a rest CLOSE gets a follow-up id derived from its
            # parent's.
            "SELECT count(*) FROM trade_queue WHERE direction = 'CLOSE' "
            "AND client_order_id NOT LIKE 'bb-ch%'"
        ).fetchone()[0]
    )
    report.notes.append(
        f"venue order statuses: {dict(statuses)}; CLOSE rows queued for a partial CLOSE's "
        f"rest: {rest}"
    )
    return report


SCENARIOS: dict[str, Callable[[Options], ChaosReport]] = {
    "burst": burst,
    "errors": errors,
    "ambiguous": ambiguous,
    "maintenance": maintenance,
    "crash": crash,
    "unknown": unknown,
    "fills": fills,
}


def run_scenario(name: str, options: Options | None = None) -> ChaosReport:
    """Run one scenario by name."""
    return SCENARIOS[name](options or Options())
