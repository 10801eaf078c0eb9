"""Orders: the lifecycle table, request validation, and the manager under any broker story."""

from __future__ import annotations

import dataclasses
import itertools
import pickle
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kit import T0, D, fill, order_manager, request

from livetrade.errors import InvalidOrderError, OrderStateError
from livetrade.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderReject,
    OrderType,
    Side,
)
from livetrade.orders import (
    TERMINAL_STATES,
    TRANSITIONS,
    ClientOrderIdGenerator,
    OrderRequest,
    OrderStatus,
    check_transition,
    validate_request,
)

S = OrderStatus

# The lifecycle, written out edge by edge as the specification the table must match.
ALLOWED = {
    (S.PENDING_SUBMIT, S.SUBMITTED), (S.PENDING_SUBMIT, S.REJECTED),
    (S.SUBMITTED, S.ACCEPTED), (S.SUBMITTED, S.PARTIALLY_FILLED), (S.SUBMITTED, S.FILLED),
    (S.SUBMITTED, S.PENDING_CANCEL), (S.SUBMITTED, S.CANCELED), (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.EXPIRED),
    (S.ACCEPTED, S.PARTIALLY_FILLED), (S.ACCEPTED, S.FILLED), (S.ACCEPTED, S.PENDING_CANCEL),
    (S.ACCEPTED, S.CANCELED), (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL), (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PENDING_CANCEL, S.PENDING_CANCEL), (S.PENDING_CANCEL, S.CANCELED),
    (S.PENDING_CANCEL, S.FILLED), (S.PENDING_CANCEL, S.EXPIRED),
    (S.PENDING_CANCEL, S.SUBMITTED), (S.PENDING_CANCEL, S.ACCEPTED),
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED), (S.PENDING_CANCEL, S.REJECTED),
}
ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))


def test_transition_table_is_exactly_the_specified_lifecycle() -> None:
    """The table has an entry per state and no edge beyond the specification."""
    assert set(TRANSITIONS) == set(OrderStatus)
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED), ids=lambda s: s.value)
def test_every_allowed_edge_is_accepted(current: OrderStatus, new: OrderStatus) -> None:
    """Each edge of the lifecycle passes ``check_transition``."""
    check_transition(current, new, "c-1")


@pytest.mark.parametrize(("current", "new"), [p for p in ALL_PAIRS if p not in ALLOWED],
                         ids=lambda s: s.value)
def test_every_other_edge_raises(current: OrderStatus, new: OrderStatus) -> None:
    """Every pair outside the lifecycle raises OrderStateError naming the order."""
    with pytest.raises(OrderStateError) as raised:
        check_transition(current, new, "c-1")
    assert raised.value.context == {"client_order_id": "c-1"}


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_terminal_states_have_no_exits(state: OrderStatus) -> None:
    """Filled, canceled, rejected and expired are final."""
    assert TRANSITIONS[state] == frozenset()
    assert state.is_terminal and not state.is_open


def test_terminal_states_are_exactly_the_four_final_ones() -> None:
    assert {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED} == TERMINAL_STATES


# ---------------------------------------------------------------- request validation

GOOD = [
    request(),
    request(order_type=OrderType.LIMIT, limit_price=D(10)),
    request(order_type=OrderType.STOP, stop_price=D(10)),
    request(order_type=OrderType.STOP_LIMIT, stop_price=D(10), limit_price=D(11)),
    request(quantity="0.0001"),
]


@pytest.mark.parametrize("req", GOOD, ids=lambda r: r.order_type.value)
def test_well_formed_requests_pass(req: OrderRequest) -> None:
    validate_request(req)


BAD: list[tuple[str, dict[str, Any]]] = [
    ("quantity", {"quantity": Decimal(0)}),
    ("quantity", {"quantity": Decimal(-1)}),
    ("quantity", {"quantity": Decimal("NaN")}),
    ("quantity", {"quantity": Decimal("sNaN")}),
    ("quantity", {"quantity": Decimal("Infinity")}),
    ("quantity", {"quantity": 1.5}),
    ("symbol", {"symbol": ""}),
    ("limit_price", {"order_type": OrderType.LIMIT}),
    ("limit_price", {"order_type": OrderType.LIMIT, "limit_price": Decimal(0)}),
    ("limit_price", {"order_type": OrderType.LIMIT, "limit_price": Decimal("NaN")}),
    ("limit_price", {"order_type": OrderType.MARKET, "limit_price": Decimal(10)}),
    ("limit_price", {"order_type": OrderType.STOP, "stop_price": Decimal(9),
                     "limit_price": Decimal(10)}),
    ("limit_price", {"order_type": OrderType.STOP_LIMIT, "stop_price": Decimal(9)}),
    ("stop_price", {"order_type": OrderType.STOP}),
    ("stop_price", {"order_type": OrderType.STOP, "stop_price": Decimal(-1)}),
    ("stop_price", {"order_type": OrderType.MARKET, "stop_price": Decimal(10)}),
    ("stop_price", {"order_type": OrderType.LIMIT, "limit_price": Decimal(9),
                    "stop_price": Decimal(10)}),
    ("stop_price", {"order_type": OrderType.STOP_LIMIT, "limit_price": Decimal(9)}),
]


