"""The order manager: every order's lifecycle, from request to a terminal state.

It owns the :class:`~livetrade.orders.Order` records. Strategies reach it through the
context (``submit``/``cancel``); brokers reach it only through events, which the engine
routes here on the dispatcher thread. The manager's lock makes snapshots taken from other
threads (status line, checkpoints) consistent; the dispatcher thread is the only writer.

Rules it enforces:

* Every request is validated, then risk-checked, before it is recorded as sent; a failure
  becomes an ``OrderReject`` event (the strategy's ``on_reject``), never an exception out
  of the strategy's call.
* Client order ids are issued here and never reused.
* A fill id is booked once; a second copy returns ``False`` from :meth:`record_fill`.
* A late acknowledgement for an order that is already finished (``accepted`` after
  ``filled``) is ignored; an update the state machine forbids is reported as a
  ``SystemErrorEvent`` and leaves the order unchanged.
* History is bounded: the newest ``closed_capacity`` finished orders are kept.

This module is the live lifecycle only (submit, cancel, the broker's events). The records
and the primitives that change them are :mod:`livetrade.order_book`'s; checkpoint capture,
export and restore are :mod:`livetrade.order_checkpoint`'s; recovery's and reconciliation's
changes (``restore_intent``, ``adopt``, ``close_missing``, and settling an order closed as
missing) are :mod:`livetrade.order_reconciliation`'s. :class:`OrderManager` inherits them
all, so its callers see one object.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import structlog

from livetrade.clock import Clock
from livetrade.errors import (
    InvalidOrderError,
    LiveTradeError,
    OrderStateError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderReject,
    Severity,
    trusted,
)
from livetrade.logs import enabled_for
from livetrade.order_checkpoint import OrderCheckpoints
from livetrade.order_reconciliation import OrderReconciliation, closed_as_missing
from livetrade.order_records import request_to_dict
from livetrade.orders import (
    TERMINAL_STATES,
    ClientOrderIdGenerator,
    Order,
    OrderRequest,
    OrderStatus,
    check_transition,
    validate_request,
)
from livetrade.risk import RiskChecker

_log = structlog.get_logger("livetrade.orders")

S = OrderStatus


class OrderRouter(Protocol):
    """Where the order manager sends what passed its checks (a broker, or its thread)."""

    def send(self, client_order_id: str, request: OrderRequest) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...


class OrderManager(OrderReconciliation, OrderCheckpoints):
    """Tracks orders through their state machine; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        publish: Callable[[Event], None],
        risk: RiskChecker,
        position_of: Callable[[str], Decimal],
        price_of: Callable[[str], Decimal | None],
        ids: ClientOrderIdGenerator | None = None,
        closed_capacity: int = 10_000,
    ) -> None:
        super().__init__(clock=clock, publish=publish, ids=ids, closed_capacity=closed_capacity)
        self._risk = risk
        self._position_of = position_of
        self._price_of = price_of
        self._router: OrderRouter | None = None
        # Write-ahead journal (the state layer sets it): called with ("intent", id, request)
        # before an order leaves; if it raises, the order is rejected and never sent.
        self.journal: Callable[[Any, str, dict[str, Any]], None] | None = None

    def attach_router(self, router: OrderRouter) -> None:
        self._router = router

    # ------------------------------------------------------------ strategy side
    def submit(self, request: OrderRequest) -> str:
        """Validate, risk-check and send ``request``; return its client order id.

        Never raises for a bad request: the order is recorded as rejected and an
        ``OrderReject`` event carries the reason.
        """
        now = self._clock.now()
        with self.lock:
            cid = self.ids()
            while cid in self._open or cid in self._closed:  # an adopted or restored id
                cid = self.ids()
            order = Order(client_order_id=cid, request=request, created_at=now)
            self._add_open(order)
            self._changed.add(cid)
            try:
                validate_request(request)
                reason = self._risk.check(
                    request,
                    position=self._worst_case_position(order),
                    open_orders=len(self._open) - 1,
                    reference_price=self._price_of(request.symbol),
                )
            except InvalidOrderError as exc:
                self._reject_now(order, f"invalid order: {exc.message}")
                return cid
            except Exception as exc:  # noqa: BLE001 - never leave an order half-made
                _log.error("order_check_failed", client_order_id=cid, exc_info=exc)
                self._reject_now(order, f"invalid order: {type(exc).__name__}: {exc}")
                return cid
            if reason is not None:
                self._reject_now(order, f"risk check failed: {reason}")
                return cid
            if self.journal is not None:
                try:
                    self.journal("intent", cid, {"request": request_to_dict(request),
                                                 "created_at": now})
                except LiveTradeError as exc:
                    self._reject_now(order, f"not sent: the order could not be journaled "
                                            f"durably ({exc.message})")
                    return cid
            self._move(order, S.SUBMITTED)
            self.submitted += 1
        if enabled_for("info"):  # filtered out, the call would still cost a bound logger
            _log.info("order_submitted", client_order_id=cid, symbol=request.symbol,
                      side=request.side.value, quantity=str(request.quantity),
                      order_type=request.order_type.value)
        router = self._router
        if router is None:
            raise OrderStateError("order manager has no router; is the engine started?")
        try:
            router.send(cid, request)
        except PermanentBrokerError as exc:
            with self.lock:
                if order.status.is_open:
                    self._reject_now(order, f"broker refused: {exc.message}")
        except TransientBrokerError as exc:
            # Outcome unknown: the order may exist at the venue. It stays SUBMITTED so it is
            # never sent again blindly; resolving it (look-up by client id) is the adapter's.
            self._report("order_outcome_unknown", str(exc), Severity.ERROR, client_order_id=cid)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not leave it open
            # Inline brokers do no I/O: an unexpected error means the order was not taken.
            _log.error("broker_call_failed", client_order_id=cid, exc_info=exc)
            with self.lock:
                if order.status.is_open:
                    self._reject_now(order, f"broker call failed: {type(exc).__name__}: {exc}")
        return cid

    def _worst_case_position(self, new: Order) -> Decimal:
        """The position if every *other* open order on the new order's side filled (risk
        limits must hold for what may happen, not only for what has)."""
        request = new.request
        position = self._position_of(request.symbol)
        for open_order in self._open_by_symbol[request.symbol].values():
            r = open_order.request
            if open_order is not new and r.side is request.side:
                position += open_order.remaining_quantity * r.side.sign
        return position

    def cancel(self, client_order_id: str) -> bool:
        """Ask the broker to cancel; ``False`` if the order is not open or already canceling."""
        with self.lock:
            order = self._open.get(client_order_id)
            if order is None or order.status in (S.PENDING_CANCEL, S.PENDING_SUBMIT):
                return False
            order.status_before_cancel = order.status
            self._move(order, S.PENDING_CANCEL)
        router = self._router
        if router is None:
            raise OrderStateError("order manager has no router; is the engine started?")
        try:
            router.cancel(client_order_id)
        except (PermanentBrokerError, TransientBrokerError) as exc:
            self._report("cancel_failed", str(exc), Severity.ERROR,
                         client_order_id=client_order_id)
            with self.lock:
                current: OrderStatus = order.status
                if current is S.PENDING_CANCEL:
                    self._move(order, self._status_after_failed_cancel(order))
            return False
        return True

    def cancel_all(self) -> int:
        """Cancel every open order; return how many cancel requests were sent."""
        with self.lock:
            ids = list(self._open)
        return sum(1 for cid in ids if self.cancel(cid))

    # ------------------------------------------------------------ broker side
    def on_accepted(self, event: OrderAccepted) -> None:
        with self.lock:
            order = self._open.get(event.client_order_id)
            if order is None:
                self._lookup(event.client_order_id, event)  # logs the stale update
                return
            self._changed.add(order.client_order_id)
            order.broker_order_id = event.order_id or order.broker_order_id
            order.shadow = order.shadow or event.shadow
            if order.status is S.SUBMITTED:
                self._move(order, S.ACCEPTED)
            elif order.status is S.PENDING_CANCEL and order.status_before_cancel is S.SUBMITTED:
                order.status_before_cancel = S.ACCEPTED  # a refused cancel returns it here

    def record_fill(self, event: OrderFill) -> bool:
        """Book a fill on its order. ``False`` if this fill id was already booked."""
        with self.lock:
            cid = event.client_order_id
            fill_id = event.fill_id
            recent = self._recent_fill_ids
            if fill_id in recent:
                self.duplicate_fills += 1
                return False
            order = self._open.get(cid) or self._closed.get(cid)
            if order is not None and fill_id in order.fill_ids:
                self.duplicate_fills += 1
                return False
            recent[fill_id] = None
            if len(recent) > self._recent_fill_capacity:
                recent.popitem(last=False)
            if order is None:
                self._report("fill_for_unknown_order",
                             f"fill {fill_id} for unknown order {cid}; booked anyway",
                             Severity.WARNING, client_order_id=cid)
                return True
            order.fill_ids.add(fill_id)
            self._changed.add(cid)
            previous = order.filled_quantity
            amount = event.fill_amount
            total = previous + amount
            order.average_fill_price = (
                previous * order.average_fill_price + amount * event.fill_price
            ) / total
            order.filled_quantity = total
            order.commission += event.commission
            order.broker_order_id = order.broker_order_id or event.order_id
            quantity = order.request.quantity
            if total > quantity:
                self._report("overfill", f"order {cid} filled {total} of {quantity}",
                             Severity.CRITICAL, client_order_id=cid)
            if order.status in TERMINAL_STATES:
                if closed_as_missing(order):
                    self._correct_closed_as_missing(order, fill_id, total >= quantity)
                    return True
                self._report("fill_after_close",
                             f"fill {fill_id} on {order.status.value} order {cid}",
                             Severity.WARNING, client_order_id=cid)
                return True
            if total >= quantity:
                self._move(order, S.FILLED)
                self.filled += 1
            elif order.status is not S.PENDING_CANCEL:
                self._move(order, S.PARTIALLY_FILLED)
            else:
                order.updated_at = self._clock.now()
            return True

    def on_canceled(self, event: OrderCanceled) -> None:
        self._finish(event.client_order_id, S.CANCELED, event)

    def on_expired(self, event: OrderExpired) -> None:
        self._finish(event.client_order_id, S.EXPIRED, event)

    def on_reject(self, event: OrderReject) -> None:
        with self.lock:
            order = self._open.get(event.client_order_id)
            if order is None:
                # Already rejected by our own checks, unknown, or closed as missing at the
                # broker (then the broker's reject is its end).
                self._confirm_closed_as_missing(event.client_order_id, S.REJECTED)
                return
            if self._finish(event.client_order_id, S.REJECTED, event):
                order.reject_reason = event.reason
                self.rejected += 1

    def on_cancel_rejected(self, event: OrderCancelRejected) -> None:
        with self.lock:
            order = self._open.get(event.client_order_id)
            if order is None or order.status is not S.PENDING_CANCEL:
                return
            self._move(order, self._status_after_failed_cancel(order))
        _log.info("cancel_rejected", client_order_id=event.client_order_id, reason=event.reason)

    # ------------------------------------------------------------ internals
    @staticmethod
    def _status_after_failed_cancel(order: Order) -> OrderStatus:
        if order.filled_quantity > 0:
            return S.PARTIALLY_FILLED
        # Never acknowledged stays SUBMITTED: a later reject must still be able to land.
        return order.status_before_cancel or S.ACCEPTED

    def _finish(self, cid: str, status: OrderStatus, event: Event) -> bool:
        """Move an open order to terminal ``status``; ``False`` if it was not moved."""
        with self.lock:
            order = self._lookup(cid, event)
            if order is None:
                self._confirm_closed_as_missing(cid, status)
                return False
            try:
                check_transition(order.status, status, cid)
            except OrderStateError as exc:
                self._report("invalid_order_transition", str(exc), Severity.ERROR,
                             client_order_id=cid)
                return False
            self._move(order, status)
            return True

    def _reject_now(self, order: Order, reason: str) -> None:
        order.reject_reason = reason
        self._move(order, S.REJECTED)
        self.rejected += 1
        _log.warning("order_rejected", client_order_id=order.client_order_id,
                     symbol=order.request.symbol, reason=reason)
        self._publish(trusted(OrderReject, order_id=order.broker_order_id or order.client_order_id,
                              client_order_id=order.client_order_id, reason=reason,
                              timestamp=self._clock.now(), symbol=order.request.symbol))
