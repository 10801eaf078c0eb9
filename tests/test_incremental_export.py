"""Checkpoint exports are incremental: after any sequence of changes they equal a full,
fresh export, and an export already handed to the writer thread never changes."""

from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from kit import at, order_manager

from livetrade.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFill,
    OrderReject,
    Side,
)
from livetrade.order_records import order_to_dict
from livetrade.orders import OrderRequest
from livetrade.portfolio import Portfolio

OPS = st.lists(st.tuples(st.sampled_from(["submit", "accept", "fill", "cancel", "canceled",
                                          "cancel_rejected", "reject", "adopt", "close",
                                          "export"]),
                         st.integers(0, 5), st.integers(1, 4)), max_size=60)


def full_export(manager: object) -> list[dict[str, object]]:
    return [order_to_dict(o) for o in (*manager._closed.values(),  # type: ignore[attr-defined]
                                       *manager._open.values())]  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_incremental_order_export_equals_a_full_export(ops: list[tuple[str, int, int]]) -> None:
    manager, _, _ = order_manager(closed_capacity=3)
    cids: list[str] = []
    handed_over: list[tuple[object, object]] = []
    fills = 0
    for op, pick, qty in ops:
        cid = cids[pick % len(cids)] if cids else "none"
        if op == "submit":
            cids.append(manager.submit(OrderRequest(symbol="X", side=Side.BUY,
                                                    quantity=Decimal(qty))))
        elif op == "accept":
            manager.on_accepted(OrderAccepted(order_id=f"b-{cid}", client_order_id=cid,
                                              timestamp=at(1)))
        elif op == "fill":
            fills += 1
            manager.record_fill(OrderFill(order_id="b", client_order_id=cid, symbol="X",
                                          side=Side.BUY, fill_price=Decimal(10),
                                          fill_amount=Decimal(1), timestamp=at(2),
                                          fill_id=f"f{fills}"))
        elif op == "cancel":
            manager.cancel(cid)
        elif op == "canceled":
            manager.on_canceled(OrderCanceled(order_id="b", client_order_id=cid,
                                              timestamp=at(3)))
        elif op == "cancel_rejected":
            manager.on_cancel_rejected(OrderCancelRejected(order_id="b", client_order_id=cid,
                                                           reason="late", timestamp=at(3)))
        elif op == "reject":
            manager.on_reject(OrderReject(order_id="b", client_order_id=cid, reason="no",
                                          timestamp=at(3)))
        elif op == "adopt":
            new = f"adopted-{len(cids)}"
            manager.adopt(new, "b", OrderRequest(symbol="X", side=Side.SELL,
                                                 quantity=Decimal(qty)), Decimal(0))
            cids.append(new)
        elif op == "close":
            manager.close_missing(cid, "gone")
        else:
            exported = manager.export_state()["orders"]
            handed_over.append((exported, copy.deepcopy(exported)))
        assert manager.export_state()["orders"] == full_export(manager)
    for exported, frozen in handed_over:
        assert exported == frozen  # nothing handed over was changed afterwards


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fill", "override", "export"]),
                          st.sampled_from(["A", "B", "C"]), st.integers(-3, 3)), max_size=40))
def test_incremental_portfolio_export_equals_a_fresh_book(
        ops: list[tuple[str, str, int]]) -> None:
    book = Portfolio(Decimal(1000))
    handed_over: list[tuple[object, object]] = []
    for op, symbol, qty in ops:
        if op == "fill" and qty:
            book.apply_fill(symbol, Side.BUY if qty > 0 else Side.SELL, Decimal(abs(qty)),
                            Decimal(10 + qty), Decimal(0))
        elif op == "override":
            book.override_position(symbol, Decimal(qty))
        else:
            state = book.export_state()
            handed_over.append((state, copy.deepcopy(state)))
        fresh = [{"symbol": s, "quantity": p.quantity, "average_cost": p.average_cost,
                  "flow": p.flow, "booked": p.booked, "closed": p.closed}
                 for s, p in book._positions.items()]
        assert book.export_state()["positions"] == fresh
    for exported, frozen in handed_over:
        assert exported == frozen
