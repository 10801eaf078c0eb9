"""The order manager's records, and the only primitives that change them.

Kept apart from the lifecycle (:mod:`livetrade.order_manager`), the checkpoints
(:mod:`livetrade.order_checkpoint`) and the reconciliation (:mod:`livetrade.order_reconciliation`)
so that each of those reads and writes one set of records the same way: every open order is in
both open maps, every change is marked for the incremental checkpoint export, and the closed
history stays bounded. :class:`OrderBook` holds no policy of its own; the order manager builds
on it.

State, all guarded by ``lock`` (the dispatcher thread is the only writer):

* ``_open``: client order id -> open :class:`~livetrade.orders.Order`;
  ``_open_by_symbol``: symbol -> client order id -> the same open orders.
* ``_closed``: client order id -> finished order, oldest first, at most ``closed_capacity``.
* ``_recent_fill_ids``: booked fill id -> ``None``, newest last, bounded.
* ``_exported``: client order id -> its last exported dict; ``_changed``: the ids changed since
  the last capture (their dicts are stale).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from livetrade.clock import Clock
from livetrade.events import Event, Severity, SystemErrorEvent, trusted
from livetrade.orders import (
    TERMINAL_STATES,
    TRANSITIONS,
    ClientOrderIdGenerator,
    Order,
    OrderSnapshot,
    OrderStatus,
    check_transition,
)
from livetrade.state.chunks import ChunkedMap

_log = structlog.get_logger("livetrade.orders")


@dataclass(frozen=True)
class OrderStats:
    """The order counters at one instant, copied under the lock, for status and metrics
    (which must not hold the order manager's lock while they render)."""

    open: int
    submitted: int
    rejected: int
    filled: int
    duplicate_fills: int


class OrderBook:
    """The open and retained closed orders, booked fill ids and counters of one order manager.

    Exists so the lifecycle, the checkpoints and the reconciliation change the records only
    through :meth:`_add_open`, :meth:`_drop_open`, :meth:`_lookup` and :meth:`_move`, which
    keep the two open maps in step, the closed history bounded and the checkpoint export's
    change set complete. Not used on its own: :class:`~livetrade.order_manager.OrderManager`
    is the class to construct. The read-only queries take ``lock`` and are safe from any
    thread.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        publish: Callable[[Event], None],
        ids: ClientOrderIdGenerator | None,
        closed_capacity: int,
    ) -> None:
        self._clock = clock
        self._publish = publish
        self.ids = ids or ClientOrderIdGenerator()
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
        # it changed (every change marks it in _changed, under the lock).
        self._exported: dict[str, dict[str, Any]] = {}
        self._changed: set[str] = set()
        self._export_open, self._export_closed, self._export_fills = self._export_maps()
        self.lock = threading.RLock()
        self.submitted = 0
        self.rejected = 0
        self.filled = 0
        self.duplicate_fills = 0

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

    # ------------------------------------------------------------ primitives (locked)
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

    def _lookup(self, cid: str, event: Event) -> Order | None:
        order = self._open.get(cid)
        if order is not None:
            self._changed.add(cid)  # the caller is about to change it
        else:
            closed = self._closed.get(cid)
            _log.debug("stale_order_update", client_order_id=cid, event_type=type(event).__name__,
                       status=closed.status.value if closed else "unknown")
        return order

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

    @staticmethod
    def _export_maps() -> tuple[ChunkedMap[str, dict[str, Any]], ChunkedMap[str, dict[str, Any]],
                                ChunkedMap[str, None]]:
        """The capture's copy-on-write maps: open orders, closed orders, recent fill ids."""
        return ChunkedMap(tag="open"), ChunkedMap(tag="closed"), ChunkedMap(tag="fills")
