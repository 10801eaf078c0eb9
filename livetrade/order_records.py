"""Orders as plain data: the journal's request record and the checkpoint's order record.

Kept apart from the order manager (which owns the live records) so the state layer and the
manager share one lossless format: Decimals stay Decimals (the state layer writes them as
strings), datetimes stay timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from livetrade.events import OrderType, Side, TimeInForce
from livetrade.orders import Order, OrderRequest, OrderStatus


def request_to_dict(r: OrderRequest) -> dict[str, Any]:
    return {"symbol": r.symbol, "side": r.side.value, "order_type": r.order_type.value,
            "quantity": r.quantity, "limit_price": r.limit_price, "stop_price": r.stop_price,
            "time_in_force": r.time_in_force.value}


def request_from_dict(item: Mapping[str, Any]) -> OrderRequest:
    """The inverse of the journal's request record."""
    return OrderRequest(
        symbol=str(item["symbol"]),
        side=Side(item["side"]),
        quantity=Decimal(item["quantity"]),
        order_type=OrderType(item["order_type"]),
        limit_price=_optional_decimal(item.get("limit_price")),
        stop_price=_optional_decimal(item.get("stop_price")),
        time_in_force=TimeInForce(item["time_in_force"]),
    )


def order_to_dict(order: Order) -> dict[str, Any]:
    r = order.request
    return {
        "client_order_id": order.client_order_id,
        "broker_order_id": order.broker_order_id,
        "symbol": r.symbol,
        "side": r.side.value,
        "order_type": r.order_type.value,
        "quantity": r.quantity,
        "limit_price": r.limit_price,
        "stop_price": r.stop_price,
        "time_in_force": r.time_in_force.value,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_fill_price": order.average_fill_price,
        "commission": order.commission,
        "reject_reason": order.reject_reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at or order.created_at,
        "fill_ids": sorted(order.fill_ids),
        "status_before_cancel": (order.status_before_cancel.value
                                 if order.status_before_cancel else None),
        "shadow": order.shadow,
    }


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_from_dict(item: Mapping[str, Any]) -> Order:
    request = request_from_dict(item)
    before = item.get("status_before_cancel")
    return Order(
        client_order_id=str(item["client_order_id"]),
        request=request,
        created_at=_as_datetime(item["created_at"]),
        status=OrderStatus(item["status"]),
        broker_order_id=str(item.get("broker_order_id", "")),
        filled_quantity=Decimal(item["filled_quantity"]),
        average_fill_price=Decimal(item["average_fill_price"]),
        commission=Decimal(item["commission"]),
        reject_reason=str(item.get("reject_reason", "")),
        updated_at=_as_datetime(item["updated_at"]),
        fill_ids={str(f) for f in item.get("fill_ids", [])},
        status_before_cancel=OrderStatus(before) if before else None,
        shadow=bool(item.get("shadow", False)),
    )


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
