"""The simulator's own records: orders, trades and refusals, in no exchange's dialect.

Front doors (``binance/``, later Bybit and Hyperliquid) translate these to and from their
wire shapes; the core never builds a JSON body. Records are plain dicts-in-waiting:
``to_json``/``from_json`` keep Decimals as strings so persistence never goes through float.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from livetrade.events import OrderType, Side, TimeInForce


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class RejectReason(StrEnum):
    """Why the venue refused a request; each front door words these its own way."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    BAD_PARAM = "bad_param"
    PRICE_FILTER = "price_filter"
    LOT_SIZE = "lot_size"
    NOTIONAL = "notional"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    DUPLICATE_ORDER = "duplicate_order"
    UNKNOWN_ORDER = "unknown_order"
    UNSUPPORTED = "unsupported"


class VenueReject(Exception):
    """A request the venue refuses, with the reason and a human detail (no secrets)."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass
class VenueOrder:
    """One accepted order and everything the venue knows about it.

    Mutable, but only ever changed under the venue lock; readers get ``to_json`` copies.
    ``locked`` is what the order still holds of its funding asset (quote for a buy, base
    for a sell); it is released as the order fills or when it ends.
    """

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    created_ms: int
    updated_ms: int
    status: OrderStatus = OrderStatus.NEW
    filled: Decimal = Decimal(0)
    quote_filled: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)
    triggered: bool = False
    eligible_ms: int = 0  # fills wait until this venue time (the delayed-fill fault)
    trade_ids: list[int] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Decimal):
                data[key] = str(value)
        data["side"] = self.side.value
        data["order_type"] = self.order_type.value
        data["time_in_force"] = self.time_in_force.value
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VenueOrder:
        def dec(name: str) -> Decimal | None:
            value = data.get(name)
            return None if value is None else Decimal(value)

        return cls(
            order_id=int(data["order_id"]), client_order_id=str(data["client_order_id"]),
            symbol=str(data["symbol"]), side=Side(data["side"]),
            order_type=OrderType(data["order_type"]),
            time_in_force=TimeInForce(data["time_in_force"]),
            quantity=Decimal(data["quantity"]), price=dec("price"),
            stop_price=dec("stop_price"), created_ms=int(data["created_ms"]),
            updated_ms=int(data["updated_ms"]), status=OrderStatus(data["status"]),
            filled=Decimal(data["filled"]), quote_filled=Decimal(data["quote_filled"]),
            locked=Decimal(data["locked"]), triggered=bool(data["triggered"]),
            eligible_ms=int(data["eligible_ms"]), trade_ids=[int(t) for t in data["trade_ids"]],
        )


@dataclass(frozen=True)
class VenueTrade:
    """One execution of one of the account's orders."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Decimal):
                data[key] = str(value)
        data["side"] = self.side.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VenueTrade:
        return cls(
            trade_id=int(data["trade_id"]), order_id=int(data["order_id"]),
            client_order_id=str(data["client_order_id"]), symbol=str(data["symbol"]),
            side=Side(data["side"]), price=Decimal(data["price"]),
            quantity=Decimal(data["quantity"]), quote_quantity=Decimal(data["quote_quantity"]),
            commission=Decimal(data["commission"]),
            commission_asset=str(data["commission_asset"]), time_ms=int(data["time_ms"]),
            is_maker=bool(data["is_maker"]),
        )


@dataclass(frozen=True)
class MarketTick:
    """One step of a symbol's price path, as published on the public streams."""

    symbol: str
    trade_id: int
    price: Decimal
    volume: Decimal
    bid: Decimal
    ask: Decimal
    time_ms: int


@dataclass
class Kline:
    """One 1-minute candle built from the price steps."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int = 1

    @property
    def close_ms(self) -> int:
        return self.open_ms + 59_999

    def add(self, price: Decimal, volume: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += volume
        self.trades += 1
