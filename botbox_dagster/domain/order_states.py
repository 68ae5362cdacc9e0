"""Explicit state tables for trade-queue rows and exchange orders.

Every status change of a queue row is checked against the table: the ledger writes its
``WHERE status IN (...)`` guards from it (``adapters/ledger/execution.status_guard``), and
``transition`` raises ``IllegalTransition`` for any move not in it. Writing the table down (rather than scattering ``if status == ...``
checks) is what keeps a replayed or racing execution from resurrecting a FILLED row or
re-opening a cancelled order: the illegal move fails loudly at the point it is attempted.

Spelling follows each world: the queue says CANCELLED (our ledger: docs/architecture.md,
Ledger contract), orders say CANCELED (Binance and ccxt).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from botbox_dagster.domain.errors import BotBoxError


class QueueStatus(StrEnum):
    """Status of a ``trade_queue`` row."""

    PENDING = "PENDING"
    EXECUTING = "EXECUTING"
    FILLED = "FILLED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class OrderStatus(StrEnum):
    """Status of an order at the venue (Binance's vocabulary, which ccxt maps onto)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


_Q = QueueStatus
QUEUE_TRANSITIONS: Mapping[QueueStatus, frozenset[QueueStatus]] = MappingProxyType(
    {
        # A row waits, is claimed, or dies of old age / operator action before being claimed.
        _Q.PENDING: frozenset({_Q.EXECUTING, _Q.EXPIRED, _Q.CANCELLED}),
        # EXECUTING -> PENDING hands the row back after a transient error (retry later); the
        # order itself, if one was sent, is found again through its client order id.
        _Q.EXECUTING: frozenset({_Q.FILLED, _Q.FAILED, _Q.EXPIRED, _Q.CANCELLED, _Q.PENDING}),
        _Q.FILLED: frozenset(),
        _Q.FAILED: frozenset(),
        _Q.EXPIRED: frozenset(),
        _Q.CANCELLED: frozenset(),
    }
)

_O = OrderStatus
ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        _O.NEW: frozenset({_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELED, _O.REJECTED, _O.EXPIRED}),
        # PARTIALLY_FILLED -> PARTIALLY_FILLED is legal: each further partial fill is an update
        # that keeps the status. An IOC order partially filled then expires.
        _O.PARTIALLY_FILLED: frozenset({_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELED, _O.EXPIRED}),
        _O.FILLED: frozenset(),
        _O.CANCELED: frozenset(),
        _O.REJECTED: frozenset(),
        _O.EXPIRED: frozenset(),
    }
)


class IllegalTransition(BotBoxError):
    """A status change that the state table forbids; carries both ends for the log."""

    def __init__(self, current: StrEnum, target: StrEnum, why: str) -> None:
        self.current = current
        self.target = target
        super().__init__(f"illegal transition {current} -> {target}: {why}")


def _table(status: StrEnum) -> tuple[str, Mapping[StrEnum, frozenset[StrEnum]]]:
    if isinstance(status, QueueStatus):
        return "trade_queue row", QUEUE_TRANSITIONS  # type: ignore[return-value]
    if isinstance(status, OrderStatus):
        return "order", ORDER_TRANSITIONS  # type: ignore[return-value]
    raise TypeError(f"not a QueueStatus or OrderStatus: {status!r}")


def legal_targets[S: (QueueStatus, OrderStatus)](current: S) -> frozenset[S]:
    """Where ``current`` may go next (empty for terminal statuses)."""
    _, table = _table(current)
    return table[current]  # type: ignore[return-value]


def is_terminal(status: QueueStatus | OrderStatus) -> bool:
    """True when nothing may follow: the row or order is settled for good."""
    _, table = _table(status)
    return not table[status]


def transition[S: (QueueStatus, OrderStatus)](current: S, target: S) -> S:
    """Return ``target`` if ``current -> target`` is in the table, else raise.

    Both statuses must come from the same table: a queue status never becomes an order
    status. Callers write the returned value, so the check and the write cannot drift apart.
    """
    what, table = _table(current)
    if type(target) is not type(current):
        raise IllegalTransition(current, target, f"{what} status cannot become {target!r}")
    if target in table[current]:
        return target
    if not table[current]:
        why = f"{what} is {current}, which is terminal"
    else:
        allowed = ", ".join(sorted(table[current]))
        why = f"{what} in {current} may only go to {allowed}"
    raise IllegalTransition(current, target, why)


# ccxt's unified order status strings, and what they mean once the fill is known.
_CCXT_STATUS = {
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def order_status_from_venue(status: str, filled: Decimal, amount: Decimal) -> OrderStatus:
    """Map a ccxt unified status ("open", "closed", ...) plus the fill onto ``OrderStatus``.

    ccxt folds NEW and PARTIALLY_FILLED into "open" and says "closed" for filled; the filled
    amount tells them apart. A cancelled order keeps CANCELED even if partly filled: the
    fill itself is recorded in ``fills``.
    """
    key = status.lower()
    if key in _CCXT_STATUS:
        return _CCXT_STATUS[key]
    if key == "closed":
        return OrderStatus.FILLED
    if key == "open":
        if filled <= 0:
            return OrderStatus.NEW
        return OrderStatus.FILLED if filled >= amount else OrderStatus.PARTIALLY_FILLED
    try:
        return OrderStatus(status.upper())
    except ValueError:
        raise ValueError(f"unknown venue order status {status!r}") from None
