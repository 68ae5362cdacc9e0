"""The ledger store: migrations, fleet loading, bot status changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.ledger.schema import LATEST_VERSION, MIGRATIONS
from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.domain.errors import ConfigErrors
from botbox_dagster.domain.fleet import parse_fleet
from botbox_dagster.services.fleet_summary import fleet_summary

FLEET: dict[str, Any] = {
    "exchanges": {
        "paper": {"venue": "binance", "replay_dir": "/tmp/r", "markets": ["ETH/USDT", "BTC/USDT"]}
    },
    "bots": [
        {
            "id": "a",
            "strategy": "scalping",
            "exchange": "paper",
            "symbol": "ETH/USDT",
            "check_interval_minutes": 1,
        },
        {
            "id": "b",
            "strategy": "mean_reversion",
            "exchange": "paper",
            "symbol": "BTC/USDT",
            "check_interval_minutes": 5,
        },
    ],
}

CONTRACT_TABLES = {
    "bots",
    "strategies",
    "markets",
    "candles",
    "signals",
    "trade_queue",
    "orders",
    "fills",
    "positions",
    "rate_limit_buckets",
    "circuit_breakers",
    "fleet_controls",
    "schema_version",
}


def tables(path: Path) -> set[str]:
    with duckdb.connect(str(path)) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }


def test_new_file_gets_every_contract_table(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    assert store.schema_version() == LATEST_VERSION
    assert CONTRACT_TABLES <= tables(store.path)


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb", migrate=False)
    assert store.schema_version() == 0
    assert store.migrate() == [m.version for m in MIGRATIONS]
    assert store.migrate() == []
    assert LedgerStore(store.path).migrate() == []
    with duckdb.connect(str(store.path)) as conn:
        rows = conn.execute(
            "SELECT version, description FROM schema_version ORDER BY version"
        ).fetchall()
    assert rows == [(m.version, m.description) for m in MIGRATIONS]


def test_trade_queue_allows_one_pending_row_per_key(tmp_path: Path) -> None:
    """The database, not the code, enforces "at most one PENDING per (bot, symbol, direction)"."""
    store = LedgerStore(tmp_path / "l.duckdb")
    insert = (
        "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, position_size, status, "
        "client_order_id, pending_key, priority, created_at, updated_at, expires_at) "
        "VALUES ('a', 'paper', 'ETH/USDT', 'LONG', 1, 'PENDING', ?, 'a|ETH/USDT|LONG', 1, now(), now(), now())"
    )
    store.run(lambda c: c.execute(insert, ["cid-1"]))
    with pytest.raises(duckdb.ConstraintException):
        store.run(lambda c: c.execute(insert, ["cid-2"]))
    store.run(lambda c: c.execute("UPDATE trade_queue SET status = 'FILLED', pending_key = NULL"))
    store.run(lambda c: c.execute(insert, ["cid-3"]))
    with pytest.raises(duckdb.ConstraintException):  # client order ids are unique forever
        store.run(lambda c: c.execute(insert.replace("'a|ETH", "'x|ETH"), ["cid-1"]))


def test_loading_twice_changes_nothing(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    fleet = parse_fleet(copy.deepcopy(FLEET), "fleet.yaml")
    first = store.load_fleet(fleet)
    assert first.added == ["a", "b"]
    assert first.changed
    before = store.list_bots()
    second = store.load_fleet(parse_fleet(copy.deepcopy(FLEET), "fleet.yaml"))
    assert not second.changed
    assert second.unchanged == ["a", "b"]
    assert store.list_bots() == before
    assert store.active_markets() == [("paper", "BTC/USDT"), ("paper", "ETH/USDT")]


def test_market_type_survives_the_ledger_round_trip(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    doc = copy.deepcopy(FLEET)
    doc["exchanges"]["margin"] = {
        "venue": "binance",
        "replay_dir": "/tmp/r",
        "market_type": "margin",
    }
    fleet = parse_fleet(doc, "fleet.yaml")
    store.load_fleet(fleet)
    accounts = store.exchange_accounts()
    assert accounts == fleet.exchanges  # every field, market type included
    assert accounts["paper"].market_type is MarketType.SPOT and not accounts["paper"].can_short
    assert accounts["margin"].market_type is MarketType.MARGIN and accounts["margin"].can_short
    configs = dict(
        store.run(lambda c: c.execute("SELECT account, config FROM exchange_accounts").fetchall())
    )
    assert json.loads(configs["margin"])["market_type"] == "margin"
    # A row written before accounts had a market type reads back as spot.
    legacy = {k: v for k, v in json.loads(configs["margin"]).items() if k != "market_type"}
    store.run(
        lambda c: c.execute(
            "UPDATE exchange_accounts SET config = ? WHERE account = 'margin'",
            [json.dumps(legacy)],
        )
    )
    assert store.exchange_accounts()["margin"].market_type is MarketType.SPOT
    # A bad market type is refused before anything is written.
    doc["exchanges"]["margin"]["market_type"] = "perp"
    with pytest.raises(ConfigErrors):
        store.load_fleet(parse_fleet(doc, "fleet.yaml"))
    assert store.exchange_accounts()["margin"].market_type is MarketType.SPOT


def test_reload_keeps_a_cli_pause_unless_the_bot_changed(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    store.load_fleet(parse_fleet(copy.deepcopy(FLEET), "f"))
    paused = store.set_bot_status("a", BotStatus.PAUSED, "operator")
    assert paused is not None
    assert paused.bot.status is BotStatus.PAUSED
    store.load_fleet(parse_fleet(copy.deepcopy(FLEET), "f"))
    assert store.get_bot("a").bot.status is BotStatus.PAUSED  # type: ignore[union-attr]
    assert store.active_markets() == [("paper", "BTC/USDT")]
    changed = copy.deepcopy(FLEET)
    changed["bots"][0]["capital"] = 50
    report = store.load_fleet(parse_fleet(changed, "f"))
    assert report.updated == ["a"]
    row = store.get_bot("a")
    assert row is not None
    assert row.bot.status is BotStatus.ACTIVE
    assert row.bot.capital == 50


def test_status_changes(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    store.load_fleet(parse_fleet(copy.deepcopy(FLEET), "f"))
    assert store.set_bot_status("nope", BotStatus.PAUSED, "x") is None
    assert store.set_bot_status("b", BotStatus.DELETED, "gone") is not None
    assert [r.bot.id for r in store.list_bots()] == ["a"]
    assert len(store.list_bots(include_deleted=True)) == 2
    assert store.set_bot_status("b", BotStatus.ACTIVE, "undelete?") is None  # deleted is final


def test_fleet_summary_counts(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "l.duckdb")
    store.load_fleet(parse_fleet(copy.deepcopy(FLEET), "f"))
    store.set_bot_status("b", BotStatus.PAUSED, "x")
    summary = fleet_summary(store)
    assert summary["bots"] == {"total": 2, "by_status": {"ACTIVE": 1, "PAUSED": 1}}
    assert summary["exchanges"][0]["account"] == "paper"
    assert summary["exchanges"][0]["circuit"] == "CLOSED"
    assert summary["pause_all"] == {"paused": False}
