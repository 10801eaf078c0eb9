"""Our orders at TWS: what we asked, what IB calls it, and what TWS's answers mean.

Order state changes for reasons of its own (TWS's status quirks, reconciliation rules), so it
lives here, apart from the connection life: :class:`IBOrders` holds the order records (client
order id -> IB order), the submits still waiting for TWS's answer and the ``orderRef`` index
of IB's trades. It places and cancels orders, turns TWS's order statuses into engine order
events and, after a (re)connect, reconciles what TWS reports against the records. Whether the
link is up is not its business: :class:`IBSession` checks that before calling in and tells it
when the link drops. Loop-thread only, like the session that owns it, so none of its state
needs a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from livetrade.brokers.base import BrokerOrder, EventSink
from livetrade.brokers.ib.codes import CodeKind, classify
from livetrade.brokers.ib.fills import FillRouter
from livetrade.brokers.ib.translate import (
    CANCELED,
    REJECTED,
    WORKING,
    broker_id,
    broker_order,
    dec,
    ib_order,
)
from livetrade.clock import Clock
from livetrade.errors import AmbiguousOutcomeError, OrderRejectedError, PermanentBrokerError
from livetrade.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderReject,
    Severity,
    Side,
)
from livetrade.orders import OrderRequest


class SystemAlarm(Protocol):
    """How an order problem that is no order event (an order lost at TWS) reaches the
    engine: the session's ``SystemErrorEvent`` emitter, so every such event has one source."""

    def __call__(self, error_type: str, message: str, severity: Severity,
                 **context: str) -> None: ...


@dataclass
class _Record:
    """One of our orders: what we asked, and what IB calls it."""

    cid: str
    request: OrderRequest
    order_id: int = 0
    perm_id: int = 0
    accepted: bool = False
    done: bool = False


