"""The order manager: validate, risk-check, route, and follow each order to its end."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kit import (
    T0,
    D,
    RecordingRouter,
    at,
    fill,
    frequent_thread_switches,
    join_all,
    manual_clock,
    order_manager,
    request,
)

from livetrade.errors import OrderStateError, PermanentBrokerError, TransientBrokerError
from livetrade.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderReject,
    OrderType,
    Severity,
    Side,
    SystemErrorEvent,
)
from livetrade.order_manager import OrderManager
from livetrade.orders import ClientOrderIdGenerator, OrderStatus
from livetrade.risk import KillSwitch, RiskChecker, RiskLimits

S = OrderStatus
pytestmark = pytest.mark.timeout(60)


def accepted(cid: str) -> OrderAccepted:
    return OrderAccepted(order_id="B1", client_order_id=cid, timestamp=T0)


def canceled(cid: str) -> OrderCanceled:
    return OrderCanceled(order_id="B1", client_order_id=cid, timestamp=T0)


def rejected(cid: str, reason: str = "venue says no") -> OrderReject:
    return OrderReject(order_id="B1", client_order_id=cid, reason=reason, timestamp=T0)


def cancel_rejected(cid: str) -> OrderCancelRejected:
    return OrderCancelRejected(order_id="", client_order_id=cid, reason="too late",
                               timestamp=T0)


def status_of(manager: OrderManager, cid: str) -> OrderStatus:
    order = manager.get(cid)
    assert order is not None
    return order.status


def errors(published: list[Event]) -> list[SystemErrorEvent]:
    return [e for e in published if isinstance(e, SystemErrorEvent)]


def rejects(published: list[Event]) -> list[OrderReject]:
    return [e for e in published if isinstance(e, OrderReject)]


# ---------------------------------------------------------------- submitting

def test_a_valid_order_is_recorded_as_submitted_and_routed() -> None:
    """A request that passes validation and risk is sent once and marked SUBMITTED."""
    manager, router, published = order_manager()
    req = request(quantity=5)
    cid = manager.submit(req)
    assert cid == "t-1"
    assert router.sent == [("t-1", req)]
    assert status_of(manager, cid) is S.SUBMITTED
    assert published == []
    assert manager.stats().submitted == 1 and manager.stats().open == 1


def test_client_order_ids_are_never_reused_even_for_rejected_orders() -> None:
    """Every submit consumes a fresh id, whether or not the order went anywhere."""
    manager, _, _ = order_manager()
    ids = [manager.submit(request(quantity=q)) for q in (1, 0, 2)]
    assert ids == ["t-1", "t-2", "t-3"]


def test_an_invalid_request_becomes_an_order_reject_and_is_never_routed() -> None:
    """A malformed order does not raise out of submit: it is rejected with a reason."""
    manager, router, published = order_manager()
    cid = manager.submit(request(quantity=0))
    assert router.sent == []
    assert status_of(manager, cid) is S.REJECTED
    [reject] = rejects(published)
    assert reject.client_order_id == cid and reject.symbol == "AAPL"
    assert reject.reason.startswith("invalid order: quantity")
    assert manager.stats().rejected == 1 and manager.stats().open == 0


def test_a_risk_failure_becomes_an_order_reject_and_is_never_routed() -> None:
    """The risk checker's reason reaches the strategy in the OrderReject."""
    manager, router, published = order_manager(RiskLimits(max_order_quantity=D(10)))
    cid = manager.submit(request(quantity=11))
    assert router.sent == []
    assert status_of(manager, cid) is S.REJECTED
    assert rejects(published)[0].reason.startswith("risk check failed: quantity 11 exceeds")


def test_open_order_limit_counts_other_open_orders_only() -> None:
    """With max_open_orders=2, two orders may be open; the third is refused."""
    manager, router, published = order_manager(RiskLimits(max_open_orders=2))
    ids = [manager.submit(request()) for _ in range(3)]
    assert [status_of(manager, c) for c in ids] == [S.SUBMITTED, S.SUBMITTED, S.REJECTED]
    assert len(router.sent) == 2
    assert "max_open_orders 2" in rejects(published)[0].reason


