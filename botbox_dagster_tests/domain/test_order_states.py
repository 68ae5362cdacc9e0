"""The queue and order state tables: legal moves pass, everything else raises."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botbox_dagster.domain.order_states import (
    ORDER_TRANSITIONS,
    QUEUE_TRANSITIONS,
    IllegalTransition,
    OrderStatus,
    QueueStatus,
    is_terminal,
    legal_targets,
    order_status_from_venue,
    transition,
)

Q = QueueStatus
OS = OrderStatus

LEGAL_QUEUE = {
    (Q.PENDING, Q.EXECUTING),
    (Q.PENDING, Q.EXPIRED),
    (Q.PENDING, Q.CANCELLED),
    (Q.EXECUTING, Q.FILLED),
    (Q.EXECUTING, Q.FAILED),
    (Q.EXECUTING, Q.EXPIRED),
    (Q.EXECUTING, Q.CANCELLED),
    (Q.EXECUTING, Q.PENDING),
}

LEGAL_ORDER = {
    (OS.NEW, OS.PARTIALLY_FILLED),
    (OS.NEW, OS.FILLED),
    (OS.NEW, OS.CANCELED),
    (OS.NEW, OS.REJECTED),
    (OS.NEW, OS.EXPIRED),
    (OS.PARTIALLY_FILLED, OS.PARTIALLY_FILLED),
    (OS.PARTIALLY_FILLED, OS.FILLED),
    (OS.PARTIALLY_FILLED, OS.CANCELED),
    (OS.PARTIALLY_FILLED, OS.EXPIRED),
}


def test_enums_are_strings_matching_the_ledger() -> None:
    assert Q.PENDING == "PENDING"
    assert Q("CANCELLED") is Q.CANCELLED
    assert OS("CANCELED") is OS.CANCELED
    assert f"{Q.FILLED}" == "FILLED"


@pytest.mark.parametrize(("current", "target"), sorted(product(Q, Q)))
def test_queue_table_is_exactly_the_documented_one(current: Q, target: Q) -> None:
    if (current, target) in LEGAL_QUEUE:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition) as raised:
            transition(current, target)
        assert raised.value.current is current
        assert raised.value.target is target


@pytest.mark.parametrize(("current", "target"), sorted(product(OS, OS)))
def test_order_table_is_exactly_the_documented_one(current: OS, target: OS) -> None:
    if (current, target) in LEGAL_ORDER:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            transition(current, target)


def test_terminal_states() -> None:
    assert {s for s in Q if is_terminal(s)} == {Q.FILLED, Q.FAILED, Q.EXPIRED, Q.CANCELLED}
    assert {s for s in OS if is_terminal(s)} == {OS.FILLED, OS.CANCELED, OS.REJECTED, OS.EXPIRED}
    assert set(QUEUE_TRANSITIONS) == set(Q)
    assert set(ORDER_TRANSITIONS) == set(OS)


def test_error_message_explains() -> None:
    with pytest.raises(IllegalTransition, match="FILLED, which is terminal"):
        transition(Q.FILLED, Q.PENDING)
    with pytest.raises(IllegalTransition, match="may only go to CANCELLED, EXECUTING, EXPIRED"):
        transition(Q.PENDING, Q.FILLED)


def test_tables_do_not_mix() -> None:
    with pytest.raises(IllegalTransition, match="cannot become"):
        transition(Q.EXECUTING, OS.FILLED)  # type: ignore[type-var]
    with pytest.raises(TypeError):
        transition("PENDING", "EXECUTING")  # type: ignore[type-var]


def test_retry_loop_through_pending_is_legal() -> None:
    status = Q.PENDING
    for target in (Q.EXECUTING, Q.PENDING, Q.EXECUTING, Q.FILLED):
        status = transition(status, target)
    assert status is Q.FILLED


@given(st.lists(st.sampled_from(list(Q)), max_size=30))
def test_any_walk_never_leaves_a_terminal_state(targets: list[Q]) -> None:
    status = Q.PENDING
    for target in targets:
        try:
            new = transition(status, target)
        except IllegalTransition:
            assert target not in legal_targets(status)
            continue
        assert not is_terminal(status)
        status = new


@pytest.mark.parametrize(
    ("status", "filled", "amount", "expected"),
    [
        ("open", "0", "1", OS.NEW),
        ("open", "0.4", "1", OS.PARTIALLY_FILLED),
        ("open", "1", "1", OS.FILLED),
        ("closed", "1", "1", OS.FILLED),
        ("canceled", "0.2", "1", OS.CANCELED),
        ("expired", "0", "1", OS.EXPIRED),
        ("rejected", "0", "1", OS.REJECTED),
        ("PARTIALLY_FILLED", "0.2", "1", OS.PARTIALLY_FILLED),
    ],
)
def test_order_status_from_venue(status: str, filled: str, amount: str, expected: OS) -> None:
    assert order_status_from_venue(status, Decimal(filled), Decimal(amount)) is expected


def test_order_status_from_venue_unknown() -> None:
    with pytest.raises(ValueError, match="unknown venue order status"):
        order_status_from_venue("weird", Decimal(0), Decimal(1))
