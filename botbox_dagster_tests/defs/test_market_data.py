"""The ``candles`` asset through Dagster: one fetch per market, single-run backfill, freshness."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.defs.market_data.assets import candles
from botbox_dagster.defs.market_data.checks import candles_fresh
from botbox_dagster.defs.market_data.jobs import market_data_job
from botbox_dagster.defs.resources import LedgerResource, MarketDataResource
from botbox_dagster.domain.fleet import parse_fleet
from botbox_dagster.fake_exchange import FakeExchange, MarketSpec

# Ten markets from the two 1-minute recordings (the fake serves 1m only from 1m files).
MARKETS = {
    **{f"U{i}/BTC": "UNITTEST_BTC-1m.csv" for i in range(5)},
    **{f"X{i}/ETH": "XRP_ETH-1m.csv" for i in range(5)},
}


def fleet_doc(exchange: dict[str, Any], symbols: list[str], bots: int) -> dict[str, Any]:
    return {
        "exchanges": {"acct": {**exchange, "markets": symbols}},
        "bots": [
            {
                "id": f"bot-{i:03d}",
                "strategy": "scalping",
                "exchange": "acct",
                "symbol": symbols[i % len(symbols)],
                "check_interval_minutes": (1, 5, 15, 60)[i % 4],
            }
            for i in range(bots)
        ],
    }


def definitions(ledger: Path) -> dg.Definitions:
    return dg.Definitions(
        assets=[candles],
        asset_checks=[candles_fresh],
        jobs=[market_data_job],
        resources={
            "ledger": LedgerResource(path=str(ledger)),
            "market_data": MarketDataResource(request_timeout_ms=5000),
        },
        executor=dg.in_process_executor,
    )


def run_job(ledger: Path, instance: dg.DagsterInstance, **kw: Any) -> dg.ExecuteInProcessResult:
    job = definitions(ledger).resolve_job_def("market_data_job")
    return job.execute_in_process(instance=instance, **kw)


def today_key() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = result.asset_materializations_for_node("candles")[-1:]
    return {k: v.value for k, v in event.metadata.items()}


def duplicates(store: LedgerStore) -> int:
    return store.run(
        lambda c: c.execute(
            "SELECT count(*) - count(DISTINCT (exchange, symbol, timeframe, open_time)) "
            "FROM candles"
        ).fetchone()[0]
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def fleet_fx(shared_data: Path) -> Iterator[FakeExchange]:
    specs = [MarketSpec(s, csv_path=shared_data / "candles" / f) for s, f in MARKETS.items()]
    with FakeExchange(specs) as fx:
        yield fx


def test_one_fetch_per_market_for_200_bots(
    tmp_path: Path, fleet_fx: FakeExchange, instance: dg.DagsterInstance
) -> None:
    ledger = tmp_path / "ledger.duckdb"
    store = LedgerStore(ledger)
    symbols = list(MARKETS)
    account = {"venue": "binance", "market_data": "ccxt", "api_url": fleet_fx.base_url}
    store.load_fleet(parse_fleet(fleet_doc(account, symbols, 200), "fleet.yaml"))
    assert len(store.active_markets()) == 10 and len(store.list_bots()) == 200
    # Earlier refreshes stored everything up to ten minutes ago (their own bars, from the feed).
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    seeded_to = now_ms - now_ms % 60_000 - 10 * 60_000
    for symbol in symbols:
        bars = list(fleet_fx.feeds[symbol].bars_between(seeded_to - 3_600_000, seeded_to))
        frame = pd.DataFrame(
            [[b.open, b.high, b.low, b.close, b.volume] for b in bars],
            columns=["open", "high", "low", "close", "volume"],
            index=pd.DatetimeIndex([pd.Timestamp(b.open_time, unit="ms", tz="UTC") for b in bars]),
        )
        store.upsert_candles("acct", symbol, "1m", frame, source="ccxt")
    seeded = store.run(lambda c: c.execute("SELECT count(*) FROM candles").fetchone()[0])

    result = run_job(ledger, instance, partition_key=today_key())

    assert result.success
    klines = fleet_fx.requests("/api/v3/klines")
    per_market = pd.Series([r.params["symbol"] for r in klines]).value_counts()
    assert per_market.max() <= 1 and len(per_market) == 10
    assert len(fleet_fx.requests("/api/v3/exchangeInfo")) == 1  # one market list per account
    meta = metadata(result)
    assert meta["markets_refreshed"] == 10 and meta["markets_failed"] == 0
    assert meta["exchange_calls"] == len(fleet_fx.requests()) == len(klines) + 1
    logged = store.run(lambda c: c.execute("SELECT count(*) FROM exchange_calls").fetchone()[0])
    assert logged == meta["exchange_calls"]
    base_rows = store.run(
        lambda c: c.execute("SELECT count(*) FROM candles WHERE timeframe = '1m'").fetchone()[0]
    )
    assert meta["rows_written"] == base_rows - seeded > 0
    assert meta["mode"] == "refresh" and duplicates(store) == 0


def load_replay_fleet(tmp_path: Path, folder: Path, symbols: list[str]) -> Path:
    ledger = tmp_path / "ledger.duckdb"
    account = {"venue": "binance", "market_data": "replay", "replay_dir": str(folder)}
    LedgerStore(ledger).load_fleet(parse_fleet(fleet_doc(account, symbols, 6), "fleet.yaml"))
    return ledger


@pytest.fixture
def replay_fleet(tmp_path: Path, shared_data: Path) -> Path:
    """Three replayed markets (two 1m recordings with gaps, one 5m-only) watched by six bots."""
    folder = tmp_path / "replay"
    folder.mkdir()
    for name in ("UNITTEST_BTC-1m.csv", "XRP_ETH-1m.csv", "ETH_BTC-5m.csv"):
        shutil.copy(shared_data / "candles" / name, folder / name)
    return load_replay_fleet(tmp_path, folder, ["UNITTEST/BTC", "XRP/ETH", "ETH/BTC"])


@pytest.fixture
def gapless_fleet(tmp_path: Path, shared_data: Path) -> Path:
    """Recordings without gaps, so the newest closed bar always exists (ETH/BTC 5m and a 1m
    market made from UNITTEST/BTC with each missing minute filled by a flat, empty bar)."""
    folder = tmp_path / "gapless"
    folder.mkdir()
    shutil.copy(shared_data / "candles" / "ETH_BTC-5m.csv", folder / "ETH_BTC-5m.csv")
    data = pd.read_csv(shared_data / "candles" / "UNITTEST_BTC-1m.csv").set_index("timestamp")
    full = data.reindex(range(data.index[0], data.index[-1] + 60_000, 60_000))
    close = full["close"].ffill()
    full = full.fillna({"open": close, "high": close, "low": close, "close": close, "volume": 0})
    full.rename_axis("timestamp").reset_index().to_csv(folder / "FULL_BTC-1m.csv", index=False)
    return load_replay_fleet(tmp_path, folder, ["FULL/BTC", "ETH/BTC"])


def test_backfill_of_three_days_is_one_idempotent_run(
    replay_fleet: Path, instance: dg.DagsterInstance
) -> None:
    assert candles.backfill_policy == dg.BackfillPolicy.single_run()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(today - timedelta(days=n)).strftime("%Y-%m-%d") for n in (4, 3, 2)]
    tags = {
        "dagster/asset_partition_range_start": days[0],
        "dagster/asset_partition_range_end": days[-1],
    }
    result = run_job(replay_fleet, instance, tags=tags)
    assert result.success
    assert len(instance.get_runs()) == 1
    materialized = {m.partition for m in result.asset_materializations_for_node("candles")}
    assert materialized == set(days)  # three partitions, one run
    meta = metadata(result)
    assert meta["mode"] == "backfill" and meta["markets_refreshed"] == 3
    store = LedgerStore(replay_fleet)
    frame = store.read_candles("acct", "UNITTEST/BTC", "1m")
    assert frame.index.min() >= pd.Timestamp(days[0], tz="UTC")
    assert frame.index.max() < pd.Timestamp(today - timedelta(days=1))
    assert frame.index.max() >= pd.Timestamp(today - timedelta(days=1, minutes=60))
    eth = store.read_candles("acct", "ETH/BTC", "5m")
    assert len(eth) > 2 * 288  # three days of a 5m-only market, gaps aside
    before = store.run(
        lambda c: c.execute(
            "SELECT symbol, timeframe, count(*) FROM candles GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    )
    again = run_job(replay_fleet, instance, tags=tags)
    assert again.success
    after = store.run(
        lambda c: c.execute(
            "SELECT symbol, timeframe, count(*) FROM candles GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    )
    assert after == before and duplicates(store) == 0
    assert metadata(again)["rows_written"] == meta["rows_written"]


def check_evaluation(result: dg.ExecuteInProcessResult) -> Any:
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "candles_fresh"
    return evaluation


def test_freshness_check_passes_on_fresh_data(
    gapless_fleet: Path, instance: dg.DagsterInstance
) -> None:
    result = run_job(
        gapless_fleet,
        instance,
        partition_key=today_key(),
        run_config={"ops": {"candles": {"config": {"seed_history_days": 0.05}}}},
    )
    evaluation = check_evaluation(result)
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["stale_markets"].value == 0


def test_freshness_check_warns_on_stale_data(
    replay_fleet: Path, instance: dg.DagsterInstance
) -> None:
    # Only an old day was ever refreshed: every market's newest bar is a day old.
    old = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    result = run_job(replay_fleet, instance, partition_key=old)
    assert result.success  # a stale market warns, it does not fail the run
    evaluation = check_evaluation(result)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["stale_markets"].value == 3
    assert "acct ETH/BTC" in (evaluation.description or "")