def test_the_risk_checker_sees_position_and_reference_price() -> None:
    """Position and price come from the callbacks given to the manager."""
    manager, _, published = order_manager(
        RiskLimits(max_position_quantity=D(10), max_order_notional=D(1_000)),
        position=8, price=50)
    ok = manager.submit(request(quantity=2))
    too_long = manager.submit(request(quantity=3))
    too_big = manager.submit(request(quantity=1,
                                     order_type=OrderType.LIMIT, limit_price=D(1_001)))
    assert status_of(manager, ok) is S.SUBMITTED
    assert status_of(manager, too_long) is S.REJECTED
    assert status_of(manager, too_big) is S.REJECTED
    reasons = [r.reason for r in rejects(published)]
    # 8 held + 2 still open on the same side + 3 = 13: open orders count towards the limit.
    assert "would be 13" in reasons[0] and "notional 1001" in reasons[1]


def test_a_broker_refusal_on_send_rejects_the_order() -> None:
    """A permanent broker error while sending ends the order REJECTED, with its message."""
    manager, router, published = order_manager()
    router.send_error = PermanentBrokerError("unknown symbol")
    cid = manager.submit(request())
    assert status_of(manager, cid) is S.REJECTED
    assert rejects(published)[0].reason == "broker refused: unknown symbol"


def test_a_transient_send_failure_leaves_the_order_submitted_and_reports_it() -> None:
    """Outcome unknown: the order stays SUBMITTED (never re-sent blindly) and an error
    event names it."""
    manager, router, published = order_manager()
    router.send_error = TransientBrokerError("timeout")
    cid = manager.submit(request())
    assert status_of(manager, cid) is S.SUBMITTED
    assert len(router.sent) == 1
    [error] = errors(published)
    assert error.error_type == "order_outcome_unknown"
    assert error.context == {"client_order_id": cid}


def test_submit_without_a_router_is_an_error() -> None:
    """An engine that was not started has nowhere to send orders; that is loud."""
    clock = manual_clock()
    manager = OrderManager(
        clock=clock, publish=lambda e: None, risk=RiskChecker(RiskLimits(), clock),
        position_of=lambda s: Decimal(0), price_of=lambda s: None,
        ids=ClientOrderIdGenerator("t"))
    with pytest.raises(OrderStateError):
        manager.submit(request())


def test_a_kill_switch_rejects_every_new_order() -> None:
    """Engaged, the kill switch refuses orders with its reason; released, they pass."""
    switch = KillSwitch()
    manager, router, published = order_manager(kill_switch=switch)
    switch.engage("operator")
    first = manager.submit(request())
    switch.release()
    second = manager.submit(request())
    assert status_of(manager, first) is S.REJECTED
    assert "kill switch engaged: operator" in rejects(published)[0].reason
    assert status_of(manager, second) is S.SUBMITTED
    assert [cid for cid, _ in router.sent] == [second]


# ---------------------------------------------------------------- canceling

def test_cancel_sends_once_and_only_for_open_orders() -> None:
    """Open: sent, PENDING_CANCEL. Already canceling, finished or unknown: False."""
    manager, router, _ = order_manager()
    cid = manager.submit(request())
    manager.on_accepted(accepted(cid))
    assert manager.cancel(cid) is True
    assert status_of(manager, cid) is S.PENDING_CANCEL
    assert manager.cancel(cid) is False
    manager.on_canceled(canceled(cid))
    assert status_of(manager, cid) is S.CANCELED
    assert manager.cancel(cid) is False
    assert manager.cancel("nope") is False
    assert router.canceled == [cid]


@pytest.mark.parametrize("error", [PermanentBrokerError("no"), TransientBrokerError("later")])
def test_a_failed_cancel_call_restores_the_working_state(error: Exception) -> None:
    """If the broker call fails, the order goes back to where it was and it is reported."""
    manager, router, published = order_manager()
    cid = manager.submit(request(quantity=10))
    manager.on_accepted(accepted(cid))
    manager.record_fill(fill(cid, fill_id="a", amount=4))
    router.cancel_error = error
    assert manager.cancel(cid) is False
    assert status_of(manager, cid) is S.PARTIALLY_FILLED
    assert errors(published)[0].error_type == "cancel_failed"


def test_a_refused_cancel_of_an_unacknowledged_order_returns_it_to_submitted() -> None:
    """A cancel refused before the broker ever acknowledged the order does not invent an
    acknowledgement: the order is SUBMITTED again, so a later reject can still land."""
    manager, _, _ = order_manager()
    cid = manager.submit(request())
    manager.cancel(cid)
    manager.on_cancel_rejected(cancel_rejected(cid))
    assert status_of(manager, cid) is S.SUBMITTED
    manager.on_reject(rejected(cid))
    assert status_of(manager, cid) is S.REJECTED


