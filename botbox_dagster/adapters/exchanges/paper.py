"""The paper exchange: simulated fills recorded in the ledger, no network.

Market orders fill at the next price (the newest closed bar's close, or the trigger price the
position monitor passes for a stop loss or take profit) moved against the trader by the
configured slippage, and pay the configured fee. Each bot has its own quote-currency balance in
``paper_balances``, starting at its capital (or the run's configured starting balance). The
venue's record of an order is its row in ``orders``, so looking an order up by client order id
after a crash gives the same answer a real venue would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.domain import exchange_errors as ee
from botbox_dagster.domain.execution import Fill, OrderResult, Side
from botbox_dagster.domain.precision import MarketPrecision

PAPER_PRECISION = MarketPrecision(amount_step=Decimal("1e-8"), price_tick=Decimal("1e-10"))


@dataclass(frozen=True)
class PaperSettings:
    fee_bps: float = 10.0
    slippage_bps: float = 5.0
    starting_balance: float | None = None  # None: each bot starts with its capital


def quote_of(symbol: str) -> str:
    return symbol.split("/")[1].split(":")[0]


class PaperExchange:
    """Simulated venue for one exchange account."""

    mode = "paper"
    can_short = True  # the simulator keeps cash per bot; a short is a sale credited to it

    def __init__(self, store: LedgerStore, account: str, settings: PaperSettings) -> None:
        self.store = store
        self.account = account
        self.settings = settings

    def precision(self, symbol: str) -> MarketPrecision:
        return PAPER_PRECISION

    def reference_price(self, symbol: str) -> float:
        row = self.store.run(
            lambda c: c.execute(
                "SELECT close FROM candles WHERE exchange = ? AND symbol = ? AND timeframe = '1m' "
                "ORDER BY open_time DESC LIMIT 1",
                [self.account, symbol],
            ).fetchone()
        )
        if row is None:
            raise ee.TransientExchangeError(f"no price yet for {symbol}", exchange=self.account)
        return float(row[0])

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

    def held(self, symbol: str) -> float | None:
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
        price = price_hint if price_hint is not None else self.reference_price(symbol)
        slip = self.settings.slippage_bps / 10_000
        fill_price = price * (1 + slip) if side is Side.BUY else price * (1 - slip)
        notional = fill_price * amount
        fee = notional * self.settings.fee_bps / 10_000
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
                "'FILLED', ?, ?, ?, ?, ?, ?, 'paper', ?, ?)",
                [
                    bot_id,
                    self.account,
                    symbol,
                    side.value,
                    amount,
                    fill_price,
                    client_order_id,
                    oid,
                    amount,
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
                "FILLED",
                amount,
                fill_price,
                fee,
                quote,
                (Fill(amount, fill_price, fee, f"paper-{client_order_id}"),),
            )

        return self.store.run(work)

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
