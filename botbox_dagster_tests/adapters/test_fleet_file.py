"""Fleet files on disk: YAML problems are precise, replay folders resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from botbox_dagster.adapters.fleet_file import load_fleet_file
from botbox_dagster.demo.run import demo_fleet_file
from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.bots import TradingMode
from botbox_dagster.domain.errors import ConfigErrors

GOOD = """
exchanges:
  paper: {venue: binance, replay_dir: recordings}
bots:
  - {id: a, strategy: scalping, exchange: paper, symbol: ETH/USDT, check_interval_minutes: 1}
"""


def write(tmp_path: Path, text: str, name: str = "bots.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load_fleet_file(path)
    return [str(e) for e in caught.value.errors]


def test_relative_replay_dir_resolves_against_the_file(tmp_path: Path) -> None:
    fleet = load_fleet_file(write(tmp_path, GOOD))
    assert fleet.exchanges["paper"].replay_dir == str((tmp_path / "recordings").resolve())


def test_botbox_home_in_replay_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTBOX_HOME", str(tmp_path / "home"))
    fleet = load_fleet_file(write(tmp_path, GOOD.replace("recordings", "'${BOTBOX_HOME}/replay'")))
    assert fleet.exchanges["paper"].replay_dir == str(tmp_path / "home" / "replay")


def test_market_type_is_read_from_the_file_and_spot_by_default(tmp_path: Path) -> None:
    assert load_fleet_file(write(tmp_path, GOOD)).exchanges["paper"].market_type is MarketType.SPOT
    margin = GOOD.replace("replay_dir: recordings}", "replay_dir: recordings, market_type: margin}")
    account = load_fleet_file(write(tmp_path, margin)).exchanges["paper"]
    assert account.market_type is MarketType.MARGIN and account.can_short
    bad = GOOD.replace("replay_dir: recordings}", "replay_dir: recordings, market_type: perps}")
    assert errors_of(write(tmp_path, bad, "perps.yaml"))[0] == (
        "perps.yaml: exchange 'paper': market_type must be one of spot, margin, futures, "
        "got 'perps'"
    )


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    found = errors_of(write(tmp_path, "bots: [ {id: a", "broken.yaml"))
    assert len(found) == 1
    assert found[0].startswith("broken.yaml: is not valid YAML")


def test_duplicate_keys_are_rejected_not_silently_merged(tmp_path: Path) -> None:
    text = GOOD.replace(
        "check_interval_minutes: 1}", "check_interval_minutes: 1, capital: 5, capital: 50000}"
    )
    found = errors_of(write(tmp_path, text))
    assert "duplicate key 'capital'" in found[0]


def test_missing_file(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope.yaml")[0].startswith("nope.yaml: cannot be read")


def test_hostile_yaml_tags_are_refused(tmp_path: Path) -> None:
    found = errors_of(write(tmp_path, "bots: !!python/object/apply:os.system ['true']"))
    assert "is not valid YAML" in found[0]


def test_demo_fleet_is_valid_and_paper_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTBOX_HOME", str(tmp_path))
    fleet = load_fleet_file(demo_fleet_file())
    assert len(fleet.bots) >= 20
    assert len(fleet.markets()) >= 5
    assert {b.mode for b in fleet.bots} == {TradingMode.PAPER}
    # Every template shorts, so the demo's paper account declares margin (spot would reject).
    assert {a.market_type for a in fleet.exchanges.values()} == {MarketType.MARGIN}
    templates = {str(spec.template) for spec in fleet.strategies.values()}
    assert templates == {
        "scalping",
        "mean_reversion",
        "trend_following",
        "grid",
        "funding_arbitrage",
    }