@pytest.mark.parametrize(("field_name", "changes"), BAD,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_malformed_requests_raise_naming_the_field(field_name: str,
                                                   changes: dict[str, Any]) -> None:
    """Non-positive, NaN or float quantities, a missing or superfluous limit/stop price:
    each raises InvalidOrderError whose context names the offending field."""
    fields: dict[str, Any] = {"symbol": "AAPL", "side": Side.BUY, "quantity": Decimal(1)}
    fields.update(changes)
    with pytest.raises(InvalidOrderError) as raised:
        validate_request(OrderRequest(**fields))
    assert raised.value.context["field"] == field_name


def test_a_request_that_passed_stays_the_same_value_and_a_changed_copy_is_checked_again(
) -> None:
    """validate_request remembers a pass on the request (so the order manager and the
    broker validate once between them); the request is unchanged as a value, and a copy
    made with replace() is validated afresh, however its original fared."""
    req = request(quantity=3)
    validate_request(req)
    validate_request(req)  # the remembered pass
    fresh = request(quantity=3)
    assert req == fresh and hash(req) == hash(fresh) and repr(req) == repr(fresh)
    assert dataclasses.asdict(req) == dataclasses.asdict(fresh)
    assert pickle.loads(pickle.dumps(req)) == fresh
    with pytest.raises(InvalidOrderError) as raised:
        validate_request(dataclasses.replace(req, quantity=Decimal(0)))
    assert raised.value.context["field"] == "quantity"
    bad = request(quantity=-1)
    for _ in range(2):  # a failure is not remembered as a pass
        with pytest.raises(InvalidOrderError):
            validate_request(bad)


def test_client_order_ids_are_sequential_and_never_repeat() -> None:
    ids = ClientOrderIdGenerator("t", start=7)
    assert [ids(), ids(), ids()] == ["t-7", "t-8", "t-9"]
    assert ids.next_sequence == 10


@pytest.mark.parametrize("prefix", ["", "x" * 17, "a-b", "a b"])
def test_client_order_id_prefix_is_short_and_plain(prefix: str) -> None:
    """Some venues cap client ids; a prefix is 1-16 letters, digits or underscores."""
    with pytest.raises(ValueError):
        ClientOrderIdGenerator(prefix)


# ---------------------------------------------------------------- property (c)

FILL_IDS = [f"f{i}" for i in range(6)]
Step = tuple[str, str]
steps = st.one_of(
    st.sampled_from([("accepted", ""), ("cancel_request", ""), ("canceled", ""),
                     ("expired", ""), ("reject", ""), ("cancel_rejected", "")]),
    st.tuples(st.just("fill"), st.sampled_from(FILL_IDS)),
)


@given(
    quantity=st.integers(min_value=1, max_value=20),
    amounts=st.lists(st.integers(min_value=1, max_value=8), min_size=len(FILL_IDS),
                     max_size=len(FILL_IDS)),
    story=st.lists(steps, max_size=30),
)
def test_any_broker_story_keeps_the_order_consistent(quantity: int, amounts: list[int],
                                                     story: list[Step]) -> None:
    """Property (c): whatever the broker says, in whatever order (acks, fills with repeated
    ids, cancel requests, cancels, expiries, rejects, refused cancels):

    * the order only ever moves along an edge of the lifecycle table;
    * its filled quantity is the sum over *distinct* fill ids;
    * it is FILLED iff filled >= quantity, unless it had already ended before that;
    * it is listed as open iff its status is open, and counted as rejected iff REJECTED;
    * a cancel request reaches the router exactly when ``cancel`` says it was sent.
    """
    manager, router, _ = order_manager()
    cid = manager.submit(request(quantity=quantity))
    assert router.sent == [(cid, request(quantity=quantity))]
    amount_of = dict(zip(FILL_IDS, amounts, strict=True))
    booked: set[str] = set()
    ended_before_full = False
    cancels_sent = 0
    status = S.SUBMITTED

    for kind, fill_id in story:
        if kind == "accepted":
            manager.on_accepted(OrderAccepted(order_id="B1", client_order_id=cid, timestamp=T0))
        elif kind == "fill":
            new = manager.record_fill(fill(cid, fill_id=fill_id, amount=amount_of[fill_id]))
            assert new == (fill_id not in booked)
            booked.add(fill_id)
        elif kind == "cancel_request":
            may_cancel = status in (S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED)
            assert manager.cancel(cid) is may_cancel
            cancels_sent += may_cancel
        elif kind == "canceled":
            manager.on_canceled(OrderCanceled(order_id="B1", client_order_id=cid, timestamp=T0))
        elif kind == "expired":
            manager.on_expired(OrderExpired(order_id="B1", client_order_id=cid, timestamp=T0))
        elif kind == "reject":
            manager.on_reject(OrderReject(order_id="B1", client_order_id=cid, reason="no",
                                          timestamp=T0))
        else:
            manager.on_cancel_rejected(OrderCancelRejected(order_id="B1", client_order_id=cid,
                                                           reason="too late", timestamp=T0))
        order = manager.get(cid)
        assert order is not None
        if order.status is not status:
            check_transition(status, order.status)
        status = order.status

        filled = sum(amount_of[f] for f in booked)
        assert order.filled_quantity == filled
        if filled >= quantity and status is not S.FILLED and not ended_before_full:
            assert status.is_terminal
            ended_before_full = True
        if status is S.FILLED:
            assert filled >= quantity
        if filled >= quantity:
            assert status is S.FILLED or ended_before_full
        if filled < quantity and status.is_terminal:
            ended_before_full = True
        assert (cid in {o.client_order_id for o in manager.open_orders()}) is status.is_open
        assert manager.stats().rejected == (status is S.REJECTED)
        assert bool(order.reject_reason) is (status is S.REJECTED)
        assert router.canceled == [cid] * cancels_sent
