"""The ccxt source with the REAL ccxt client against the loopback fake Binance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from botbox_dagster.adapters.ccxt_client import build_client
from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.base import UnknownMarketError
from botbox_dagster.adapters.market_data.ccxt_source import CcxtSource
from botbox_dagster.adapters.rate_limiter import (
    BudgetExhaustedError,
    LedgerRateLimiter,
    venue_limits,
)
from botbox_dagster.domain.exchange_errors import RateLimitedError
from botbox_dagster.fake_exchange import FakeClock, FakeExchange, LimitConfig, MarketSpec
from botbox_dagster.services.market_refresh import refresh_market

NOW_MS = 1_750_000_042_000  # mid-minute
NOW = datetime.fromtimestamp(NOW_MS / 1000, tz=UTC)
MIN_MS = 60_000
SYMBOL = "UNITTEST/BTC"


@pytest.fixture
def frozen_fx(shared_data: Path) -> Iterator[FakeExchange]:
    """The fake on a frozen clock, so the forming bar and every page are deterministic."""
    exchange = FakeExchange(
        [MarketSpec(SYMBOL, csv_path=shared_data / "candles" / "UNITTEST_BTC-1m.csv")],
        clock=FakeClock(frozen_ms=NOW_MS),
        limits=LimitConfig(ban_seconds=2),
    )
    with exchange:
        yield exchange


def make_source(fx: FakeExchange, store: LedgerStore, **kw: float) -> CcxtSource:
    client = build_client("binance", api_url=fx.base_url, timeout_ms=3000)
    limiter = LedgerRateLimiter(store, "fake", venue_limits("binance"), **kw)  # type: ignore[arg-type]
    return CcxtSource("fake", client, limiter)


def served(fx: FakeExchange, since: datetime, until: datetime) -> pd.DatetimeIndex:
    """Open times the fake serves in [since, until)."""
    feed = fx.feeds[SYMBOL]
    bars = feed.bars_between(int(since.timestamp() * 1000), int(until.timestamp() * 1000) - 1)
    return pd.DatetimeIndex([pd.Timestamp(b.open_time, unit="ms", tz="UTC") for b in bars])


def calls(store: LedgerStore) -> list[tuple[str, int, str]]:
    return store.run(
        lambda c: c.execute(
            "SELECT purpose, weight, outcome FROM exchange_calls ORDER BY id"
        ).fetchall()
    )


def test_pages_beyond_1000_rows_and_keeps_gaps(frozen_fx: FakeExchange, store: LedgerStore) -> None:
    source = make_source(frozen_fx, store)
    since = NOW - timedelta(minutes=2600)
    result = source.fetch(SYMBOL, since, NOW + timedelta(hours=1), NOW)
    expected = served(
        frozen_fx, since, datetime.fromtimestamp((NOW_MS - NOW_MS % MIN_MS) / 1000, UTC)
    )
    assert len(expected) > 2000  # the recording's gaps are inside the window
    assert list(result.frame.index) == list(expected)
    assert len(expected) < 2600  # ... and stay gaps
    assert result.frame.index[-1] == pd.Timestamp(
        NOW_MS - NOW_MS % MIN_MS - MIN_MS, unit="ms", tz="UTC"
    )
    klines = frozen_fx.requests("/api/v3/klines")
    assert len(klines) == result.calls == 3
    assert [int(r.params["limit"]) for r in klines] == [1000] * 3
    assert result.rejections == []


def test_every_request_took_a_limiter_token(frozen_fx: FakeExchange, store: LedgerStore) -> None:
    source = make_source(frozen_fx, store)
    source.fetch(SYMBOL, NOW - timedelta(minutes=2500), NOW, NOW)
    source.fetch(SYMBOL, NOW - timedelta(minutes=30), NOW, NOW)
    logged = calls(store)
    requests = frozen_fx.requests()
    assert len(logged) == len(requests) == source.calls == 1 + 3 + 1
    assert [r.path for r in requests] == ["/api/v3/exchangeInfo"] + ["/api/v3/klines"] * 4
    assert logged[0] == ("markets", 20, "sent")
    assert logged[1:] == [(f"candles {SYMBOL}", 2, "sent")] * 4
    assert sum(w for _, w, _ in logged) == sum(r.weight for r in requests)


def test_forming_candle_dropped_and_window_respected(
    frozen_fx: FakeExchange, store: LedgerStore
) -> None:
    source = make_source(frozen_fx, store)
    since = NOW - timedelta(minutes=10)
    result = source.fetch(SYMBOL, since, NOW + timedelta(minutes=5), NOW)
    forming = pd.Timestamp(NOW_MS - NOW_MS % MIN_MS, unit="ms", tz="UTC")
    assert forming not in result.frame.index
    assert result.frame.index.min() >= pd.Timestamp(since)
    assert list(result.frame.index) == list(served(frozen_fx, since, forming.to_pydatetime()))


def test_empty_answer(frozen_fx: FakeExchange, store: LedgerStore) -> None:
    since = NOW - timedelta(minutes=20)
    frozen_fx.inject_gap(SYMBOL, int(since.timestamp() * 1000), NOW_MS + 10 * MIN_MS)
    result = make_source(frozen_fx, store).fetch(SYMBOL, since, NOW, NOW)
    assert result.frame.empty and result.rejections == [] and result.calls == 1


def test_malformed_rows_rejected_with_reasons_and_never_stored(
    frozen_fx: FakeExchange, store: LedgerStore
) -> None:
    t0 = NOW_MS - NOW_MS % MIN_MS - 10 * MIN_MS
    forming = datetime.fromtimestamp((NOW_MS - NOW_MS % MIN_MS) / 1000, UTC)
    window = served(frozen_fx, NOW - timedelta(minutes=60), forming)
    present = [int(t.timestamp() * 1000) for t in window]
    bad = {
        t: kind
        for t, kind in zip(
            [t for t in present if t < t0][-3:],
            ("nan", "negative_volume", "high_below_low"),
            strict=True,
        )
    }
    for t, kind in bad.items():
        frozen_fx.inject_bad_bar(SYMBOL, t, kind)
    source = make_source(frozen_fx, store)
    logged: list[str] = []
    result = refresh_market(
        store,
        source,
        "fake",
        SYMBOL,
        start=NOW - timedelta(minutes=60),
        end=NOW,
        now=NOW,
        newest={},
        incremental=False,
        log=logged.append,
    )
    reasons = {int(r.open_time.timestamp() * 1000): r.reason for r in result.rejections}  # type: ignore[union-attr]
    expected = ("NaN or infinite value", "negative volume", "high below low")
    assert reasons == dict(zip(bad, expected, strict=True))
    assert len(logged) == 3 and all("rejected bar" in line for line in logged)
    stored = store.read_candles("fake", SYMBOL, "1m")
    stored_ms = {int(t.timestamp() * 1000) for t in stored.index}
    assert not stored_ms & set(bad)
    assert len(stored) == len(present) - 3 == result.rows_written


def test_unknown_market(frozen_fx: FakeExchange, store: LedgerStore) -> None:
    with pytest.raises(UnknownMarketError):
        make_source(frozen_fx, store).fetch("DOGE/USDT", NOW - timedelta(minutes=5), NOW, NOW)


def test_429_backs_the_limiter_off(frozen_fx: FakeExchange, store: LedgerStore) -> None:
    frozen_fx.set_limits(
        LimitConfig(weight_per_minute=24, ban_seconds=2)
    )  # exchangeInfo + 2 klines
    source = make_source(frozen_fx, store, max_wait_seconds=0.5)
    source.fetch(SYMBOL, NOW - timedelta(minutes=5), NOW, NOW)
    source.fetch(SYMBOL, NOW - timedelta(minutes=5), NOW, NOW)
    before = datetime.now(UTC).timestamp()
    with pytest.raises(RateLimitedError) as caught:
        source.fetch(SYMBOL, NOW - timedelta(minutes=5), NOW, NOW)
    assert caught.value.status == 429 and caught.value.retry_after_seconds
    assert [r.status for r in frozen_fx.requests("/api/v3/klines")] == [200, 200, 429]
    outcomes = [o for _, _, o in calls(store)]
    assert outcomes == ["sent"] * 4 + ["rate_limited"]
    rows = store.run(lambda c: c.execute("SELECT bucket, state FROM rate_limit_buckets").fetchall())
    import json

    weight = json.loads(dict(rows)["weight"])
    assert weight["updated_at"] >= before + caught.value.retry_after_seconds - 1
    # The whole account now waits instead of hammering the venue (no request is sent).
    with pytest.raises(BudgetExhaustedError):
        source.fetch(SYMBOL, NOW - timedelta(minutes=5), NOW, NOW)
    assert len(frozen_fx.requests("/api/v3/klines")) == 3
