"""Bot validation: every rejection path names the bot and the field."""

from __future__ import annotations

import math

import pytest

from botbox_dagster.domain.bots import BotStatus, TradingMode, parse_bot

VALID = {
    "id": "eth-scalper",
    "name": "ETH scalper",
    "strategy": "scalping",
    "exchange": "paper",
    "symbol": "ETH/USDT",
    "check_interval_minutes": 1,
}


def test_valid_bot_gets_safe_defaults() -> None:
    bot, errors = parse_bot(dict(VALID), "bots.yaml")
    assert errors == []
    assert bot is not None
    assert bot.status is BotStatus.ACTIVE
    assert bot.mode is TradingMode.PAPER  # paper is the default everywhere
    assert bot.limits.max_open_positions == 1
    assert bot.timeframe == "1m"


def test_interval_message_is_exactly_what_the_operator_reads() -> None:
    _, errors = parse_bot({**VALID, "check_interval_minutes": 7}, "bots.yaml")
    assert [str(e) for e in errors] == [
        "bots.yaml: bot 'eth-scalper': check_interval_minutes must be one of 1, 5, 15, 60, got 7"
    ]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"id": "Bad Id!"}, "id", "lowercase"),
        ({"id": 12}, "id", "lowercase"),
        ({"check_interval_minutes": "5"}, "check_interval_minutes", "one of 1, 5, 15, 60"),
        ({"check_interval_minutes": True}, "check_interval_minutes", "one of"),
        ({"status": "RUNNING"}, "status", "ACTIVE, PAUSED, STOPPED, DELETED"),
        ({"mode": "real"}, "mode", "paper, live"),
        ({"capital": -5}, "capital", "between"),
        ({"capital": 1e15}, "capital", "between"),
        ({"capital": "lots"}, "capital", "must be a number"),
        ({"capital": math.nan}, "capital", "finite"),
        ({"capital": math.inf}, "capital", "finite"),
        ({"symbol": "ETHUSDT"}, "symbol", "like 'ETH/BTC'"),
        ({"symbol": ""}, "symbol", "non-empty"),
        ({"strategy": None}, "strategy", "non-empty"),
        ({"name": ""}, "name", "non-empty"),
        ({"colour": "red"}, "colour", "not a known bot field"),
        ({"limits": {"max_open_positions": 0}}, "limits.max_open_positions", "between 1 and 100"),
        ({"limits": {"max_open_positions": 2.5}}, "limits.max_open_positions", "integer"),
        ({"limits": {"max_open_positions": 2}}, "limits.max_open_positions", "must be 1, got 2"),
        ({"limits": {"max_position_value": -1}}, "limits.max_position_value", "between"),
        ({"limits": {"leverage": 10}}, "limits.leverage", "not a known limit"),
        ({"limits": [1, 2]}, "limits", "mapping"),
    ],
)
def test_each_rejection_names_its_field(change: dict, field: str, fragment: str) -> None:
    bot, errors = parse_bot({**VALID, **change}, "bots.yaml")
    assert bot is None
    assert any(e.field == field and fragment in str(e) for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize("missing", ["strategy", "exchange", "symbol"])
def test_required_fields(missing: str) -> None:
    raw = {k: v for k, v in VALID.items() if k != missing}
    bot, errors = parse_bot(raw, "bots.yaml")
    assert bot is None
    assert any(e.field == missing and "is required" in str(e) for e in errors)


def test_all_errors_of_a_bot_are_reported_at_once() -> None:
    _, errors = parse_bot({**VALID, "capital": -1, "mode": "x", "check_interval_minutes": 2}, "f")
    assert {e.field for e in errors} == {"capital", "mode", "check_interval_minutes"}


def test_non_mapping_bot() -> None:
    bot, errors = parse_bot(["not", "a", "bot"], "bots.yaml: bots[3]")
    assert bot is None
    assert "a bot must be a mapping" in str(errors[0])


def test_status_and_mode_are_case_tolerant() -> None:
    bot, _ = parse_bot({**VALID, "status": "paused", "mode": "PAPER"}, "f")
    assert bot is not None
    assert bot.status is BotStatus.PAUSED
    assert bot.mode is TradingMode.PAPER