def test_an_ack_during_a_pending_cancel_is_remembered_if_the_cancel_is_refused() -> None:
    """Accepted while a cancel is pending, then the cancel is refused: ACCEPTED."""
    manager, _, _ = order_manager()
    cid = manager.submit(request())
    manager.cancel(cid)
    manager.on_accepted(accepted(cid))
    assert status_of(manager, cid) is S.PENDING_CANCEL
    manager.on_cancel_rejected(cancel_rejected(cid))
    assert status_of(manager, cid) is S.ACCEPTED


@pytest.mark.parametrize("reject_first", [True, False])
def test_a_reject_that_overtakes_a_cancel_request_ends_the_order(reject_first: bool) -> None:
    """The broker refuses an order whose cancel we already sent; whichever answer comes
    first, the order ends REJECTED and nothing stays open."""
    manager, _, published = order_manager()
    cid = manager.submit(request())
    manager.cancel(cid)
    if reject_first:
        manager.on_reject(rejected(cid))
        manager.on_cancel_rejected(cancel_rejected(cid))
    else:
        manager.on_cancel_rejected(cancel_rejected(cid))
        manager.on_reject(rejected(cid))
    assert status_of(manager, cid) is S.REJECTED
    assert manager.open_orders() == ()
    assert manager.stats().rejected == 1
    assert errors(published) == []


def test_cancel_all_cancels_every_open_order() -> None:
    """Returns how many cancel requests were sent; finished orders are skipped."""
    manager, router, _ = order_manager()
    ids = [manager.submit(request()) for _ in range(3)]
    manager.record_fill(fill(ids[0], fill_id="x", amount=10))
    assert manager.cancel_all() == 2
    assert sorted(router.canceled) == sorted(ids[1:])


# ---------------------------------------------------------------- fills

def test_partial_fills_accumulate_quantity_average_price_and_commission() -> None:
    """Two partial fills: average price weighted by quantity, commissions summed."""
    manager, _, _ = order_manager()
    cid = manager.submit(request(quantity=10))
    assert manager.record_fill(fill(cid, fill_id="a", amount=4, price=100, commission="0.4",
                                    order_id="B7"))
    order = manager.get(cid)
    assert order is not None and order.status is S.PARTIALLY_FILLED
    assert order.broker_order_id == "B7" and order.remaining_quantity == 6
    assert manager.record_fill(fill(cid, fill_id="b", amount=6, price=110, commission="0.6"))
    order = manager.get(cid)
    assert order is not None
    assert order.status is S.FILLED and order.filled_quantity == 10
    assert order.average_fill_price == Decimal(106)
    assert order.commission == Decimal("1.0")
    assert manager.stats().filled == 1 and manager.open_orders() == ()


def test_a_fill_id_is_booked_once() -> None:
    """A re-sent fill (same id) changes nothing and is counted as a duplicate."""
    manager, _, _ = order_manager()
    cid = manager.submit(request(quantity=10))
    assert manager.record_fill(fill(cid, fill_id="a", amount=4)) is True
    assert manager.record_fill(fill(cid, fill_id="a", amount=4)) is False
    order = manager.get(cid)
    assert order is not None and order.filled_quantity == 4
    assert manager.stats().duplicate_fills == 1


def test_a_fill_for_an_unknown_order_is_booked_once_and_reported() -> None:
    """An unknown order's fill is money that moved: booked, warned about, de-duplicated."""
    manager, _, published = order_manager()
    assert manager.record_fill(fill("ghost", fill_id="g1")) is True
    assert manager.record_fill(fill("ghost", fill_id="g1")) is False
    [warning] = errors(published)
    assert warning.error_type == "fill_for_unknown_order"
    assert warning.severity is Severity.WARNING
    assert manager.stats().duplicate_fills == 1


def test_an_overfill_is_reported_as_critical() -> None:
    """More filled than ordered is booked (it happened) and raised as CRITICAL."""
    manager, _, published = order_manager()
    cid = manager.submit(request(quantity=5))
    manager.record_fill(fill(cid, fill_id="a", amount=7))
    assert status_of(manager, cid) is S.FILLED
    [error] = errors(published)
    assert (error.error_type, error.severity) == ("overfill", Severity.CRITICAL)


