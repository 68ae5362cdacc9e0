"""Client order ids: deterministic, venue-valid, collision-free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botbox_dagster.domain.client_order_id import (
    BINANCE_PATTERN,
    DEFAULT_FORMAT,
    GATE_FORMAT,
    OKX_FORMAT,
    ClientOrderIdFormat,
    client_order_id,
    client_order_id_from_signal_hash,
    format_for,
    is_valid,
)

T0 = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)

identities = st.tuples(
    st.text(max_size=40),  # bot id
    st.text(max_size=20),  # symbol
    st.sampled_from(["LONG", "SHORT", "CLOSE"]),
    st.integers(min_value=0, max_value=2**48),  # candle time, epoch ms
    st.sampled_from(["entry", "stop_loss", "take_profit"]),
)


def test_same_signal_same_id() -> None:
    first = client_order_id("eth-scalper", "ETH/USDT", "LONG", T0)
    assert first == client_order_id("eth-scalper", "ETH/USDT", "LONG", T0)
    assert first.startswith("bb-")
    assert len(first) == 32


def test_each_identity_field_changes_the_id() -> None:
    base = client_order_id("b1", "ETH/USDT", "LONG", T0)
    assert base != client_order_id("b2", "ETH/USDT", "LONG", T0)
    assert base != client_order_id("b1", "BTC/USDT", "LONG", T0)
    assert base != client_order_id("b1", "ETH/USDT", "SHORT", T0)
    assert base != client_order_id("b1", "ETH/USDT", "LONG", T0 + timedelta(minutes=1))
    assert base != client_order_id("b1", "ETH/USDT", "LONG", T0, leg="stop_loss")


def test_field_boundaries_cannot_be_shifted() -> None:
    assert client_order_id("a|b", "c", "LONG", 0) != client_order_id("a", "b|c", "LONG", 0)
    assert client_order_id("ab", "c", "LONG", 0) != client_order_id("a", "bc", "LONG", 0)


def test_datetime_and_epoch_ms_agree_across_timezones() -> None:
    ms = int(T0.timestamp()) * 1000
    in_paris = T0.astimezone(timezone(timedelta(hours=1)))
    assert client_order_id("b", "ETH/USDT", "LONG", T0) == client_order_id(
        "b", "ETH/USDT", "LONG", ms
    )
    assert client_order_id("b", "ETH/USDT", "LONG", in_paris) == client_order_id(
        "b", "ETH/USDT", "LONG", T0
    )


def test_candle_time_must_be_aware_or_int() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client_order_id("b", "ETH/USDT", "LONG", datetime(2025, 1, 1))
    with pytest.raises(TypeError):
        client_order_id("b", "ETH/USDT", "LONG", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client_order_id("b", "ETH/USDT", "LONG", True)


def test_from_signal_hash() -> None:
    cid = client_order_id_from_signal_hash("9f86d081884c7d65")
    assert cid == client_order_id_from_signal_hash("9f86d081884c7d65")
    assert cid != client_order_id_from_signal_hash("9f86d081884c7d66")
    assert is_valid(cid)
    with pytest.raises(ValueError):
        client_order_id_from_signal_hash("")


def test_venue_formats() -> None:
    okx = client_order_id("b", "ETH/USDT", "LONG", T0, fmt=OKX_FORMAT)
    gate = client_order_id("b", "ETH/USDT", "LONG", T0, fmt=GATE_FORMAT)
    assert okx.isalnum() and len(okx) <= 32
    assert gate.startswith("t-") and len(gate) <= 30
    assert format_for("OKX") is OKX_FORMAT
    assert format_for("binance") is DEFAULT_FORMAT
    assert is_valid(okx, OKX_FORMAT) and not is_valid(okx)


def test_format_refuses_weak_or_unsafe_shapes() -> None:
    with pytest.raises(ValueError, match="characters"):
        ClientOrderIdFormat(prefix="bb/", length=32)
    with pytest.raises(ValueError, match="16 hex"):
        ClientOrderIdFormat(prefix="bb-", length=18)


@given(identities)
def test_valid_for_every_venue_whatever_the_input(identity: tuple) -> None:
    bot, symbol, direction, ms, leg = identity
    cid = client_order_id(bot, symbol, direction, ms, leg=leg)
    assert BINANCE_PATTERN.fullmatch(cid)
    assert len(cid) <= 32
    assert is_valid(cid)
    okx = client_order_id(bot, symbol, direction, ms, leg=leg, fmt=OKX_FORMAT)
    assert len(okx) <= 32 and okx.isascii() and okx.isalnum()
    gate = client_order_id(bot, symbol, direction, ms, leg=leg, fmt=GATE_FORMAT)
    assert gate.startswith("t-") and len(gate) <= 30 and BINANCE_PATTERN.fullmatch(gate)


@settings(max_examples=50)
@given(st.sets(identities, min_size=1, max_size=500))
def test_distinct_signals_never_collide(distinct: set[tuple]) -> None:
    ids = {client_order_id(b, s, d, ms, leg=leg) for b, s, d, ms, leg in distinct}
    assert len(ids) == len(distinct)


def test_no_collisions_across_a_large_fleet_day() -> None:
    # 50 bots x 1440 one-minute candles x 2 directions: a trading day of a fleet.
    start = int(T0.timestamp()) * 1000
    ids = {
        client_order_id(f"bot-{b}", "BTC/USDT", direction, start + minute * 60_000)
        for b in range(50)
        for minute in range(1440)
        for direction in ("LONG", "CLOSE")
    }
    assert len(ids) == 50 * 1440 * 2
