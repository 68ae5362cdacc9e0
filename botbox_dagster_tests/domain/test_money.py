"""Money by currency: quote currencies, which bar prices a currency, conversion and its text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from botbox_dagster.domain.money import (
    ConvertedTotal,
    PriceBar,
    conversion_rates,
    convert,
    fmt_amount,
    fmt_by_currency,
    fmt_total,
    price_markets,
    quote_currency,
)

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_quote_currency_and_the_markets_that_price_it() -> None:
    assert quote_currency("ETH/BTC") == "BTC"
    assert quote_currency("BTC/USDT") == "USDT"
    assert quote_currency("BTC/USDT:USDT") == "USDT"
    assert price_markets(["USDT", "BTC", "BTC"]) == ["BTC/USDT", "USDT/BTC"]


def test_the_newest_close_prices_a_currency() -> None:
    bars = [
        PriceBar("paper", "BTC/USDT", "1m", T, 50_000.0),  # closes 12:01
        PriceBar("other", "BTC/USDT", "1m", T - timedelta(minutes=5), 49_000.0),
        PriceBar("paper", "BTC/USDT", "1h", T - timedelta(hours=1), 48_000.0),  # closes 12:00
        PriceBar("paper", "USDT/BTC", "1m", T - timedelta(minutes=1), 1 / 47_000),
        PriceBar("paper", "ETH/BTC", "1m", T, 0.05),  # not a USDT price
    ]
    rates = conversion_rates(bars, ["BTC", "USDT", "ETH"])
    assert list(rates) == ["BTC"]  # USDT needs none; nothing prices ETH
    assert rates["BTC"].rate == 50_000.0 and rates["BTC"].source.exchange == "paper"
    assert not rates["BTC"].inverse
    assert rates["BTC"].describe() == (
        "1 BTC = 50,000.00 USDT (paper BTC/USDT 1m close at 2024-03-01 12:01 UTC)"
    )


def test_a_bar_closing_later_wins_whatever_its_timeframe() -> None:
    bars = [
        PriceBar("paper", "BTC/USDT", "1m", T, 50_000.0),  # closes 12:01
        PriceBar("paper", "BTC/USDT", "1h", T, 51_000.0),  # opened as late, closes 13:00
    ]
    assert conversion_rates(bars, ["BTC"])["BTC"].rate == 51_000.0


def test_the_inverse_market_and_ties() -> None:
    inverse = PriceBar("paper", "USDT/TRY", "1m", T, 32.0)
    rate = conversion_rates([inverse], ["TRY"])["TRY"]
    assert rate.inverse and rate.rate == pytest.approx(1 / 32)
    assert "1 / close" in rate.describe()
    # Same close time: the direct market wins.
    direct = PriceBar("paper", "TRY/USDT", "1m", T, 0.03)
    assert conversion_rates([inverse, direct], ["TRY"])["TRY"].rate == 0.03
    # A close that is not a positive number prices nothing.
    assert conversion_rates([PriceBar("paper", "USDT/TRY", "1m", T, 0.0)], ["TRY"]) == {}


def test_convert_adds_what_it_can_price_and_lists_the_rest() -> None:
    rates = conversion_rates([PriceBar("paper", "BTC/USDT", "1m", T, 50_000.0)], ["BTC"])
    total = convert({"USDT": 12.0, "BTC": 0.001, "EUR": 3.0}, rates)
    assert total.currency == "USDT"
    assert total.amount == pytest.approx(12 + 0.001 * 50_000)  # 62: EUR left out
    assert total.by_currency == {"BTC": 0.001, "EUR": 3.0, "USDT": 12.0}
    assert total.rates == {"BTC": 50_000.0}
    assert total.unconverted == {"EUR": 3.0} and not total.complete
    assert convert({}, rates) == ConvertedTotal("USDT", 0.0)
    # Another reporting currency: USDT itself then needs a price.
    in_btc = convert({"USDT": 12.0, "BTC": 0.001}, {}, "BTC")
    assert in_btc.amount == pytest.approx(0.001) and in_btc.unconverted == {"USDT": 12.0}


def test_money_text_always_names_its_currency() -> None:
    assert fmt_amount(12.0) == "+12.00"
    assert fmt_amount(0.001) == "+0.001"
    assert fmt_amount(-1234.5) == "-1,234.50"
    assert fmt_amount(62.00000000000001) == "+62.00"
    assert fmt_amount(-0.000000001) == "+0.00"  # no "-0.00"
    assert fmt_amount(50_000.0, sign=False) == "50,000.00"
    assert fmt_by_currency({"USDT": 12.0, "BTC": 0.001}) == "+0.001 BTC, +12.00 USDT"
    assert fmt_by_currency({}) == "none"
    assert fmt_total(ConvertedTotal("USDT", 62.0)) == "+62.00 USDT"
    assert fmt_total(ConvertedTotal("USDT", 62.0, unconverted={"EUR": 3.0})) == (
        "+62.00 USDT (not converted, no USDT price: +3.00 EUR)"
    )