def test_a_fill_after_cancel_is_booked_without_reopening_the_order() -> None:
    """The venue's late fill counts, and is reported; the order stays CANCELED."""
    manager, _, published = order_manager()
    cid = manager.submit(request(quantity=5))
    manager.on_canceled(canceled(cid))
    assert manager.record_fill(fill(cid, fill_id="late", amount=2)) is True
    order = manager.get(cid)
    assert order is not None
    assert order.status is S.CANCELED and order.filled_quantity == 2
    assert errors(published)[0].error_type == "fill_after_close"


def test_an_order_closed_as_missing_at_the_broker_is_filled_by_the_fill_that_shows_it_was_there(
        ) -> None:
    """Reconciliation closed it because the broker did not list it (its submit answer was
    lost and lookups failed); a later fill for the whole quantity is the broker saying it
    had the order: the order ends FILLED, as at the broker, and the correction is reported."""
    manager, _, published = order_manager()
    cid = manager.submit(request(quantity=5))
    assert manager.close_missing(cid, "not open at the broker (periodic reconciliation)")
    assert status_of(manager, cid) is S.CANCELED
    filled_before = manager.stats().filled
    assert manager.record_fill(fill(cid, fill_id="w1", amount=5)) is True
    order = manager.get(cid)
    assert order is not None and order.status is S.FILLED and order.filled_quantity == 5
    assert manager.stats().filled == filled_before + 1
    assert [e.error_type for e in errors(published)] == ["order_closed_as_missing_was_filled"]
    assert cid not in {o.client_order_id for o in manager.open_orders()}


def test_a_partial_fill_on_an_order_closed_as_missing_opens_it_again() -> None:
    """The broker had it and filled part: the rest may still be working there, so the
    order is open again (risk counts it, stop cancels it) until the broker says otherwise;
    the rest of it fills it as usual, and a checkpoint has it among the open orders."""
    manager, _, published = order_manager()
    cid = manager.submit(request(quantity=5))
    manager.capture_state()  # exported as open ...
    manager.close_missing(cid, "not open at the broker (periodic reconciliation)")
    manager.capture_state()  # ... then as closed
    assert manager.record_fill(fill(cid, fill_id="p1", amount=2)) is True
    order = manager.get(cid)
    assert order is not None and order.status is S.PARTIALLY_FILLED
    assert order.filled_quantity == 2 and order.reject_reason == ""
    assert cid in {o.client_order_id for o in manager.open_orders()}
    assert [e.error_type for e in errors(published)] == ["order_closed_as_missing_reopened"]
    saved = [o for o in manager.export_state()["orders"] if o["client_order_id"] == cid]
    assert [o["status"] for o in saved] == ["partially_filled"]
    manager.record_fill(fill(cid, fill_id="p2", amount=3))
    assert status_of(manager, cid) is S.FILLED
    assert cid not in {o.client_order_id for o in manager.open_orders()}


@pytest.mark.parametrize("closed_as_missing_first", [False, True])
def test_a_cancel_the_broker_confirmed_is_not_undone_by_a_late_fill(
        closed_as_missing_first: bool) -> None:
    """Only a close for "not open at the broker" is the engine's guess. A cancel the broker
    confirmed (also after such a close) stays canceled; a fill that executed before it is
    booked and reported, and does not open the order again."""
    manager, _, published = order_manager()
    cid = manager.submit(request(quantity=5))
    if closed_as_missing_first:
        manager.close_missing(cid, "not open at the broker (periodic reconciliation)")
    manager.on_canceled(canceled(cid))
    manager.record_fill(fill(cid, fill_id="late", amount=2))
    order = manager.get(cid)
    assert order is not None and order.status is S.CANCELED
    assert not order.reject_reason.startswith("not open at the broker")
    assert cid not in {o.client_order_id for o in manager.open_orders()}
    assert [e.error_type for e in errors(published)] == ["fill_after_close"]


def test_a_reject_the_broker_sends_for_an_order_closed_as_missing_becomes_its_end() -> None:
    manager, _, _ = order_manager()
    cid = manager.submit(request(quantity=5))
    manager.close_missing(cid, "not open at the broker (periodic reconciliation)")
    manager.on_reject(rejected(cid))
    assert status_of(manager, cid) is S.REJECTED


def test_a_close_reason_without_the_missing_prefix_gets_it() -> None:
    manager, _, _ = order_manager()
    cid = manager.submit(request(quantity=1))
    manager.close_missing(cid, "gone")
    order = manager.get(cid)
    assert order is not None and order.reject_reason == "not open at the broker: gone"
    manager.record_fill(fill(cid, fill_id="f", amount=1))
    assert status_of(manager, cid) is S.FILLED


