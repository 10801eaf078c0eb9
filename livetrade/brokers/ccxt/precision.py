"""An order checked against the venue's market rules before it is sent.

ccxt's market description carries the lot step and tick (``precision``, in whatever mode
the venue uses; ccxt's ``amount_to_precision``/``price_to_precision`` apply it) and the
limits (minimum and maximum amount, price and notional). An order that breaks one is
refused here, with the nearest valid value in the reason, instead of being rounded
silently: the engine books exactly the order the venue holds, or none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt

from livetrade.errors import OrderRejectedError
from livetrade.orders import OrderRequest


def _on_grid(exchange: ccxt.Exchange, symbol: str, value: Decimal, kind: str) -> None:
    convert = exchange.amount_to_precision if kind == "quantity" else exchange.price_to_precision
    try:
        nearest = Decimal(str(convert(symbol, str(value))))
    except ccxt.BaseError as exc:
        raise OrderRejectedError(f"{kind} {value} is not valid for {symbol}: {exc}",
                                 symbol=symbol) from None
    if nearest != value:
        step = "lot step" if kind == "quantity" else "tick"
        raise OrderRejectedError(f"{kind} {value} is not on {symbol}'s {step}; the nearest "
                                 f"valid {kind} is {nearest}", symbol=symbol, field=kind)


def _limit(limits: dict[str, Any], name: str, bound: str) -> Decimal | None:
    value = (limits.get(name) or {}).get(bound)
    return None if value is None else Decimal(repr(value)) if isinstance(value, float) \
        else Decimal(str(value))


def check_order(exchange: ccxt.Exchange, market: dict[str, Any], request: OrderRequest,
                reference_price: Decimal | None) -> None:
    """Raise ``OrderRejectedError`` naming the first rule ``request`` breaks."""
    symbol = request.symbol
    _on_grid(exchange, symbol, request.quantity, "quantity")
    for price in (request.limit_price, request.stop_price):
        if price is not None:
            _on_grid(exchange, symbol, price, "price")
    limits = market.get("limits") or {}
    low, high = _limit(limits, "amount", "min"), _limit(limits, "amount", "max")
    if low is not None and request.quantity < low:
        raise OrderRejectedError(f"quantity {request.quantity} is below {symbol}'s minimum "
                                 f"{low}", symbol=symbol)
    if high is not None and request.quantity > high:
        raise OrderRejectedError(f"quantity {request.quantity} is above {symbol}'s maximum "
                                 f"{high}", symbol=symbol)
    for price in (request.limit_price, request.stop_price):
        if price is None:
            continue
        low, high = _limit(limits, "price", "min"), _limit(limits, "price", "max")
        if (low is not None and price < low) or (high is not None and price > high):
            raise OrderRejectedError(f"price {price} is outside {symbol}'s range "
                                     f"[{low}, {high}]", symbol=symbol)
    minimum = _limit(limits, "cost", "min")
    if minimum is not None and reference_price is not None:
        notional = request.quantity * reference_price
        if notional < minimum:
            raise OrderRejectedError(f"notional {notional} ({request.quantity} x "
                                     f"{reference_price}) is below {symbol}'s minimum "
                                     f"{minimum}", symbol=symbol)
