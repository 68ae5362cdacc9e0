"""Bad input: hostile fleet files, nonsense prices from the exchange, impossible trade sizes.

Each gets a precise error or rejection reason, nothing is half-written, and the rest of the fleet
keeps trading. Order rounding has its own property tests in ``domain/test_precision.py``; here
the properties are about fleet configuration.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botbox_dagster import cli
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.chaos.fleet import PRICE
from botbox_dagster.chaos.queue import enqueue, rows
from botbox_dagster.chaos.world import chaos_world
from botbox_dagster.domain.errors import ConfigErrors
from botbox_dagster.domain.fleet import parse_fleet


def valid_doc() -> dict[str, Any]:
    """A small valid fleet: one account listing two markets, three bots."""
    return {
        "exchanges": {
            "acct": {
                "venue": "binance",
                "execution": "paper",
                "market_data": "replay",
                "replay_dir": "/nonexistent",
                "markets": ["BTC/USDT", "ETH/USDT"],
            }
        },
        "bots": [
            {
                "id": f"bot-{i}",
                "strategy": "scalping",
                "exchange": "acct",
                "symbol": "BTC/USDT" if i % 2 else "ETH/USDT",
                "check_interval_minutes": 1,
                "capital": 1000.0,
            }
            for i in range(3)
        ],
    }


NOT_AN_INTERVAL = st.one_of(
    st.integers().filter(lambda n: n not in (1, 5, 15, 60)),
    st.text(max_size=5),
    st.floats(allow_nan=True),
    st.none(),
)
BAD_CAPITAL = st.one_of(
    st.floats(max_value=0.0),
    st.floats(min_value=1.01e9, allow_infinity=True),
    st.just(float("nan")),
    st.text(max_size=5),
    st.booleans(),
)
UNKNOWN_STRATEGY = st.text(min_size=1, max_size=12).filter(
    lambda s: (
        s not in {"scalping", "mean_reversion", "trend_following", "grid", "funding_arbitrage"}
    )
)
UNKNOWN_MARKET = st.sampled_from(["DOGE/USDT", "XRP/BTC", "BTCUSDT", "", "/", "ETH/"])


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A valid fleet with one hostile change: ``(doc, bot id, field the error must name)``."""
    doc = valid_doc()
    index = draw(st.integers(0, 2))
    bot = doc["bots"][index]
    kind = draw(st.sampled_from(["interval", "capital", "strategy", "market", "duplicate", "type"]))
    field = {"interval": "check_interval_minutes", "duplicate": "id", "type": "symbol"}.get(
        kind, kind
    )
    if kind == "interval":
        bot["check_interval_minutes"] = draw(NOT_AN_INTERVAL)
    elif kind == "capital":
        bot["capital"] = draw(BAD_CAPITAL)
    elif kind == "strategy":
        bot["strategy"] = draw(UNKNOWN_STRATEGY)
    elif kind == "market":
        bot["symbol"] = draw(UNKNOWN_MARKET)
        field = "symbol"
    elif kind == "duplicate":
        doc["bots"].append(copy.deepcopy(bot))
    else:
        bot["symbol"] = draw(st.one_of(st.integers(), st.lists(st.text(), max_size=2), st.none()))
    return doc, bot["id"], field


@settings(max_examples=150, deadline=None)
@given(corrupted())
def test_hostile_fleet_changes_are_rejected_precisely(
    case: tuple[dict[str, Any], str, str],
) -> None:
    doc, bot_id, field = case
    with pytest.raises(ConfigErrors) as caught:
        parse_fleet(doc, "fleet.yaml")
    errors = caught.value.errors
    assert errors
    assert any(
        f"'{bot_id}'" in e.where and field in (e.field or "") and "fleet.yaml" in e.where
        for e in errors
    ), [str(e) for e in errors]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([1, 5, 15, 60]), min_size=1, max_size=6), st.floats(1e-6, 1e9))
def test_valid_fleets_parse_whatever_the_mix(intervals: list[int], capital: float) -> None:
    doc = valid_doc()
    doc["bots"] = [
        {**doc["bots"][0], "id": f"b-{i}", "check_interval_minutes": n, "capital": capital}
        for i, n in enumerate(intervals)
    ]
    fleet = parse_fleet(doc, "fleet.yaml")
    assert [b.check_interval_minutes for b in fleet.bots] == intervals
    assert all(math.isclose(b.capital, capital) for b in fleet.bots)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(corrupted())
def test_a_rejected_fleet_file_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[dict[str, Any], str, str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("BOTBOX_HOME", str(home))
    monkeypatch.delenv("BOTBOX_LEDGER", raising=False)
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(valid_doc()))
    assert cli.main(["bots", "load", str(good)]) == 0
    store = LedgerStore(home / "botbox.duckdb")
    before = rows(store, "SELECT * FROM bots ORDER BY id")
    bad.write_text(yaml.safe_dump(case[0]))
    assert cli.main(["bots", "load", str(bad)]) == 2
    assert rows(store, "SELECT * FROM bots ORDER BY id") == before


@pytest.mark.integration
def test_impossible_sizes_fail_with_a_reason_and_the_fleet_keeps_trading() -> None:
    with chaos_world(bots=8) as w:
        bots = sorted(w.bots)
        hostile = {
            bots[0]: 1e12,  # above the market's max quantity
            bots[1]: -1.0,
            bots[2]: 0.0,
            bots[3]: float("nan"),
            bots[4]: 1e-9,  # below one lot step
        }
        for bot_id, size in hostile.items():
            enqueue(w.store, bot_id, w.bots[bot_id], "LONG", f"bb-bad-{bot_id}", size=size)
        for bot_id in bots[5:]:
            enqueue(w.store, bot_id, w.bots[bot_id], "LONG", f"bb-ok-{bot_id}")
        w.drain(120, dagster=False)
        queue = {
            r["bot_id"]: r for r in rows(w.store, "SELECT bot_id, status, reason FROM trade_queue")
        }
        for bot_id in hostile:
            assert queue[bot_id]["status"] == "FAILED", queue[bot_id]
            assert queue[bot_id]["reason"].startswith("invalid order:"), queue[bot_id]
        for bot_id in bots[5:]:
            assert queue[bot_id]["status"] == "FILLED", queue[bot_id]
        sent = {r.params.get("newClientOrderId") for r in w.fake.remote.requests("/api/v3/order")}
        assert not any(cid and cid.startswith("bb-bad-") for cid in sent)


@pytest.mark.integration
@pytest.mark.parametrize("price", ["NaN", "-5", "0"])
def test_nonsense_prices_from_the_exchange_send_no_order(price: str) -> None:
    with chaos_world(bots=2) as w:
        bad, good = sorted(w.bots)
        w.fake.remote.set_price(w.bots[bad], price)
        # No entry price on the row: the executor must ask the venue for one.
        enqueue(w.store, bad, w.bots[bad], "LONG", "bb-price-bad", entry_price=None)
        enqueue(w.store, good, w.bots[good], "LONG", "bb-price-ok", entry_price=PRICE)
        w.drain(60, dagster=False)
        queue = {r["bot_id"]: r for r in rows(w.store, "SELECT * FROM trade_queue")}
        assert queue[good]["status"] == "FILLED"
        assert queue[bad]["status"] in ("FAILED", "PENDING"), queue[bad]
        assert queue[bad]["reason"], queue[bad]
        assert w.fake.remote.orders("bb-price-bad") == []
