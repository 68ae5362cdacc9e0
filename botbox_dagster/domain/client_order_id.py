"""Deterministic client order ids derived from a signal's identity.

The id is a pure function of (bot, symbol, direction, candle time, leg), so a retried,
replayed or crashed execution computes the same id again, and an ambiguous send is resolved by
looking the id up at the venue. The venue does not refuse every reused id (Binance refuses one
only while its order is open: docs/venue-contract.md §1), so the executor never sends a row's
id twice; the id is what finds the order afterwards. Each signal gets its venue's format
(``format_for`` the account's ccxt exchange id), chosen when the signal is sized.

Shape: a readable prefix, then lowercase hex of a SHA-256 over an unambiguous encoding of
the identity (JSON array, so no separator can be smuggled between fields). Venue rules, as
published when this was written (check the venue's docs when adding one):

- Binance spot: ``^[.A-Z:/a-z0-9_-]{1,36}$``.
- Bybit ``orderLinkId``: up to 36 of letters, digits, ``-`` and ``_``.
- OKX ``clOrdId``: up to 32 letters and digits only (no ``-``), hence a prefix without one.
- Gate.io ``text``: must start with ``t-``, at most 30 characters.
- KuCoin ``clientOid``, Coinbase ``client_order_id``: 32 hex characters are accepted.

The default (``bb-`` + 29 hex = 32 characters) is valid for all of the above but OKX and
Gate.io, which have their own format. 29 hex digits are 116 bits: among a billion signals the
chance of any collision is about 1e-17.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

BINANCE_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ClientOrderIdFormat:
    """How one venue wants its client order ids: a prefix and a total length."""

    prefix: str
    length: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]*", self.prefix):
            raise ValueError(f"prefix {self.prefix!r} has characters some venues refuse")
        # Fewer than 16 hex digits (64 bits) would make collisions plausible in a big fleet.
        if self.length - len(self.prefix) < 16:
            raise ValueError(f"length {self.length} leaves fewer than 16 hex digits")

    @property
    def pattern(self) -> re.Pattern[str]:
        """What every id of this format matches."""
        hex_digits = self.length - len(self.prefix)
        return re.compile(rf"^{re.escape(self.prefix)}[0-9a-f]{{{hex_digits}}}$")


DEFAULT_FORMAT = ClientOrderIdFormat(prefix="bb-", length=32)
OKX_FORMAT = ClientOrderIdFormat(prefix="bb", length=32)
GATE_FORMAT = ClientOrderIdFormat(prefix="t-bb-", length=30)

# By ccxt exchange id; any venue not listed gets DEFAULT_FORMAT.
VENUE_FORMATS: dict[str, ClientOrderIdFormat] = {
    "okx": OKX_FORMAT,
    "gate": GATE_FORMAT,
    "gateio": GATE_FORMAT,
}


def format_for(exchange_id: str) -> ClientOrderIdFormat:
    """The id format for a ccxt exchange id."""
    return VENUE_FORMATS.get(exchange_id.lower(), DEFAULT_FORMAT)


def _candle_ms(candle_time: datetime | int) -> int:
    if isinstance(candle_time, datetime):
        if candle_time.tzinfo is None:
            # A naive time means different ids on hosts in different zones: refuse it.
            raise ValueError("candle_time must be timezone-aware (UTC)")
        # Integer arithmetic: float timestamps can land a millisecond short.
        return (candle_time - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(candle_time, bool) or not isinstance(candle_time, int):
        raise TypeError(f"candle_time must be a datetime or epoch ms, got {candle_time!r}")
    return candle_time


def _from_identity(fields: list[object], fmt: ClientOrderIdFormat) -> str:
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return fmt.prefix + digest[: fmt.length - len(fmt.prefix)]


def client_order_id(
    bot_id: str,
    symbol: str,
    direction: str,
    candle_time: datetime | int,
    *,
    leg: str = "entry",
    fmt: ClientOrderIdFormat = DEFAULT_FORMAT,
) -> str:
    """The client order id for the order a signal leads to.

    ``candle_time`` is the signal's candle (aware datetime or epoch milliseconds; both give
    the same id for the same instant). ``leg`` tells apart the several orders one signal may
    need (entry, stop loss, take profit). Fields are used exactly as given: pass the
    canonical ccxt symbol ("BTC/USDT") and the ledger's direction spelling.
    """
    fields: list[object] = ["v1", bot_id, symbol, direction, _candle_ms(candle_time), leg]
    return _from_identity(fields, fmt)


def client_order_id_from_signal_hash(
    signal_hash: str, *, leg: str = "entry", fmt: ClientOrderIdFormat = DEFAULT_FORMAT
) -> str:
    """The client order id from the signal's unique hash in the ``signals`` table.

    For callers that hold the stored signal rather than its parts. Distinct from
    ``client_order_id`` for the same signal: choose one per deployment and keep it.
    """
    if not signal_hash:
        raise ValueError("signal_hash is empty")
    return _from_identity(["v1-hash", signal_hash, leg], fmt)


def is_valid(order_id: str, fmt: ClientOrderIdFormat = DEFAULT_FORMAT) -> bool:
    """True when ``order_id`` has the shape ``fmt`` produces (to recognise our own orders)."""
    return fmt.pattern.fullmatch(order_id) is not None


def follow_up_client_order_id(parent: str, step: str) -> str:
    """The id of an order that continues ``parent`` (the rest of a partial CLOSE, a CLOSE
    re-sent after the venue never showed the first): deterministic, so a replay computes the
    same id, and in the parent's own format (same prefix and length)."""
    fmt = next(
        (f for f in (*VENUE_FORMATS.values(), DEFAULT_FORMAT) if is_valid(parent, f)),
        DEFAULT_FORMAT,
    )
    return _from_identity(["v1-follow", parent, step], fmt)
