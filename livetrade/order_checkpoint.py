"""The order book in and out of checkpoints: incremental capture, full export, restore.

Its one job is the checkpoint's view of the orders, kept apart from the live lifecycle
(:mod:`livetrade.order_manager`), which only marks what it changed (``_changed``) and never
builds an export itself. The records are :mod:`livetrade.order_records`' dicts, so the
journal, the checkpoint and the manager share one lossless format.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from livetrade.order_book import OrderBook
from livetrade.order_records import order_from_dict, order_to_dict
from livetrade.orders import ClientOrderIdGenerator
from livetrade.state.chunks import sync_fifo, sync_ordered


class OrderCheckpoints(OrderBook):
    """Captures, exports and restores an :class:`~livetrade.order_book.OrderBook`.

    Exists so the checkpoint format and its incremental bookkeeping live in one place; the
    order manager inherits it. :meth:`capture_state` and :meth:`export_state` may be called
    from any thread (they take the lock); :meth:`restore_state` is for start-up, before the
    engine runs.
    """

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
        export_open, export_closed, export_fills = self._export_maps()
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
