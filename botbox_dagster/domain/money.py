"""Money by currency: P&L is kept per quote currency and converted into one reporting currency.

A position's P&L is in its symbol's quote currency (``ETH/BTC`` → BTC, ``BTC/USDT`` → USDT), so
amounts of different positions are only added up per currency. A fleet total in one currency
(the reporting currency, USDT by default) converts each currency's amount at the newest stored
close of a market that prices it: ``BTC/USDT`` directly, or the inverse market ``USDT/BTC``.
A currency with no such price is not guessed at: it is left out of the total and listed as
unconverted, with its amount, so every surface can say what the total does not cover.

Pure: the ledger query that finds the newest bars is in ``adapters/ledger/money.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from botbox_dagster.domain.execution import base_and_quote
from botbox_dagster.domain.timeframes import delta

REPORTING_CURRENCY = "USDT"


def quote_currency(symbol: str) -> str:
    """The currency a symbol's prices and P&L are in: ``ETH/BTC`` → ``BTC``."""
    return base_and_quote(symbol)[1]


def price_markets(currencies: Iterable[str], reporting: str = REPORTING_CURRENCY) -> list[str]:
    """The symbols whose closes can price ``currencies`` in ``reporting`` (direct and inverse)."""
    out: list[str] = []
    for c in sorted(set(currencies) - {reporting}):
        out += [f"{c}/{reporting}", f"{reporting}/{c}"]
    return out


@dataclass(frozen=True)
class PriceBar:
    """The newest stored bar of one market on one exchange and timeframe."""

    exchange: str
    symbol: str
    timeframe: str
    open_time: datetime
    close: float

    @property
    def closed_at(self) -> datetime:
        """When the bar's close was the price: its open time plus one timeframe."""
        return self.open_time + delta(self.timeframe)


@dataclass(frozen=True)
class ConversionRate:
    """How many units of the reporting currency one unit of ``currency`` is worth, and from
    which bar (``inverse``: the bar is of ``reporting/currency`` and the rate is 1 / close)."""

    currency: str
    reporting: str
    rate: float
    source: PriceBar
    inverse: bool = False

    def describe(self) -> str:
        """``1 BTC = 50,000.00 USDT (paper BTC/USDT 1m close at 2024-03-01 12:00 UTC)``."""
        how = "1 / close" if self.inverse else "close"
        return (
            f"1 {self.currency} = {fmt_amount(self.rate, sign=False)} {self.reporting} "
            f"({self.source.exchange} {self.source.symbol} {self.source.timeframe} {how} at "
            f"{self.source.closed_at:%Y-%m-%d %H:%M} UTC)"
        )


def conversion_rates(
    bars: Iterable[PriceBar], currencies: Iterable[str], reporting: str = REPORTING_CURRENCY
) -> dict[str, ConversionRate]:
    """A rate for each of ``currencies`` that a bar prices in ``reporting`` (not ``reporting``
    itself, which needs none). The newest bar (by its close time) wins, whichever exchange or
    timeframe it is on; on a tie a direct market beats an inverse one. Bars with a close that
    is not a positive number are ignored. A currency without a bar gets no rate."""
    wanted = set(currencies) - {reporting}
    candidates: list[ConversionRate] = []
    for bar in bars:
        if not bar.close > 0:
            continue
        base, quote = base_and_quote(bar.symbol)
        if quote == reporting and base in wanted:
            candidates.append(ConversionRate(base, reporting, bar.close, bar, inverse=False))
        elif base == reporting and quote in wanted:
            candidates.append(ConversionRate(quote, reporting, 1.0 / bar.close, bar, inverse=True))
    # Newest close first; then direct before inverse; then by exchange and timeframe name.
    candidates.sort(
        key=lambda r: (
            -r.source.closed_at.timestamp(),
            r.inverse,
            r.source.exchange,
            r.source.timeframe,
        )
    )
    best: dict[str, ConversionRate] = {}
    for rate in candidates:
        best.setdefault(rate.currency, rate)
    return dict(sorted(best.items()))


@dataclass(frozen=True)
class ConvertedTotal:
    """Amounts per currency added up in ``currency`` at ``rates`` (reporting units per unit).

    ``amount`` covers only the currencies converted; ``unconverted`` holds the others (no price
    known), by currency, so a reader can see the total is partial and by how much.
    """

    currency: str
    amount: float
    by_currency: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    unconverted: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every currency was converted (nothing left out of ``amount``)."""
        return not self.unconverted


def convert(
    by_currency: Mapping[str, float],
    rates: Mapping[str, ConversionRate],
    reporting: str = REPORTING_CURRENCY,
) -> ConvertedTotal:
    """``by_currency`` in ``reporting``: each amount times its rate; no rate, not converted."""
    amount = 0.0
    used: dict[str, float] = {}
    unconverted: dict[str, float] = {}
    for cur, value in sorted(by_currency.items()):
        if cur == reporting:
            amount += value
        elif cur in rates:
            used[cur] = rates[cur].rate
            amount += value * rates[cur].rate
        else:
            unconverted[cur] = value
    return ConvertedTotal(reporting, amount, dict(sorted(by_currency.items())), used, unconverted)


# --------------------------------------------------------------------------- text


def fmt_amount(value: float, *, sign: bool = True) -> str:
    """Up to 8 decimals, at least 2, thousands grouped: ``+12.00``, ``+0.001``, ``-1,234.5``."""
    value = round(value, 8) or 0.0  # no "-0.00"
    text = f"{value:+,.8f}" if sign else f"{value:,.8f}"
    whole, frac = text.split(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


def fmt_money(value: float, currency: str) -> str:
    """``+0.001 BTC``."""
    return f"{fmt_amount(value)} {currency}"


def fmt_by_currency(amounts: Mapping[str, float]) -> str:
    """``+0.001 BTC, +12.00 USDT`` (sorted by currency), or ``none``."""
    return ", ".join(fmt_money(v, c) for c, v in sorted(amounts.items())) or "none"


def fmt_total(total: ConvertedTotal) -> str:
    """``+62.00 USDT``, and what it leaves out: ``+12.00 USDT (not converted, no USDT price:
    +1.00 XYZ)``."""
    text = fmt_money(total.amount, total.currency)
    if total.unconverted:
        text += f" (not converted, no {total.currency} price: {fmt_by_currency(total.unconverted)})"
    return text
