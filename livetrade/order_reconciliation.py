"""Bringing the order book in line with the journal and the broker after the fact.

Its one job is what recovery and reconciliation (:mod:`livetrade.state`) do to the orders:
record a journaled intent the checkpoint missed, adopt an order only the broker knows, close
an order the broker does not have, and settle such an order when the broker later shows it
had it after all. Kept apart from the live lifecycle (:mod:`livetrade.order_manager`), which
calls only the two settling hooks, :meth:`OrderReconciliation._correct_closed_as_missing`
and :meth:`OrderReconciliation._confirm_closed_as_missing`, when a broker event lands on an
order closed as missing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from livetrade.events import Severity
from livetrade.order_book import OrderBook
from livetrade.orders import Order, OrderRequest, OrderStatus

MISSING_AT_BROKER = "not open at the broker"
"""How every order closed by :meth:`OrderManager.close_missing` has its reason begin."""
S = OrderStatus


class OrderReconciliation(OrderBook):
    """Recovery's and reconciliation's changes to an :class:`~livetrade.order_book.OrderBook`.

    Exists so the rules for orders whose story the broker, not the engine, tells live in one
    place; the order manager inherits it. The public methods take the lock; the two
    settling hooks expect their caller (the lifecycle) to hold it.
    """

    def restore_intent(self, client_order_id: str, request: OrderRequest,
                       created_at: datetime) -> bool:
        """A journaled intent the checkpoint does not know: the order may exist at the
        broker, so it is recorded as SUBMITTED (outcome unknown) until events or the
        reconciliation settle it. ``False`` if the order is already known."""
        with self.lock:
            self.ids.ensure_after(client_order_id)
            if client_order_id in self._open or client_order_id in self._closed:
                return False
            self._add_open(Order(client_order_id=client_order_id, request=request,
                                 created_at=created_at, status=S.SUBMITTED,
                                 updated_at=created_at))
            self._changed.add(client_order_id)
            self.submitted += 1
            return True

    def adopt(self, client_order_id: str, broker_order_id: str, request: OrderRequest,
              filled: Decimal) -> None:
        """Take over an order the broker has open and we have no record of."""
        now = self._clock.now()
        with self.lock:
            self.ids.ensure_after(client_order_id)  # never issue the adopted id again
            # Closed here but open at the broker (a reject that was not one): the broker
            # is the truth. One record per id, never one open and one closed.
            self._closed.pop(client_order_id, None)
            order = Order(client_order_id=client_order_id, request=request, created_at=now,
                          status=S.PARTIALLY_FILLED if filled > 0 else S.ACCEPTED,
                          broker_order_id=broker_order_id, filled_quantity=filled,
                          updated_at=now)
            self._add_open(order)
            self._changed.add(client_order_id)

    def _correct_closed_as_missing(self, order: Order, fill_id: str, complete: bool) -> None:
        """A fill arrived for an order reconciliation closed only because the broker did not
        list it (a lost submit answer, lookups failing in a storm): the broker had the order
        after all, so its story is the broker's. Complete: FILLED. Partly filled: open again
        as PARTIALLY_FILLED, because the rest may still be working at the broker; risk
        counts it and stop() cancels it, and if the broker did cancel the rest, its cancel
        or the next reconciliation closes it again. Locked; the fill is already booked."""
        cid = order.client_order_id
        order.updated_at = self._clock.now()
        if complete:
            order.status = S.FILLED
            self.filled += 1
            self._report("order_closed_as_missing_was_filled",
                         f"fill {fill_id} completes order {cid}, which reconciliation had "
                         "closed as missing at the broker: now filled",
                         Severity.WARNING, client_order_id=cid)
            return
        order.status = S.PARTIALLY_FILLED
        order.reject_reason = ""
        self._closed.pop(cid, None)
        self._add_open(order)
        self._report("order_closed_as_missing_reopened",
                     f"fill {fill_id} ({order.filled_quantity} of {order.request.quantity}) "
                     f"on order {cid}, which reconciliation had closed as missing at the "
                     "broker: open again as partially filled until the broker says otherwise",
                     Severity.WARNING, client_order_id=cid)

    def _confirm_closed_as_missing(self, cid: str, status: OrderStatus) -> None:
        """The broker's own end (canceled, expired, rejected) for an order reconciliation had
        closed as missing: its story is now the broker's, and no later fill reopens it (a
        fill that executed before the cancel only books). Locked."""
        order = self._closed.get(cid)
        if order is None or not closed_as_missing(order):
            return
        order.status = status
        order.reject_reason = f"{status.value} at the broker"
        order.updated_at = self._clock.now()
        self._changed.add(cid)

    def close_missing(self, client_order_id: str, reason: str) -> bool:
        """The broker does not have this open order: mark it canceled. ``False`` if it is
        no longer open here (a fill booked during reconciliation finished it).

        ``reason`` starts with :data:`MISSING_AT_BROKER`: a later fill (the broker had it
        after all) makes it filled, or open again if it is not complete; see
        :meth:`_correct_closed_as_missing`."""
        with self.lock:
            order = self._open.get(client_order_id)
            if order is None:
                return False
            order.reject_reason = (reason if reason.startswith(MISSING_AT_BROKER)
                                   else f"{MISSING_AT_BROKER}: {reason}")
            self._move(order, S.CANCELED)
            return True

    def booked_fill_ids(self) -> set[str]:
        with self.lock:
            ids = set(self._recent_fill_ids)
            for order in (*self._open.values(), *self._closed.values()):
                ids.update(order.fill_ids)
            return ids


def closed_as_missing(order: Order) -> bool:
    """Closed by :meth:`OrderManager.close_missing` and not settled by the broker since."""
    return order.status is S.CANCELED and order.reject_reason.startswith(MISSING_AT_BROKER)
