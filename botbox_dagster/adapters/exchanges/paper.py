"""The paper exchange: simulated fills recorded in the ledger, no network.

Orders fill by the fill model (``domain/fills.py``), the one backtests use: a market order at
the market's price when it executes (the newest close of the market's base timeframe, refused
as "no price yet" when that bar is older than the market's freshness limit, never the
price stored on the queue row), or at the trigger price the position monitor found for a stop
loss or take profit; moved against the trader by half the spread and the slippage, and paying
the fee. Each bot has its own quote-currency balance in
``paper_balances``, starting at its capital (or the run's configured starting balance). The
venue's record of an order is its row in ``orders``, so looking an order up by client order id
after a crash gives the same answer a real venue would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.execution import Fill, OrderResult, Side
from botbox_dagster.domain.fills import Bar, FillModel, fresh_reference
from botbox_dagster.domain.precision import MarketPrecision, round_amount_down
from botbox_dagster.domain.signals import QUEUE_TTL

PAPER_PRECISION = MarketPrecision(amount_step=Decimal("1e-8"), price_tick=Decimal("1e-10"))


@dataclass(frozen=True)
class PaperSettings:
    fee_bps: float = 10.0
    slippage_bps: float = 5.0
    spread_bps: float = 0.0  # the full bid-ask spread; a market order pays half of it
    starting_balance: float | None = None  # None: each bot starts with its capital
    # How long ago the newest bar may have closed for its close to be the market's price. None:
    # the market's freshness limit (2 min for a 1m base, one bar + 2 min otherwise: the age
    # beyond which the signal tick rejects its data as stale), at most the queue TTL (5 min).
    max_price_age_seconds: float | None = None
    # The largest share of the newest bar's volume one order takes (None: no cap); the rest
    # is not filled and the order ends EXPIRED with what filled.
    max_volume_share: float | None = None

    @property
    def model(self) -> FillModel:
        return FillModel(
            spread_bps=self.spread_bps,
            slippage_bps=self.slippage_bps,
            fee_bps=self.fee_bps,
            max_volume_share=self.max_volume_share,
        )


def quote_of(symbol: str) -> str:
    return symbol.split("/")[1].split(":")[0]


class PaperExchange:
    """Simulated venue for one exchange account."""

    mode = "paper"

    def __init__(
        self, store: LedgerStore, account: str, settings: PaperSettings, *, can_short: bool = True
    ) -> None:
        self.store = store
        self.account = account
        self.settings = settings
        # Paper on a spot account behaves like that account: no short entries. On a margin or
        # futures account the simulator keeps cash per bot and a short is a sale credited to it.
        self.can_short = can_short

    def precision(self, symbol: str) -> MarketPrecision:
        return PAPER_PRECISION

    def reference_price(self, symbol: str) -> float:
        """The market's price now: the newest close of its base timeframe, if fresh."""
        return self._market(symbol)[1].close

    def _market(self, symbol: str) -> tuple[str, Bar]:
        """The newest bar of the market's base timeframe (and that timeframe), if it closed
        recently enough."""
        newest = self.store.newest_bar(self.account, symbol)
        if newest is None:
            raise ee.TransientExchangeError(f"no price yet for {symbol}", exchange=self.account)
        tf, bar = newest
        limit = self.settings.max_price_age_seconds
        # Never older than a queue row may wait (its TTL), nor than the data the signal tick
        # still accepts: a 5m bar's close is a price for 5 minutes, not the 7 of its freshness.
        max_age = (
            min(timeframes.freshness_limit(tf), QUEUE_TTL)
            if limit is None
            else timedelta(seconds=limit)
        )
        price = fresh_reference(bar, timeframes.seconds(tf), datetime.now(UTC), max_age)
        if price is None:
            raise ee.TransientExchangeError(
                f"no price yet for {symbol}: its newest {tf} bar (opened "
                f"{bar.open_time:%Y-%m-%d %H:%M} UTC) closed more than "
                f"{max_age.total_seconds():g} s ago",
                exchange=self.account,
            )
        return tf, bar

    def _result(self, row: tuple[Any, ...]) -> OrderResult:
        cid, oid, side, amount, status, filled, avg, fee, fee_ccy = row
        return OrderResult(
            client_order_id=cid,
            exchange_order_id=oid,
            side=Side(side),
            amount=amount,
            status=status,
            filled=filled,
            average_price=avg,
            fee=fee,
            fee_currency=fee_ccy,
            fills=(Fill(filled, avg, fee, f"paper-{cid}"),) if filled else (),
        )

    def held(self, symbol: str, need: float) -> float | None:
        """Paper keeps no per-asset holdings: the ledger's position is what is held."""
        return None

    def find_order(
        self, bot_id: str, symbol: str, client_order_id: str, sent_at_ms: int | None = None
    ) -> OrderResult | None:
        row = self.store.run(
            lambda c: c.execute(
                "SELECT client_order_id, exchange_order_id, side, amount, status, filled, "
                "average_price, fee, fee_currency FROM orders WHERE client_order_id = ?",
                [client_order_id],
            ).fetchone()
        )
        return None if row is None else self._result(row)

    def create_market_order(
        self,
        bot_id: str,
        symbol: str,
        side: Side,
        amount: float,
        client_order_id: str,
        price_hint: float | None = None,
    ) -> OrderResult:
        # A stop or target fills where it triggered; anything else at the market's price now.
        model = self.settings.model
        market = None
        if price_hint is None or model.max_volume_share is not None:
            market = self._market(symbol)
        price = price_hint if price_hint is not None else market[1].close  # type: ignore[index]
        fill_price = model.market_price(side, price)
        quote = quote_of(symbol)
        now = datetime.now(UTC)

        def work(conn: Any) -> OrderResult:
            existing = conn.execute(
                "SELECT client_order_id, exchange_order_id, side, amount, status, filled, "
                "average_price, fee, fee_currency FROM orders WHERE client_order_id = ?",
                [client_order_id],
            ).fetchone()
            if existing is not None:  # the venue rejects duplicates; we return the original
                return self._result(existing)
            filled = amount if market is None else self._fillable(conn, symbol, amount, *market)
            status = "FILLED" if filled >= amount else "EXPIRED"
            note = None
            if market is not None and filled < amount:
                tf, bar = market
                note = (
                    f"paper volume cap: {filled:g} of {amount:g} filled, the most the "
                    f"{tf} bar opened {bar.open_time:%Y-%m-%d %H:%M} UTC left "
                    f"({self.settings.max_volume_share:g} of its {bar.volume:g} traded)"
                )
            notional = fill_price * filled
            fee = model.fee(notional)
            balance = self._balance(conn, bot_id, quote, now)
            if side is Side.BUY and notional + fee > balance + 1e-12:
                raise ee.InsufficientFundsError(
                    f"paper balance {balance:.8g} {quote} cannot pay {notional + fee:.8g} {quote}",
                    exchange=self.account,
                )
            change = -(notional + fee) if side is Side.BUY else notional - fee
            conn.execute(
                "UPDATE paper_balances SET balance = balance + ?, updated_at = ? "
                "WHERE bot_id = ? AND currency = ?",
                [change, now, bot_id, quote],
            )
            oid = f"paper-{client_order_id}"
            conn.execute(
                "INSERT INTO orders (bot_id, exchange, symbol, side, order_type, amount, price, "
                "status, client_order_id, exchange_order_id, filled, average_price, fee, "
                "fee_currency, mode, created_at, updated_at) VALUES (?, ?, ?, ?, 'market', ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, 'paper', ?, ?)",
                [
                    bot_id,
                    self.account,
                    symbol,
                    side.value,
                    amount,
                    fill_price,
                    status,
                    client_order_id,
                    oid,
                    filled,
                    fill_price,
                    fee,
                    quote,
                    now,
                    now,
                ],
            )
            return OrderResult(
                client_order_id,
                oid,
                side,
                amount,
                status,
                filled,
                fill_price,
                fee,
                quote,
                (Fill(filled, fill_price, fee, f"paper-{client_order_id}"),) if filled else (),
                note,
            )

        return self.store.run(work)

    def _fillable(self, conn: Any, symbol: str, amount: float, tf: str, bar: Bar) -> float:
        """What of ``amount`` the bar's volume cap leaves: the cap is shared by every paper
        order on the market placed since the bar closed (since it opened, for a bar still
        open), so neither a second order nor an exit's rest fills twice from one bar."""
        cap = self.settings.model.fillable(math.inf, bar.volume)
        if cap == math.inf:  # no cap, or a bar without volume
            return amount
        closed_at = bar.open_time + timedelta(seconds=timeframes.seconds(tf))
        since = closed_at if closed_at <= datetime.now(UTC) else bar.open_time
        taken = conn.execute(
            "SELECT coalesce(sum(filled), 0) FROM orders WHERE exchange = ? AND symbol = ? "
            "AND mode = 'paper' AND created_at >= ?",
            [self.account, symbol, since],
        ).fetchone()[0]
        available = cap - float(taken)
        if available >= amount:
            return amount
        return float(round_amount_down(max(0.0, available), PAPER_PRECISION.amount_step))

    def _balance(self, conn: Any, bot_id: str, currency: str, now: datetime) -> float:
        row = conn.execute(
            "SELECT balance FROM paper_balances WHERE bot_id = ? AND currency = ?",
            [bot_id, currency],
        ).fetchone()
        if row is not None:
            return float(row[0])
        start = self.settings.starting_balance
        if start is None:
            cap = conn.execute("SELECT capital FROM bots WHERE id = ?", [bot_id]).fetchone()
            start = float(cap[0]) if cap else 0.0
        conn.execute(
            "INSERT INTO paper_balances (bot_id, currency, balance, updated_at) VALUES (?, ?, ?, ?)",
            [bot_id, currency, start, now],
        )
        return start
