"""The ``botbox`` command, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botbox_dagster.cli import EXIT_CONFIG, EXIT_NOT_FOUND, main
from botbox_dagster.demo.run import demo_fleet_file
from botbox_dagster_tests.support.seed import (
    add_trade,
    add_unpriced_eur_trade,
    mixed_currency_ledger,
)

GOOD = """
exchanges:
  paper: {venue: binance, replay_dir: rec, markets: [ETH/USDT]}
bots:
  - {id: eth-scalper, strategy: scalping, exchange: paper, symbol: ETH/USDT, check_interval_minutes: 1}
  - {id: eth-trend, strategy: trend_following, exchange: paper, symbol: ETH/USDT, check_interval_minutes: 15}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOTBOX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BOTBOX_LEDGER", raising=False)
    return tmp_path / "home"


def test_load_list_pause_resume_status(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "bots.yaml"
    fleet.write_text(GOOD)
    assert main(["bots", "load", str(fleet)]) == 0
    assert "2 bots (2 added, 0 updated, 0 unchanged)" in capsys.readouterr().out
    assert main(["bots", "load", str(fleet)]) == 0
    assert "(0 added, 0 updated, 2 unchanged)" in capsys.readouterr().out
    assert (home / "botbox.duckdb").exists()

    assert main(["bots", "pause", "eth-trend", "--reason", "news"]) == 0
    assert main(["bots", "pause", "ghost"]) == EXIT_NOT_FOUND
    capsys.readouterr()
    assert main(["bots", "list", "--json"]) == 0
    listed = {b["id"]: b for b in json.loads(capsys.readouterr().out)}
    assert listed["eth-trend"]["status"] == "PAUSED"
    assert listed["eth-trend"]["status_reason"] == "news"
    assert main(["bots", "resume", "eth-trend"]) == 0
    capsys.readouterr()

    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["bots"] == {"total": 2, "by_status": {"ACTIVE": 2}}
    assert status["trade_queue"]["total"] == 0
    assert status["positions"]["realized_pnl_by_currency"] == {}
    assert status["positions"]["realized_pnl_total"] == {
        "currency": "USDT",
        "amount": 0.0,
        "rates": {},
        "unconverted": {},
    }


def test_status_shows_the_minute_loop_falling_behind(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from botbox_dagster.adapters.ledger import LedgerStore
    from botbox_dagster_tests.support.seed import overloaded_minute_loop

    home.mkdir(parents=True)
    reason = overloaded_minute_loop(LedgerStore(home / "botbox.duckdb"), datetime.now(UTC))
    assert main(["status"]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("minute loop:")]
    # ticks ended 20 s and 95 s after their minutes: p95 by linear interpolation 91.25 s
    assert line == f"minute loop: tick lag p95 91.2 s, slots skipped last hour 1 (last: {reason})"
    assert main(["status", "--json"]) == 0
    loop = json.loads(capsys.readouterr().out)["minute_loop"]
    assert loop["skipped_last_hour"] == 1 and loop["last_skip_reason"] == reason


def test_status_shows_pnl_per_currency_and_converted(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir(parents=True)
    now = datetime.now(UTC)
    # +12 USDT and +0.001 BTC, BTC/USDT closing at 50,000; +3 EUR that nothing prices.
    store = mixed_currency_ledger(home / "botbox.duckdb", now)
    add_unpriced_eur_trade(store, now)
    add_trade(store, "eth-btc-bot", opened=now - timedelta(minutes=5), entry=0.05, symbol="ETH/BTC")
    del store
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "open positions: 1" in lines
    assert "realized P&L by quote currency: +0.001 BTC, +3.00 EUR, +12.00 USDT" in lines
    assert (
        "realized P&L total (USDT): +62.00 USDT (not converted, no USDT price: +3.00 EUR)" in lines
    )
    # The open ETH/BTC position is marked +2 × amount = +2 BTC: 100,000 USDT.
    assert "unrealized P&L by quote currency: +2.00 BTC" in lines
    assert "unrealized P&L total (USDT): +100,000.00 USDT" in lines
    [rate] = [line for line in lines if "converted at" in line]
    assert rate.startswith("  converted at 1 BTC = 50,000.00 USDT (paper BTC/USDT 1m close at ")

    assert main(["status", "--json"]) == 0
    pos = json.loads(capsys.readouterr().out)["positions"]
    assert pos["realized_pnl_by_currency"] == {
        "BTC": pytest.approx(0.001),
        "EUR": pytest.approx(3.0),
        "USDT": 12.0,
    }
    assert pos["realized_pnl_total"]["currency"] == "USDT"
    assert pos["realized_pnl_total"]["amount"] == pytest.approx(62.0)
    assert pos["realized_pnl_total"]["unconverted"] == {"EUR": pytest.approx(3.0)}
    assert pos["unrealized_pnl_total"] == {
        "currency": "USDT",
        "amount": pytest.approx(100_000.0),
        "rates": {"BTC": 50_000.0},
        "unconverted": {},
    }


def test_malformed_file_is_rejected_and_nothing_changes(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "bots.yaml"
    good.write_text(GOOD)
    assert main(["bots", "load", str(good)]) == 0
    capsys.readouterr()
    main(["bots", "list", "--json"])
    before = capsys.readouterr().out

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("check_interval_minutes: 1}", "check_interval_minutes: 7}").replace(
            "strategy: trend_following, exchange: paper",
            "strategy: trend_following, exchange: paper, capital: 50",  # valid change, must not land
        )
    )
    assert main(["bots", "load", str(bad)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "rejected" in err
    assert "nothing was written" in err
    assert (
        "bad.yaml: bot 'eth-scalper': check_interval_minutes must be one of 1, 5, 15, 60, got 7"
        in err
    )
    main(["bots", "list", "--json"])
    assert capsys.readouterr().out == before


def test_a_bot_holding_a_position_is_not_moved_and_bots_close_queues_its_exit(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from botbox_dagster.adapters.ledger import LedgerStore

    fleet = tmp_path / "bots.yaml"
    fleet.write_text(GOOD)
    assert main(["bots", "load", str(fleet)]) == 0
    store = LedgerStore(home / "botbox.duckdb")
    add_trade(store, "eth-scalper", opened=datetime.now(UTC), symbol="ETH/USDT")
    moved = tmp_path / "moved.yaml"
    moved.write_text(
        GOOD.replace("markets: [ETH/USDT]", "markets: [ETH/USDT, BTC/USDT]").replace(
            "exchange: paper, symbol: ETH/USDT, check_interval_minutes: 1",
            "exchange: paper, symbol: BTC/USDT, check_interval_minutes: 1",
        )
    )
    capsys.readouterr()
    assert main(["bots", "load", str(moved)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "nothing was written" in err and "bot 'eth-scalper': symbol holds open position" in err
    assert store.get_bot("eth-scalper").bot.symbol == "ETH/USDT"  # type: ignore[union-attr]

    assert main(["bots", "close", "eth-scalper", "--reason", "moving"]) == 0
    assert "LONG 1 ETH/USDT: CLOSE queued (row " in capsys.readouterr().out
    assert main(["bots", "close", "eth-scalper"]) == 0
    assert "a CLOSE is already queued" in capsys.readouterr().out
    [row] = [q for q in store.queue_rows() if q["direction"] == "CLOSE"]
    assert (row["status"], row["position_size"]) == ("PENDING", 1.0)
    assert row["reason"] == "closed by the operator: moving"
    assert main(["bots", "close", "ghost"]) == EXIT_NOT_FOUND


@pytest.mark.integration
def test_installed_console_script_reports_the_demo_fleet(home: Path) -> None:
    botbox = Path(sys.executable).with_name("botbox")
    env = {**os.environ, "BOTBOX_HOME": str(home)}
    subprocess.run(
        [str(botbox), "bots", "load", str(demo_fleet_file())],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(botbox), "status", "--json"], env=env, check=True, capture_output=True, text=True
    )
    status = json.loads(out.stdout)
    assert status["bots"]["by_status"]["ACTIVE"] >= 20
    assert status["exchanges"][0]["execution"] == "paper"
