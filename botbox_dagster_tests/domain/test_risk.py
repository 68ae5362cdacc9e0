"""Every risk rule: one case that fires, one that lets the entry through; correlations."""

import numpy as np
import pandas as pd

from botbox_dagster.domain.risk import (
    Exposure,
    RiskContext,
    RiskLimits,
    capital_available,
    check_risk,
    correlated_positions,
    correlation,
    max_positions_per_account,
    max_positions_per_bot,
    rolling_correlations,
)

BOOK = (
    Exposure("a", "paper", "BTC/USDT", "LONG", 300.0),
    Exposure("b", "paper", "ETH/USDT", "LONG", 200.0, pending=True),
    Exposure("c", "other", "BTC/USDT", "SHORT", 50.0),
)


def test_max_positions_per_bot() -> None:
    assert max_positions_per_bot("a", BOOK, 1) == "max open positions per bot reached (1/1)"
    assert max_positions_per_bot("a", BOOK, 2) is None
    assert max_positions_per_bot("z", BOOK, 1) is None


def test_max_positions_per_account_counts_pending_entries() -> None:
    assert "per account paper reached (2/2)" in max_positions_per_account("paper", BOOK, 2)
    assert max_positions_per_account("paper", BOOK, 3) is None
    assert max_positions_per_account("other", BOOK, 2) is None


def test_capital_available() -> None:
    assert (
        capital_available("a", 1000.0, 800.0, BOOK)
        == "insufficient capital: need 800, available 700"
    )
    assert capital_available("a", 1000.0, 700.0, BOOK) is None
    assert capital_available("z", 10.0, 0.0, BOOK) == "position size is zero"


def test_correlated_positions() -> None:
    corr = {("BTC/USDT", "ETH/USDT"): 0.9, ("SOL/USDT", "BTC/USDT"): -0.95}
    fired = correlated_positions("paper", "ETH/USDT", "LONG", BOOK, corr, 0.8, 2)
    assert fired is not None and "2/2" in fired and "BTC/USDT LONG" in fired
    assert correlated_positions("paper", "ETH/USDT", "LONG", BOOK, corr, 0.8, 3) is None
    # Below the threshold nothing counts but the same market.
    assert correlated_positions("paper", "ETH/USDT", "LONG", BOOK, corr, 0.95, 2) is None
    # A SHORT on a market moving against BTC is the same bet as BTC LONG.
    assert correlated_positions("paper", "SOL/USDT", "SHORT", BOOK, corr, 0.8, 1) is not None
    assert correlated_positions("paper", "SOL/USDT", "LONG", BOOK, corr, 0.8, 1) is None
    assert correlation(corr, "ETH/USDT", "BTC/USDT") == 0.9
    assert correlation(corr, "XRP/USDT", "BTC/USDT") == 0.0


def _ctx(**kw: object) -> RiskContext:
    base: dict[str, object] = dict(
        bot_id="z",
        exchange="paper",
        symbol="XRP/USDT",
        capital=1000.0,
        needed=100.0,
        max_open_per_bot=1,
        max_open_per_account=10,
        max_correlated=2,
        limits=RiskLimits(),
        correlations={},
    )
    base.update(kw)
    return RiskContext(**base)  # type: ignore[arg-type]


def test_check_risk_passes_closes_and_clean_entries() -> None:
    assert check_risk("LONG", _ctx(), BOOK) is None
    assert check_risk("CLOSE", _ctx(max_open_per_account=0, needed=0.0), BOOK) is None
    assert check_risk("LONG", _ctx(max_open_per_account=2), BOOK) is not None
    assert check_risk("LONG", _ctx(needed=2000.0), BOOK) is not None


def test_rolling_correlations() -> None:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=201, freq="1min", tz="UTC")
    base = np.cumsum(rng.normal(0, 0.01, 201))
    noise = np.cumsum(rng.normal(0, 0.01, 201))
    closes = {
        "A": pd.Series(np.exp(base), index=index),
        "B": pd.Series(np.exp(base + rng.normal(0, 0.0005, 201)), index=index),
        "C": pd.Series(np.exp(-base), index=index),
        "D": pd.Series(np.exp(noise), index=index),
        "E": pd.Series(np.exp(base[:20]), index=index[:20]),  # too short: left out
    }
    corr = rolling_correlations(closes, window=100)
    assert corr[("A", "B")] > 0.95
    assert corr[("A", "C")] < -0.99
    assert abs(corr[("A", "D")]) < 0.3
    assert not any("E" in pair for pair in corr)
    assert rolling_correlations({"A": closes["A"]}) == {}
