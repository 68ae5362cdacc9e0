"""Fleet validation: references resolve, ids are unique, nothing is half-accepted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.errors import ConfigErrors
from botbox_dagster.domain.fleet import config_hash, parse_fleet

FLEET: dict[str, Any] = {
    "exchanges": {
        "paper": {
            "venue": "binance",
            "execution": "paper",
            "market_data": "replay",
            "replay_dir": "/tmp/replay",
            "markets": ["ETH/USDT", "BTC/USDT"],
        },
        "live": {"venue": "binance", "execution": "ccxt", "market_data": "ccxt"},
    },
    "strategies": {"fast": {"extends": "scalping"}},
    "bots": [
        {
            "id": "a",
            "strategy": "fast",
            "exchange": "paper",
            "symbol": "ETH/USDT",
            "check_interval_minutes": 1,
        },
        {
            "id": "b",
            "strategy": "trend_following",
            "exchange": "paper",
            "symbol": "BTC/USDT",
            "check_interval_minutes": 15,
        },
    ],
}


def fleet(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FLEET)
    doc.update(changes)
    return doc


def messages(doc: Any) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        parse_fleet(doc, "fleet.yaml")
    return [str(e) for e in caught.value.errors]


def test_valid_fleet_resolves_presets_named_directly() -> None:
    parsed = parse_fleet(fleet(), "fleet.yaml")
    assert [b.id for b in parsed.bots] == ["a", "b"]
    assert set(parsed.strategies) == {"fast", "trend_following"}
    assert parsed.strategy_sources["trend_following"] == {
        "name": "trend_following",
        "extends": "trend_following",
    }
    assert parsed.markets() == {("paper", "ETH/USDT"), ("paper", "BTC/USDT")}


def test_duplicate_bot_ids() -> None:
    doc = fleet()
    doc["bots"].append(dict(doc["bots"][0]))
    assert messages(doc) == [
        "fleet.yaml: bot 'a': id is declared twice (entries 0 and 2)",
    ]


def test_unknown_exchange_strategy_and_market() -> None:
    doc = fleet()
    doc["bots"][0]["exchange"] = "kraken"
    doc["bots"][1]["strategy"] = "moonshot"
    doc["bots"].append(
        {
            "id": "c",
            "strategy": "fast",
            "exchange": "paper",
            "symbol": "DOGE/USDT",
            "check_interval_minutes": 1,
        }
    )
    found = messages(doc)
    assert (
        "fleet.yaml: bot 'a': exchange names unknown exchange 'kraken' (known: live, paper)"
        in found
    )
    assert "fleet.yaml: bot 'b': strategy names unknown strategy 'moonshot'" in found
    assert any("bot 'c': symbol names unknown market 'DOGE/USDT' on paper" in m for m in found)


def test_live_bot_needs_a_live_exchange() -> None:
    doc = fleet()
    doc["bots"][0]["mode"] = "live"
    assert messages(doc) == [
        "fleet.yaml: bot 'a': mode is live but exchange 'paper' executes on paper"
    ]


def test_accounts_are_spot_unless_they_declare_a_market_type() -> None:
    parsed = parse_fleet(fleet(), "fleet.yaml")
    assert parsed.exchanges["paper"].market_type is MarketType.SPOT
    assert parsed.exchanges["paper"].can_short is False
    assert parsed.exchanges["live"].can_short is False
    doc = fleet()
    doc["exchanges"]["paper"]["market_type"] = "margin"
    parsed = parse_fleet(doc, "fleet.yaml")
    assert parsed.exchanges["paper"].market_type is MarketType.MARGIN
    assert parsed.exchanges["paper"].can_short is True
    doc["exchanges"]["paper"]["market_type"] = "futures"
    assert parse_fleet(doc, "fleet.yaml").exchanges["paper"].can_short is True


def test_a_live_account_is_spot_only() -> None:
    # Live orders are spot orders: a margin or futures ccxt account would let shorts through
    # validation that every venue call then refuses.
    doc = fleet()
    doc["exchanges"]["live"]["market_type"] = "futures"
    assert messages(doc)[0] == (
        "fleet.yaml: exchange 'live': market_type live (ccxt) execution supports spot accounts "
        "only, got 'futures'"
    )


@pytest.mark.parametrize("value", ["perp", "SPOT", 1, ["margin"], None])
def test_unknown_market_type_names_the_file_account_and_field(value: Any) -> None:
    doc = fleet()
    doc["exchanges"]["paper"]["market_type"] = value
    found = messages(doc)
    assert found[0] == (
        f"fleet.yaml: exchange 'paper': market_type must be one of spot, margin, futures, "
        f"got {value!r}"
    )
    # The account is refused whole, so its bots' references fail too; nothing is half-accepted.
    assert found[1:] == [
        "fleet.yaml: bot 'a': exchange names unknown exchange 'paper' (known: live)",
        "fleet.yaml: bot 'b': exchange names unknown exchange 'paper' (known: live)",
    ]


def test_invalid_strategy_is_reported_with_its_id() -> None:
    doc = fleet(strategies={"fast": {"extends": "scalping", "timeframe": "7m"}})
    found = messages(doc)
    assert any(m.startswith("fleet.yaml: strategy 'fast'") for m in found), found


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ([1, 2], "a fleet file must be a mapping"),
        ({"bots": "none"}, "bots must be a list of bots"),
        ({"bots": [], "robots": []}, "robots is not a known section"),
        ({"bots": [], "exchanges": []}, "exchanges must be a mapping"),
        ({"bots": [], "strategies": ["x"]}, "strategies must be a mapping"),
        ({"bots": [], "exchanges": {"Bad Id": {"venue": "binance"}}}, "exchange ids must be"),
        (
            {"bots": [], "exchanges": {"x": {"venue": "binance", "execution": "yolo"}}},
            "execution must be one of",
        ),
        ({"bots": [], "exchanges": {"x": {"venue": "binance"}}}, "replay_dir is required"),
        (
            {
                "bots": [],
                "exchanges": {
                    "x": {"venue": "binance", "market_data": "ccxt", "api_key_env": "sk-123abc"}
                },
            },
            "must name an environment variable",
        ),
        (
            {
                "bots": [],
                "exchanges": {
                    "x": {"venue": "binance", "market_data": "ccxt", "api_url": "ftp://x"}
                },
            },
            "api_url must be an http(s) url",
        ),
        (
            {
                "bots": [],
                "exchanges": {
                    "x": {"venue": "binance", "market_data": "ccxt", "markets": ["ETHUSDT"]}
                },
            },
            "markets must be a list of symbols",
        ),
        (
            {
                "bots": [],
                "exchanges": {
                    "x": {"venue": "binance", "market_data": "ccxt", "max_open_positions": 0}
                },
            },
            "max_open_positions must be an integer",
        ),
    ],
)
def test_structural_errors(doc: Any, fragment: str) -> None:
    found = messages(doc)
    assert any(fragment in m for m in found), found


def test_errors_of_many_bots_are_all_reported() -> None:
    doc = fleet()
    doc["bots"][0]["capital"] = -1
    doc["bots"][1]["check_interval_minutes"] = 3
    assert len(messages(doc)) == 2


def test_config_hash_is_stable_and_sensitive() -> None:
    one = parse_fleet(fleet(), "f").bots[0]
    two = parse_fleet(fleet(), "f").bots[0]
    assert config_hash(one) == config_hash(two)
    doc = fleet()
    doc["bots"][0]["capital"] = 999
    assert config_hash(parse_fleet(doc, "f").bots[0]) != config_hash(one)
