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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
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
    SystemErrorEvent,
    trusted,
)
from livetrade.logs import enabled_for
from livetrade.order_records import (
    order_from_dict,
    order_to_dict,
    request_to_dict,
)
from livetrade.orders import (
    TERMINAL_STATES,
    TRANSITIONS,
    ClientOrderIdGenerator,
    Order,
    OrderRequest,
    OrderSnapshot,
    OrderStatus,
    check_transition,
    validate_request,
)
from livetrade.risk import RiskChecker
from livetrade.state.chunks import ChunkedMap, sync_fifo, sync_ordered

_log = structlog.get_logger("livetrade.orders")

MISSING_AT_BROKER = "not open at the broker"
"""How every order closed by :meth:`OrderManager.close_missing` has its reason begin."""
S = OrderStatus


class OrderRouter(Protocol):
    """Where the order manager sends what passed its checks (a broker, or its thread)."""

    def send(self, client_order_id: str, request: OrderRequest) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...


@dataclass(frozen=True)
class OrderStats:
    open: int
    submitted: int
    rejected: int
    filled: int
    duplicate_fills: int


class OrderManager:
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
        self._clock = clock
        self._publish = publish
        self._risk = risk
        self._position_of = position_of
        self._price_of = price_of
        self.ids = ids or ClientOrderIdGenerator()
        self._router: OrderRouter | None = None
        self._open: dict[str, Order] = {}
        # The open orders again, by symbol (changed only by _add_open/_drop_open): a risk
        # check looks at the other open orders of one symbol, and a scan of every open
        # order made each submit O(book), 2.6 ms at 5,000 open orders.
        self._open_by_symbol: dict[str, dict[str, Order]] = {}
        self._closed: OrderedDict[str, Order] = OrderedDict()
        self._closed_capacity = closed_capacity
        # Every booked fill id, newest last, bounded: a fill seen again (re-sent after a
        # reconnect, or reported by a venue's history after a restart) is a duplicate even
        # when its order has left the closed-order history.
        self._recent_fill_ids: OrderedDict[str, None] = OrderedDict()
        self._recent_fill_capacity = max(closed_capacity * 5, 50_000)
        # Checkpoint export, incremental: an order's exported dict is rebuilt only after
        # it changed (every change goes through _lookup, _move or _touch under the lock).
        self._exported: dict[str, dict[str, Any]] = {}
        self._changed: set[str] = set()
        self._export_open, self._export_closed, self._export_fills = _export_maps()
        self.lock = threading.RLock()
        self.submitted = 0
        self.rejected = 0
        self.filled = 0
        self.duplicate_fills = 0
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

    def _add_open(self, order: Order) -> None:
        """Record ``order`` as open (both maps), replacing a record of the same id. Locked."""
        cid = order.client_order_id
        if cid in self._open:
            self._drop_open(cid)
        self._open[cid] = order
        self._open_by_symbol.setdefault(order.request.symbol, {})[cid] = order

    def _drop_open(self, cid: str) -> None:
        """Forget ``cid`` as open (both maps), if it was. Locked."""
        order = self._open.pop(cid, None)
        if order is None:
            return
        symbol = order.request.symbol
        same_symbol = self._open_by_symbol[symbol]
        del same_symbol[cid]
        if not same_symbol:
            del self._open_by_symbol[symbol]

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
                if _closed_as_missing(order):
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

    # ------------------------------------------------------------ queries
    def open_orders(self) -> tuple[OrderSnapshot, ...]:
        with self.lock:
            return tuple(o.snapshot() for o in self._open.values())

    def get(self, client_order_id: str) -> OrderSnapshot | None:
        with self.lock:
            order = self._open.get(client_order_id) or self._closed.get(client_order_id)
            return order.snapshot() if order is not None else None

    def all_orders(self) -> tuple[OrderSnapshot, ...]:
        """Open orders and the retained closed ones, oldest closed first."""
        with self.lock:
            return tuple(o.snapshot() for o in (*self._closed.values(), *self._open.values()))

    def stats(self) -> OrderStats:
        with self.lock:
            return OrderStats(len(self._open), self.submitted, self.rejected, self.filled,
                              self.duplicate_fills)

    # ------------------------------------------------------------ recovery
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
        if order is None or not _closed_as_missing(order):
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

    # ------------------------------------------------------------ checkpoints
    def capture_state(self) -> dict[str, Any]:
        """The checkpoint's order book, in O(orders changed since the last capture).

        Like :meth:`export_state`, but ``orders`` (retained closed, oldest first, then
        open) and ``recent_fill_ids`` are :class:`~livetrade.state.chunks.Chunked` views
        that are never mutated afterwards: safe to hand to the checkpoint writer thread
        without copying.
        """
        with self.lock:
            exported = self._exported
            changed = self._changed
            for cid in changed:
                order = self._open.get(cid) or self._closed.get(cid)
                if order is not None:
                    exported[cid] = order_to_dict(order)
            sync_ordered(self._export_closed, self._closed, changed, exported.__getitem__)
            sync_ordered(self._export_open, self._open, changed, exported.__getitem__)
            self._changed = set()
            sync_fifo(self._export_fills, self._recent_fill_ids)
            return {
                "orders": self._export_closed.freeze() + self._export_open.freeze(),
                "prefix": self.ids.prefix,
                "next_sequence": self.ids.next_sequence,
                "recent_fill_ids": self._export_fills.freeze(),
                "counters": {"submitted": self.submitted, "rejected": self.rejected,
                             "filled": self.filled, "duplicate_fills": self.duplicate_fills},
            }

    def export_state(self) -> dict[str, Any]:
        """Open orders, the retained closed ones (oldest first) with their full lifecycle,
        the id sequence and recent fill ids of unknown orders, as plain lists. O(book): the
        checkpoint path uses :meth:`capture_state`."""
        state = self.capture_state()
        return {**state, "orders": list(state["orders"].values()),
                "recent_fill_ids": list(state["recent_fill_ids"].keys())}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace the order book with ``state`` from :meth:`export_state`.

        Everything is parsed first; a bad ``state`` raises and changes nothing. The id
        generator resumes at the saved sequence (never below where it already is), so no
        client order id is ever issued twice.
        """
        orders = [order_from_dict(item) for item in state["orders"]]
        # The export maps are built here, before the engine runs, so that the first
        # capture after a restore is as cheap as any other.
        exported = {o.client_order_id: order_to_dict(o) for o in orders}
        export_open, export_closed, export_fills = _export_maps()
        for o in orders:
            target = export_open if o.status.is_open else export_closed
            target.set(o.client_order_id, exported[o.client_order_id])
        recent = OrderedDict((str(f), None) for f in state.get("recent_fill_ids", []))
        for fill_id in recent:
            export_fills.set(fill_id, None)
        next_sequence = max(int(state["next_sequence"]), self.ids.next_sequence)
        prefix = str(state["prefix"])
        counters = {k: int(v) for k, v in state.get("counters", {}).items()}
        with self.lock:
            self._open, self._open_by_symbol = {}, {}
            for o in orders:
                if o.status.is_open:
                    self._add_open(o)
            self._closed = OrderedDict((o.client_order_id, o) for o in orders
                                       if o.status.is_terminal)
            self._recent_fill_ids = recent
            self._exported = exported
            self._changed = set()
            self._export_open, self._export_closed = export_open, export_closed
            self._export_fills = export_fills
            self.ids = ClientOrderIdGenerator(prefix, next_sequence)
            self.submitted = counters.get("submitted", self.submitted)
            self.rejected = counters.get("rejected", self.rejected)
            self.filled = counters.get("filled", self.filled)
            self.duplicate_fills = counters.get("duplicate_fills", self.duplicate_fills)

    # ------------------------------------------------------------ internals
    @staticmethod
    def _status_after_failed_cancel(order: Order) -> OrderStatus:
        if order.filled_quantity > 0:
            return S.PARTIALLY_FILLED
        # Never acknowledged stays SUBMITTED: a later reject must still be able to land.
        return order.status_before_cancel or S.ACCEPTED

    def _lookup(self, cid: str, event: Event) -> Order | None:
        order = self._open.get(cid)
        if order is not None:
            self._changed.add(cid)  # the caller is about to change it
        else:
            closed = self._closed.get(cid)
            _log.debug("stale_order_update", client_order_id=cid, event_type=type(event).__name__,
                       status=closed.status.value if closed else "unknown")
        return order

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

    def _move(self, order: Order, status: OrderStatus) -> None:
        cid = order.client_order_id
        if status not in TRANSITIONS[order.status]:  # what check_transition tests, inlined
            check_transition(order.status, status, cid)
        order.status = status
        order.updated_at = self._clock.now()
        self._changed.add(cid)
        if status in TERMINAL_STATES:
            self._drop_open(cid)
            self._closed[cid] = order
            if len(self._closed) > self._closed_capacity:
                evicted, _ = self._closed.popitem(last=False)
                if evicted not in self._open:
                    self._exported.pop(evicted, None)
                    self._changed.discard(evicted)

    def _report(self, error_type: str, message: str, severity: Severity, **context: str) -> None:
        _log.warning(error_type, message=message, **context)
        self._publish(trusted(SystemErrorEvent, error_type=error_type, message=message,
                              severity=severity, source="order_manager",
                              timestamp=self._clock.now(), context=context))


def _closed_as_missing(order: Order) -> bool:
    """Closed by :meth:`OrderManager.close_missing` and not settled by the broker since."""
    return order.status is S.CANCELED and order.reject_reason.startswith(MISSING_AT_BROKER)


def _export_maps() -> tuple[ChunkedMap[str, dict[str, Any]], ChunkedMap[str, dict[str, Any]],
                            ChunkedMap[str, None]]:
    """The capture's copy-on-write maps: open orders, closed orders, recent fill ids."""
    return ChunkedMap(tag="open"), ChunkedMap(tag="closed"), ChunkedMap(tag="fills")