class IBOrders:
    """The single owner of our order records and of what TWS says about them (see the
    module docstring). Owned by :class:`IBSession`; every method runs on the loop thread."""

    def __init__(self, ib: Any, lib: Any, sink: EventSink, clock: Clock, *,
                 fills: FillRouter, symbol_of: Callable[[Any], str],
                 alarm: SystemAlarm) -> None:
        self._ib = ib
        self._lib = lib
        self._sink = sink
        self._clock = clock
        self._fills = fills
        self._symbol_of = symbol_of
        self._alarm = alarm
        self._records: dict[str, _Record] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._by_ref: dict[str, Any] = {}  # orderRef (our client order id) -> ib Trade

    # ------------------------------------------------------------------ calls
    async def place(self, cid: str, request: OrderRequest, contract: Any, *, account: str,
                    timeout_s: float) -> None:
        """Record the order, send it and wait until TWS acknowledges or refuses it. The
        caller (:meth:`IBSession.submit`) has checked the link, the duplicate, the contract."""
        record = self._records[cid] = _Record(cid, request)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[cid] = waiter
        trade = self._ib.placeOrder(contract, ib_order(self._lib, cid, request, account))
        record.order_id = trade.order.orderId
        self._by_ref[cid] = trade
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            raise AmbiguousOutcomeError("TWS did not acknowledge the order in time",
                                        client_order_id=cid) from None
        finally:
            self._waiters.pop(cid, None)

    def cancel(self, cid: str) -> None:
        trade = self.trade_of(cid)
        if trade is None:
            raise PermanentBrokerError("IB knows no open order with this client id",
                                       client_order_id=cid)
        self._ib.cancelOrder(trade.order)

    # ------------------------------------------------------------------ lookups
    def cid_of(self, order_id: int) -> str | None:
        """Our client order id for IB's (session) order id, if it is one of ours."""
        if order_id <= 0:
            return None
        return next((r.cid for r in self._records.values() if r.order_id == order_id), None)

    def trade_of(self, cid: str) -> Any | None:
        """IB's trade for our client order id (open or done), by ``orderRef``: O(1)."""
        return self._by_ref.get(cid)

    def index_trades(self) -> None:
        """Rebuild the ``orderRef`` index from everything ib_insync holds. Needed after each
        sync: trades read at connect (open and completed orders) arrive without events."""
        self._by_ref = {t.order.orderRef: t for t in self._ib.trades() if t.order.orderRef}

    def forget_trades(self) -> None:
        self._by_ref.clear()  # ib_insync forgets its trades too; rebuilt after reconnecting

    def fail_pending(self, why: str) -> None:
        """Every submit still waiting for TWS's answer fails now, as ambiguous."""
        for cid, waiter in list(self._waiters.items()):
            if not waiter.done():
                waiter.set_exception(AmbiguousOutcomeError(
                    f"{why} before TWS acknowledged the order", client_order_id=cid))
        self._waiters.clear()

    # ------------------------------------------------------------------ TWS's answers
    def on_status(self, trade: Any) -> None:
        cid = trade.order.orderRef
        if cid:
            self._by_ref.setdefault(cid, trade)
        record = self._records.get(cid)
        if not cid or record is None or record.done:
            return
        record.order_id = trade.order.orderId or record.order_id
        record.perm_id = trade.order.permId or record.perm_id
        status = trade.orderStatus.status
        oid = broker_id(record.perm_id, record.order_id)
        now = self._clock.now()
        waiter = self._waiters.get(cid)
        error_code = trade.log[-1].errorCode if trade.log else 0
        if status in CANCELED and classify(error_code) is CodeKind.CANCEL_REJECTED:
            # ib_insync marks an order cancelled on *any* order error, a refused cancel
            # included; TWS still works it. Undo that (else openTrades() would lose it);
            # the session's _on_error tells the engine the cancel was refused.
            trade.orderStatus.status = _status_before_cancel(trade)
            return
        if status in CANCELED | REJECTED and error_code not in (0, 202):
            record.done = True
            reason = f"IB error {error_code}: {trade.log[-1].message}"
            if waiter is not None and not waiter.done():
                waiter.set_exception(OrderRejectedError(reason, client_order_id=cid,
                                                        ib_code=error_code))
            else:
                self._sink(OrderReject(order_id=oid, client_order_id=cid, reason=reason,
                                       timestamp=now, symbol=record.request.symbol))
            return
        if waiter is not None and not waiter.done() and status != "PendingSubmit":
            waiter.set_result(None)
        if status in WORKING | {"Filled"} and not record.accepted:
            record.accepted = True
            self._sink(OrderAccepted(order_id=oid, client_order_id=cid, timestamp=now))
        if status in CANCELED:
            record.done = True
            self._sink(OrderCanceled(order_id=oid, client_order_id=cid, timestamp=now,
                                     reason=f"IB status {status}"))
        elif status == "Filled":
            record.done = True

    def on_exec(self, trade: Any, fill: Any) -> None:
        if trade.order.orderRef in self._records:
            self.on_status(trade)  # a fill is also an acknowledgement
        self._fills.on_execution(fill)

    def cancel_rejected(self, cid: str, reason: str) -> None:
        """TWS refused to cancel our order ``cid`` (``cid`` from :meth:`cid_of`)."""
        record = self._records[cid]
        # The order manager holds the order in PENDING_CANCEL until it hears back.
        self._sink(OrderCancelRejected(
            order_id=broker_id(record.perm_id, record.order_id), client_order_id=cid,
            reason=reason, timestamp=self._clock.now()))

    async def reconcile(self) -> None:
        """After a (re)connect: match TWS's open orders, executions and completed orders
        back to our orders by ``orderRef``; emit what we missed (acks, fills, cancels),
        each fill id once."""
        for trade in self._ib.openTrades():
            if trade.order.orderRef in self._records:
                self.on_status(trade)
        self._fills.replay(f for f in self._ib.fills() if f.execution.orderRef)
        open_refs = {t.order.orderRef for t in self._ib.openTrades()}
        missing = [r for r in self._records.values() if not r.done and r.cid not in open_refs
                   and not self._fills.fully_filled(r.cid, r.request.quantity)]
        if not missing:
            return
        completed = {t.order.orderRef: t for t in
                     await self._ib.reqCompletedOrdersAsync(apiOnly=True)}
        for record in missing:
            trade = completed.get(record.cid)
            if trade is not None and trade.orderStatus.status in CANCELED:
                record.done = True  # cancelled while we were away (by TWS, or a DAY expiry)
                self._sink(OrderCanceled(
                    order_id=broker_id(trade.order.permId, 0), client_order_id=record.cid,
                    timestamp=self._clock.now(), reason="cancelled at TWS while disconnected"))
            elif record.accepted:
                self._alarm("IBOrderUnknown", "an order we thought open is neither "
                            "open, filled nor cancelled at TWS after reconnecting",
                            Severity.WARNING, client_order_id=record.cid)

    # ------------------------------------------------------------------ queries
    def open_orders(self) -> list[BrokerOrder]:
        return [broker_order(self._symbol_of(t.contract), t) for t in self._ib.openTrades()
                if t.order.orderRef]

    def order(self, cid: str) -> BrokerOrder | None:
        trade = self.trade_of(cid)
        fills = [f for f in self._ib.fills() if f.execution.orderRef == cid]
        filled = sum((dec(f.execution.shares) for f in fills), Decimal(0))
        if trade is not None:
            # A completed order (reqCompletedOrders) carries its status but no quantities.
            found = broker_order(self._symbol_of(trade.contract), trade)
            return replace(found, filled_quantity=max(found.filled_quantity, filled))
        if not fills:
            return None
        # Done (not open) but executed today: it exists. After a restart we no longer hold
        # the request; what the executions tell (side, symbol, filled so far) stands in.
        ex = fills[-1].execution
        record = self._records.get(cid)
        request = record.request if record is not None else OrderRequest(
            self._symbol_of(fills[-1].contract), Side.BUY if ex.side == "BOT" else Side.SELL,
            filled)
        return BrokerOrder(cid, broker_id(ex.permId, ex.orderId), request, filled)


def _status_before_cancel(trade: Any) -> str:
    """The last status TWS reported before our cancel request (``Submitted`` if none)."""
    for entry in reversed(trade.log):
        if entry.status and entry.status not in CANCELED | {"PendingCancel"}:
            return str(entry.status)
    return "Submitted"