def test_fills_during_a_pending_cancel_keep_it_pending_until_complete() -> None:
    """A partial fill racing a cancel leaves PENDING_CANCEL; the rest of it fills it."""
    manager, _, _ = order_manager()
    cid = manager.submit(request(quantity=5))
    manager.cancel(cid)
    manager.record_fill(fill(cid, fill_id="a", amount=2))
    assert status_of(manager, cid) is S.PENDING_CANCEL
    manager.record_fill(fill(cid, fill_id="b", amount=3))
    assert status_of(manager, cid) is S.FILLED


# ---------------------------------------------------------------- late and invalid updates

def test_a_late_acknowledgement_of_a_finished_order_is_ignored() -> None:
    """``accepted`` after ``filled`` (a fast venue) changes nothing and reports nothing."""
    manager, _, published = order_manager()
    cid = manager.submit(request(quantity=1))
    manager.record_fill(fill(cid, fill_id="a", amount=1))
    manager.on_accepted(accepted(cid))
    manager.on_canceled(canceled(cid))
    manager.on_expired(OrderExpired(order_id="B1", client_order_id=cid, timestamp=T0))
    assert status_of(manager, cid) is S.FILLED
    assert published == []


def test_an_update_the_lifecycle_forbids_is_reported_and_changes_nothing() -> None:
    """A reject for an order the broker had accepted is not an edge: the order keeps its
    state, is not counted as rejected, and a SystemErrorEvent says why."""
    manager, _, published = order_manager()
    cid = manager.submit(request())
    manager.on_accepted(accepted(cid))
    manager.on_reject(rejected(cid))
    order = manager.get(cid)
    assert order is not None
    assert order.status is S.ACCEPTED and order.reject_reason == ""
    assert manager.stats().rejected == 0
    [error] = errors(published)
    assert error.error_type == "invalid_order_transition"
    assert "accepted -> rejected" in error.message


def test_a_broker_reject_records_its_reason() -> None:
    """A reject for a submitted order ends it REJECTED with the broker's reason."""
    manager, _, _ = order_manager()
    cid = manager.submit(request())
    manager.on_reject(rejected(cid, "insufficient funds"))
    order = manager.get(cid)
    assert order is not None
    assert order.status is S.REJECTED and order.reject_reason == "insufficient funds"
    assert manager.stats().rejected == 1


def test_expiry_ends_a_working_order() -> None:
    manager, _, _ = order_manager()
    cid = manager.submit(request())
    manager.on_accepted(accepted(cid))
    manager.on_expired(OrderExpired(order_id="B1", client_order_id=cid, timestamp=T0))
    assert status_of(manager, cid) is S.EXPIRED


# ---------------------------------------------------------------- history and snapshots

def test_finished_order_history_is_bounded() -> None:
    """Only the newest ``closed_capacity`` finished orders are kept, oldest dropped first."""
    manager, _, _ = order_manager(closed_capacity=2)
    ids = [manager.submit(request(quantity=0)) for _ in range(3)]
    assert manager.get(ids[0]) is None
    assert [o.client_order_id for o in manager.all_orders()] == ids[1:]


def test_snapshots_do_not_change_when_the_order_does() -> None:
    """A snapshot handed out earlier keeps its values: it is a copy, and frozen."""
    manager, _, _ = order_manager()
    cid = manager.submit(request(quantity=10))
    before = manager.get(cid)
    manager.record_fill(fill(cid, fill_id="a", amount=3))
    assert before is not None
    assert before.status is S.SUBMITTED and before.filled_quantity == 0
    with pytest.raises(AttributeError):
        before.status = S.FILLED  # type: ignore[misc]


