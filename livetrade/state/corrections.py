"""Applying a reconciliation plan to the engine's book: one place, for restart and live runs."""

from __future__ import annotations

from collections.abc import Callable

from livetrade.events import OrderFill, Severity
from livetrade.order_manager import OrderManager
from livetrade.portfolio import Portfolio
from livetrade.risk import KillSwitch
from livetrade.state.reconcile import ReconciliationPlan

Warn = Callable[[str, str, Severity], None]


def apply_plan(plan: ReconciliationPlan, *, apply_fill: Callable[[OrderFill], object],
               orders: OrderManager, portfolio: Portfolio, kill_switch: KillSwitch,
               warn: Warn, close_reason: str) -> None:
    """Book missed fills, adopt unknown orders, close missing ones, overwrite what still
    differs (all empty unless the policy is ``adopt_broker``); report every difference;
    engage the kill switch when the policy is ``halt`` and anything differed."""
    fixes = plan.corrections
    for fill in fixes.fills_to_book:
        apply_fill(fill)
    for order in fixes.orders_to_adopt:
        orders.adopt(order.client_order_id, order.broker_order_id, order.request,
                     order.filled_quantity)
    for cid in fixes.orders_to_close:
        orders.close_missing(cid, close_reason)
    for symbol, quantity in fixes.positions_to_set.items():
        portfolio.override_position(symbol, quantity)
    if fixes.cash_to_set is not None:
        portfolio.override_cash(fixes.cash_to_set)
    for difference in plan.differences:
        warn(f"reconciliation_{difference.kind}", difference.detail, Severity.WARNING)
    if plan.halt:
        kill_switch.engage("reconciliation found differences; policy is halt")
        warn("trading_halted", "reconciliation differences under policy 'halt': new orders "
             "are refused until an operator releases the kill switch", Severity.CRITICAL)
