"""Pre-trade risk checks: the last gate before anything reaches a broker.

Every check is a plain comparison against a limit from config; ``None`` disables a limit.
A failed check returns a human-readable reason, which the order manager turns into an
``OrderReject`` event (the strategy sees it in ``on_reject``; nothing is sent).

The orders-per-second window uses the engine's clock, so a replay, whose clock follows the
data, is rate-limited by data time and stays deterministic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from livetrade.clock import Clock
from livetrade.orders import OrderRequest

_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class RiskLimits:
    """Hard limits. Quantities are absolute; ``max_position_quantity`` is per symbol."""

    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_quantity: Decimal | None = None
    max_open_orders: int | None = None
    max_orders_per_second: int | None = None


class KillSwitch:
    """When engaged, no new order passes and the engine cancels the open ones.

    Engaging is sticky until :meth:`release` is called by a person (or the CLI).
    """

    def __init__(self) -> None:
        self.engaged = False
        self.reason = ""

    def engage(self, reason: str) -> None:
        self.engaged = True
        self.reason = reason or "kill switch engaged"

    def release(self) -> None:
        self.engaged = False
        self.reason = ""


class RiskChecker:
    """Applies :class:`RiskLimits` and the :class:`KillSwitch` to one order request.

    Called on the dispatcher thread only, so its rate window needs no lock.
    """

    def __init__(self, limits: RiskLimits, clock: Clock, kill_switch: KillSwitch | None = None):
        self.limits = limits
        self.kill_switch = kill_switch or KillSwitch()
        self._clock = clock
        self._recent: deque[datetime] = deque()

    def check(
        self,
        request: OrderRequest,
        *,
        position: Decimal,
        open_orders: int,
        reference_price: Decimal | None,
    ) -> str | None:
        """Return why ``request`` must not be sent, or ``None`` if it may go."""
        limits = self.limits
        if self.kill_switch.engaged:
            return f"kill switch engaged: {self.kill_switch.reason}"
        qty = request.quantity
        max_quantity = limits.max_order_quantity
        if max_quantity is not None and qty > max_quantity:
            return f"quantity {qty} exceeds max_order_quantity {max_quantity}"
        max_notional = limits.max_order_notional
        if max_notional is not None:
            price = request.limit_price or reference_price or request.stop_price
            if price is None:
                return f"no reference price for {request.symbol} to check max_order_notional"
            notional = qty * price
            if notional > max_notional:
                return f"notional {notional} exceeds max_order_notional {max_notional}"
        max_position = limits.max_position_quantity
        if max_position is not None:
            projected = position + qty * request.side.sign
            if abs(projected) > max_position:
                return (f"position in {request.symbol} would be {projected}, beyond "
                        f"max_position_quantity {max_position}")
        max_open = limits.max_open_orders
        if max_open is not None and open_orders >= max_open:
            return f"{open_orders} orders already open (max_open_orders {max_open})"
        per_second = limits.max_orders_per_second
        if per_second is not None:
            now = self._clock.now()
            window_start = now - _ONE_SECOND
            recent = self._recent
            while recent and recent[0] <= window_start:
                recent.popleft()
            if len(recent) >= per_second:
                return f"more than {per_second} orders in one second"
            recent.append(now)
        return None
