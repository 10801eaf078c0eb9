"""Instrument filters: the checks a venue applies before it accepts an order.

Binance calls them PRICE_FILTER, LOT_SIZE and NOTIONAL; other venues have the same three
under other names. A price or quantity must lie within its bounds and be a whole number
of ticks or steps above the minimum; price times quantity must reach the minimum notional
(a market order is valued at the last price, as Binance does with its average price).
"""

from __future__ import annotations

from decimal import Decimal

from livetrade.events import OrderType
from livetrade.simexchange.config import SymbolSpec
from livetrade.simexchange.records import RejectReason, VenueReject


def _on_grid(value: Decimal, minimum: Decimal, step: Decimal) -> bool:
    return (value - minimum) % step == 0


def check_filters(spec: SymbolSpec, order_type: OrderType, quantity: Decimal, *,
                  price: Decimal | None, stop_price: Decimal | None, last: Decimal) -> None:
    """Raise ``VenueReject`` naming the first filter the order fails."""
    if quantity <= 0:
        raise VenueReject(RejectReason.BAD_PARAM, "quantity")
    needs_price = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    if needs_price and (price is None or price <= 0):
        raise VenueReject(RejectReason.BAD_PARAM, "price")
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and (
            stop_price is None or stop_price <= 0):
        raise VenueReject(RejectReason.BAD_PARAM, "stopPrice")
    for value in (price, stop_price):
        if value is None:
            continue
        if (value < spec.min_price or value > spec.max_price
                or not _on_grid(value, spec.min_price, spec.tick_size)):
            raise VenueReject(RejectReason.PRICE_FILTER, f"{value}")
    if (quantity < spec.min_qty or quantity > spec.max_qty
            or not _on_grid(quantity, spec.min_qty, spec.step_size)):
        raise VenueReject(RejectReason.LOT_SIZE, f"{quantity}")
    notional = quantity * (price if price is not None else last)
    if notional < spec.min_notional:
        raise VenueReject(RejectReason.NOTIONAL, f"{notional}")
