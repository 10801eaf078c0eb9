"""ccxt's unified dicts → our types, with ``Decimal`` straight from the venue's strings.

ccxt parses numbers into floats; the venue sent strings. Wherever the raw payload
(``info``) has the field, the string is used, so ``0.1`` stays ``Decimal("0.1")``; the
float is the fallback (through ``repr``, which round-trips exactly what ccxt holds).
The raw field names differ per venue, so each lookup names its candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from livetrade.brokers.base import BrokerOrder
from livetrade.errors import PermanentBrokerError
from livetrade.events import OrderFill, OrderType, Side, TimeInForce, trusted
from livetrade.orders import OrderRequest

PRICE_KEYS = ("price", "p", "px", "execPrice", "avgPrice")
QTY_KEYS = ("qty", "q", "sz", "execQty", "executedQty")
FEE_KEYS = ("commission", "n", "fee", "execFee")
FEE_ASSET_KEYS = ("commissionAsset", "N", "feeToken", "feeCurrency")


def to_decimal(value: Any, what: str) -> Decimal:
    """A finite Decimal from a venue number (string preferred), or PermanentBrokerError."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise PermanentBrokerError(f"venue sent {what}={value[:40]!r}, not a number"
                                       ) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        raise PermanentBrokerError(f"venue sent {what}={value!r}, not a number")
    if not result.is_finite():
        raise PermanentBrokerError(f"venue sent {what}={value!r}, not finite")
    return result


def raw_decimal(item: Mapping[str, Any], keys: Sequence[str], fallback: Any, what: str
                ) -> Decimal:
    """The first of ``keys`` in ``item["info"]`` as a Decimal, else ``fallback``."""
    info = item.get("info")
    if isinstance(info, Mapping):
        for key in keys:
            value = info.get(key)
            if isinstance(value, str) and value.strip():
                return to_decimal(value, what)
    return to_decimal(fallback, what)


def utc_ms(milliseconds: Any, default: datetime) -> datetime:
    if isinstance(milliseconds, int | float) and not isinstance(milliseconds, bool):
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    return default


def fill_id(market_id: str, trade_id: Any) -> str:
    """Venue trade ids are unique per market on most venues: prefix the market."""
    return f"{market_id}:{trade_id}"


def trade_to_fill(trade: Mapping[str, Any], *, client_order_id: str, market_id: str,
                  base: str, quote: str, side: Side | None, now: datetime,
                  order_id: str | None = None) -> OrderFill:
    """One venue execution as our fill.

    The fee is split by its currency: in the quote currency it is ``commission`` (paid
    from cash); in the base asset it is ``fee_in_kind`` (taken from the position, as a spot
    venue does when charging a buy in the asset bought); in any other currency (a fee
    token) it is not on our book and is left out.
    """
    price = raw_decimal(trade, PRICE_KEYS, trade.get("price"), "price")
    quantity = raw_decimal(trade, QTY_KEYS, trade.get("amount"), "amount")
    commission = fee_in_kind = Decimal(0)
    fee: Mapping[str, Any] = trade.get("fee") or {}
    raw = trade.get("info")
    info: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    currency = next((str(info[k]) for k in FEE_ASSET_KEYS if isinstance(info.get(k), str)),
                    str(fee.get("currency") or ""))
    cost = next((info[k] for k in FEE_KEYS if isinstance(info.get(k), str)), fee.get("cost"))
    if cost is not None:
        amount = abs(to_decimal(cost, "fee"))
        if currency == quote:
            commission = amount
        elif currency == base:
            fee_in_kind = amount
    trade_side = side or Side(str(trade.get("side") or "buy").lower())
    return trusted(OrderFill, order_id=str(order_id or trade.get("order") or ""),
                   client_order_id=client_order_id, symbol=str(trade.get("symbol") or ""),
                   side=trade_side, fill_price=price, fill_amount=quantity,
                   commission=commission, fee_in_kind=fee_in_kind,
                   timestamp=utc_ms(trade.get("timestamp"), now),
                   fill_id=fill_id(market_id, trade.get("id")))


_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


def order_to_broker_order(order: Mapping[str, Any], client_order_id: str) -> BrokerOrder:
    """A venue order (ccxt unified) as the reconciliation sees it."""
    kind = _TYPES.get(str(order.get("type") or "").lower(), OrderType.LIMIT)
    stop = order.get("triggerPrice") or order.get("stopPrice")
    price = order.get("price")
    if stop and kind is OrderType.LIMIT:
        kind = OrderType.STOP_LIMIT
    tif = str(order.get("timeInForce") or "GTC").upper()
    request = OrderRequest(
        symbol=str(order.get("symbol")), side=Side(str(order.get("side")).lower()),
        quantity=raw_decimal(order, ("origQty", "qty", "sz", "origSz"), order.get("amount"),
                             "amount"),
        order_type=kind,
        limit_price=to_decimal(price, "price") if price and kind is not OrderType.MARKET
        else None,
        stop_price=to_decimal(stop, "stop") if stop else None,
        time_in_force=TimeInForce(tif) if tif in TimeInForce.__members__ else TimeInForce.GTC)
    filled = raw_decimal(order, ("executedQty", "cumExecQty"), order.get("filled") or 0,
                         "filled")
    return BrokerOrder(client_order_id=client_order_id, broker_order_id=str(order.get("id")),
                       request=request, filled_quantity=filled)