def test_snapshots_from_other_threads_never_see_half_a_fill() -> None:
    """Readers on other threads, racing one writer booking fills, only ever see an order
    whose status agrees with its filled quantity; the final totals are exact."""
    manager, _, _ = order_manager()
    ids = [manager.submit(request(quantity=3)) for _ in range(1500)]
    current = [ids[0]]  # the order being filled: where the readers look
    stop = threading.Event()
    problems: list[str] = []
    start = threading.Barrier(5)  # the writer begins only once every reader is running

    def read() -> None:
        start.wait(10)
        while not stop.is_set():
            order = manager.get(current[0])
            assert order is not None
            if (order.filled_quantity == order.quantity) != (order.status is S.FILLED):
                problems.append(f"{order.client_order_id}: {order.status} "
                                f"{order.filled_quantity}")

    readers = [threading.Thread(target=read, daemon=True) for _ in range(4)]
    with frequent_thread_switches():
        for r in readers:
            r.start()
        start.wait(10)
        for n, cid in enumerate(ids):
            current[0] = cid
            for part in range(3):
                manager.record_fill(fill(cid, fill_id=f"{n}-{part}", amount=1))
        stop.set()
        join_all(readers)
    assert problems == []
    assert manager.stats().filled == 1500 and manager.stats().open == 0
    assert sum(o.filled_quantity for o in manager.all_orders()) == 4500


def test_adopting_an_order_closed_here_keeps_one_record_and_checkpoints_working() -> None:
    from livetrade.events import OrderReject

    manager, _, _ = order_manager(closed_capacity=1)
    cid = manager.submit(request("AAPL", quantity=1))
    manager.on_reject(OrderReject(order_id="b", client_order_id=cid, reason="x",
                                  timestamp=at(1)))
    manager.adopt(cid, "b-1", request("AAPL", quantity=1), D(0))  # the broker has it open
    ids = [o["client_order_id"] for o in manager.export_state()["orders"]]
    assert ids == [cid]
    other = manager.submit(request("AAPL", quantity=1))
    manager.on_reject(OrderReject(order_id="b", client_order_id=other, reason="x",
                                  timestamp=at(2)))  # evicts older closed records
    assert {o["client_order_id"] for o in manager.export_state()["orders"]} == {cid, other}


# ---------------------------------------------------------------- risk sees the whole book

class PositionRecorder(RiskChecker):
    """Notes the worst-case position each risk check was given; passes every order."""

    def __init__(self) -> None:
        super().__init__(RiskLimits(), manual_clock())
        self.positions: list[Decimal] = []

    def check(self, request: Any, *, position: Decimal, open_orders: int,
              reference_price: Decimal | None) -> str | None:
        self.positions.append(position)
        return None


_SYMBOLS = ("AAA", "BBB")
_STEP = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(_SYMBOLS), st.sampled_from(list(Side)),
              st.integers(1, 5)),
    st.tuples(st.just("fill"), st.integers(0, 30), st.integers(1, 5)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("reject"), st.integers(0, 30)),
    st.tuples(st.just("save"),),
    st.tuples(st.just("restore"),),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(_STEP, max_size=40))
def test_a_risk_check_counts_exactly_the_other_open_orders_of_its_symbol_and_side(
        steps: list[tuple[Any, ...]]) -> None:
    """Whatever happened before (fills, cancels, rejects, a restore of an earlier state), the
    position a risk check sees is the held position (here 0) plus what every *other* open
    order of the same symbol and side could still add: the per-symbol index never drifts
    from the orders that are open."""
    risk = PositionRecorder()
    clock = manual_clock()
    manager = OrderManager(clock=clock, publish=lambda event: None, risk=risk,
                           position_of=lambda s: D(0), price_of=lambda s: D(100),
                           ids=ClientOrderIdGenerator("t"))
    manager.attach_router(RecordingRouter())
    sent: list[str] = []
    fills = 0
    saved = manager.export_state()
    for step in steps:
        kind = step[0]
        if kind == "submit":
            _, symbol, side, quantity = step
            expected = sum((o.remaining_quantity * side.sign for o in manager.open_orders()
                            if o.symbol == symbol and o.side is side), D(0))
            sent.append(manager.submit(request(symbol=symbol, side=side, quantity=quantity)))
            assert risk.positions[-1] == expected
        elif kind == "save":
            saved = manager.export_state()
        elif kind == "restore":  # back to the last save: orders opened since are forgotten
            manager.restore_state(saved)
        elif sent:
            order = manager.get(sent[step[1] % len(sent)])
            if order is None:  # sent after the save that was restored
                continue
            cid = order.client_order_id
            if kind == "fill" and order.status.is_open:
                fills += 1
                amount = min(D(step[2]), order.remaining_quantity)
                manager.record_fill(fill(cid, fill_id=f"F{fills}", symbol=order.symbol,
                                         side=order.side, amount=amount))
            elif kind == "cancel":
                manager.on_canceled(canceled(cid))
            elif kind == "reject":
                manager.on_reject(rejected(cid))
