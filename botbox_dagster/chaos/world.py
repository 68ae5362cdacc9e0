"""A throw-away BotBox deployment wired to a fake exchange process: the stage of a chaos run."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from botbox_dagster.adapters.circuit import LedgerCircuitBreaker
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.chaos import runs
from botbox_dagster.chaos.exchange import FakeProcess, fake_exchange_process
from botbox_dagster.chaos.fleet import ACCOUNT, bot_ids, fleet_doc, markets, write_candles
from botbox_dagster.chaos.queue import open_rows, terminal_rows
from botbox_dagster.chaos.report import ChaosReport, collect
from botbox_dagster.domain.accounts import ExchangeAccount
from botbox_dagster.domain.circuit_breaker import BreakerState
from botbox_dagster.domain.fleet import parse_fleet


@dataclass
class World:
    """Home, ledger, fake exchange and the environment every process of the run gets."""

    home: Path
    store: LedgerStore
    fake: FakeProcess
    env: dict[str, str]
    bots: dict[str, str]  # bot id → symbol
    rng: random.Random
    started: float
    started_with: dict[str, float]  # the venue account's balances (free + locked) at the start

    @property
    def account(self) -> ExchangeAccount:
        return self.store.exchange_accounts()[ACCOUNT]

    def breaker_state(self) -> BreakerState:
        """The account's circuit breaker as every process sees it."""
        return LedgerCircuitBreaker(self.store, ACCOUNT).state()

    def log_path(self, name: str) -> Path:
        (self.home / "logs").mkdir(exist_ok=True)
        return self.home / "logs" / f"{name}.log"

    def dagster_run(self, name: str, orphan_after_seconds: float | None = None) -> int:
        """One ``execute_trades_job`` run to completion (a real Dagster process)."""
        return runs.execute_run(
            self.env, self.log_path(name), orphan_after_seconds=orphan_after_seconds
        )

    def drain(
        self,
        deadline_s: float,
        *,
        dagster: bool = True,
        pause_s: float = 0.5,
        orphan_after_seconds: float | None = None,
    ) -> int:
        """Execution runs, one after another, until every row is terminal; runs made.

        Past ``deadline_s`` a drain ends after three runs in a row that made no progress (no
        row became terminal; a run that found the rate budget spent settles nothing): one still
        settling rows goes on, up to 10 minutes more, so a slow machine makes it longer, not a
        failure.
        """
        end = time.monotonic() + deadline_s
        made, stalled, settled = 0, 0, terminal_rows(self.store)
        while open_rows(self.store):
            now = time.monotonic()
            if now > end + 600 or (now > end and stalled >= 3):
                break
            made += 1
            if dagster:
                self.dagster_run(f"drain-{made}", orphan_after_seconds)
            else:
                proc = runs.start_worker(self.env, self.log_path(f"worker-d{made}"), f"d{made}")
                proc.wait(timeout=120)
            time.sleep(pause_s)
            before, settled = settled, terminal_rows(self.store)
            stalled = 0 if settled > before else stalled + 1
        return made

    def report(self, scenario: str, *, with_rate: bool = True) -> ChaosReport:
        report = collect(
            scenario,
            self.store,
            self.fake.remote,
            self.account,
            with_rate=with_rate,
            started_with=self.started_with,
        )
        report.seconds = time.monotonic() - self.started
        return report


@contextmanager
def chaos_world(
    *,
    bots: int = 20,
    market_count: int = 10,
    weight_limit: int = 6000,
    orders_per_10s: int = 100,
    breaker_open_seconds: float = 60.0,
    home: Path | None = None,
    seed: int = 1,
) -> Iterator[World]:
    """Build the deployment, start the fake, load the fleet; tear the fake down afterwards."""
    with tempfile.TemporaryDirectory(prefix="botbox-chaos-") as tmp:
        root = home or Path(tmp) / "home"
        root.mkdir(parents=True, exist_ok=True)
        symbols = markets(market_count)
        files = write_candles(root / "candles", symbols)
        with fake_exchange_process(
            files, weight_limit=weight_limit, orders_per_10s=orders_per_10s
        ) as fake:
            doc = fleet_doc(
                fake.base_url,
                bots,
                symbols,
                weight_per_minute=weight_limit,
                orders_per_10s=orders_per_10s,
            )
            (root / "fleet.yaml").write_text(yaml.safe_dump(doc))
            store = LedgerStore(root / "botbox.duckdb")
            store.load_fleet(parse_fleet(doc, str(root / "fleet.yaml")))
            env = runs.chaos_env(root, breaker_open_seconds=breaker_open_seconds)
            runs.init_instance(env)
            fleet_bots = {b: symbols[i % len(symbols)] for i, b in enumerate(bot_ids(bots))}
            balances = {
                asset: float(b["free"]) + float(b["locked"])
                for asset, b in fake.remote.balances().items()
            }
            yield World(
                root,
                store,
                fake,
                env,
                fleet_bots,
                random.Random(seed),
                time.monotonic(),
                balances,
            )
