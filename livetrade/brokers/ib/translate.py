"""Between livetrade's orders/events and ib_insync's objects. Pure functions.

ib_insync carries quantities and prices as floats. On the way in a ``Decimal`` becomes the
nearest float; on the way out a float becomes the ``Decimal`` of its shortest repr
(``Decimal(repr(x))``), which gives back exactly the decimal TWS sent for every price and
size it prints with fewer than 16 significant digits - all real ones.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from livetrade.brokers.base import BrokerOrder
from livetrade.errors import InvalidOrderError
from livetrade.events import OrderFill, OrderType, Side, TimeInForce
from livetrade.orders import OrderRequest

_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
          OrderType.STOP_LIMIT: "STP LMT"}
_FROM_IB_TYPES = {v: k for k, v in _TYPES.items()}
_UNSET = 1e300  # ib_insync's UNSET_DOUBLE is sys.float_info.max; anything this big is unset

# TWS order states -> what they mean to us
WORKING = frozenset({"PreSubmitted", "Submitted", "PendingCancel", "ApiPending"})
CANCELED = frozenset({"Cancelled", "ApiCancelled"})
REJECTED = frozenset({"Inactive"})


def dec(value: float | int | str) -> Decimal:
    """A float from ib_insync as the decimal it was printed as (see module docstring)."""
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= _UNSET:
            return Decimal(0)
        return Decimal(repr(value))
    return Decimal(value)


def ib_order(lib: Any, cid: str, request: OrderRequest, account: str) -> Any:
    """The library's ``Order`` for ``request``; our client id travels in ``orderRef``."""
    order = lib.Order(action="BUY" if request.side is Side.BUY else "SELL",
                      totalQuantity=float(request.quantity),
                      orderType=_TYPES[request.order_type], tif=request.time_in_force.value,
                      orderRef=cid, account=account, transmit=True)
    if request.limit_price is not None:
        order.lmtPrice = float(request.limit_price)
    if request.stop_price is not None:
        order.auxPrice = float(request.stop_price)
    return order


def request_of(symbol: str, order: Any) -> OrderRequest:
    """What we asked for, rebuilt from an order TWS reports (for reconciliation)."""
    kind = _FROM_IB_TYPES.get(order.orderType)
    if kind is None:
        raise InvalidOrderError(f"IB order type {order.orderType!r} is not one of ours",
                                order_ref=order.orderRef)
    limit = dec(order.lmtPrice) if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = dec(order.auxPrice) if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
    tif = TimeInForce(order.tif) if order.tif in TimeInForce.__members__ else TimeInForce.DAY
    return OrderRequest(symbol=symbol, side=Side.BUY if order.action == "BUY" else Side.SELL,
                        quantity=dec(order.totalQuantity), order_type=kind, limit_price=limit,
                        stop_price=stop, time_in_force=tif)


def broker_order(symbol: str, trade: Any) -> BrokerOrder:
    order = trade.order
    return BrokerOrder(client_order_id=order.orderRef,
                       broker_order_id=broker_id(order.permId, order.orderId),
                       request=request_of(symbol, order),
                       filled_quantity=dec(trade.orderStatus.filled))


def broker_id(perm_id: int, order_id: int) -> str:
    """IB's ``permId`` when known (stable across sessions), else the session's orderId."""
    return str(perm_id) if perm_id else f"oid-{order_id}"


def order_fill(symbol: str, fill: Any, commission: Decimal, now: datetime) -> OrderFill:
    """An ``OrderFill`` (validated: TWS's values are untrusted input) from an IB fill."""
    ex = fill.execution
    when = ex.time if isinstance(ex.time, datetime) and ex.time.tzinfo else now
    return OrderFill(order_id=broker_id(ex.permId, ex.orderId), client_order_id=ex.orderRef,
                     symbol=symbol, side=Side.BUY if ex.side == "BOT" else Side.SELL,
                     fill_price=dec(ex.price), fill_amount=dec(ex.shares),
                     commission=max(commission, Decimal(0)), timestamp=when,
                     fill_id=ex.execId)


def commission_of(fill: Any) -> Decimal | None:
    """The commission reported for ``fill``, or ``None`` while its report has not come."""
    report = fill.commissionReport
    if not report.execId:
        return None
    return dec(report.commission)
