"""The paper venue store's schema: every value it holds, validated on the way back in.

Values are JSON text checked by these frozen models, never pickle: a store read back from
disk is untrusted input (truncated, edited, someone else's), and pickle would run whatever
it contained. ``SCHEMA_VERSION`` changes whenever a field's meaning changes; a store of a
newer version is refused, never half-read. The venue's schema is its own, apart from the
engine's checkpoints (``livetrade.state.records``): the two evolve independently.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from livetrade.brokers.paper_ledger import PaperOrderStatus, Working
from livetrade.errors import InvalidOrderError
from livetrade.events import (
    NonNegative,
    OrderFill,
    OrderType,
    Price,
    Quantity,
    Side,
    Symbol,
    TimeInForce,
    UtcDatetime,
)
from livetrade.matching import SimOrder
from livetrade.orders import OrderRequest, validate_request

KIND = "livetrade.paper-venue"
SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetaRecord(_Record):
    """Key ``meta``: what this store is."""

    kind: Literal["livetrade.paper-venue"]
    schema_version: int = Field(ge=1)
    currency: str
    created_at: UtcDatetime


class HeaderRecord(_Record):
    """Key ``venue``: the counters, the kept fill range and the indexes of the other keys."""

    next_order_id: int = Field(ge=1)
    next_fill_id: int = Field(ge=1)
    first_fill_id: int = Field(ge=1)  # oldest kept fill; 1 while no fill was ever made
    fill_high_water: UtcDatetime | None = None
    working: list[str] = Field(default_factory=list)  # client ids, in acceptance order
    symbols: list[str] = Field(default_factory=list)  # symbols with a stored last price

    @model_validator(mode="after")
    def _consistent(self) -> HeaderRecord:
        if self.next_fill_id == 1:
            if self.first_fill_id != 1 or self.fill_high_water is not None:
                raise ValueError("no fill was ever made, yet a fill range is recorded")
        elif not self.first_fill_id < self.next_fill_id or self.fill_high_water is None:
            raise ValueError("fills were made, yet none is recorded as kept")
        if len(set(self.working)) != len(self.working):
            raise ValueError("a working client order id is listed twice")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("a symbol is listed twice")
        return self


class PositionRecord(_Record):
    symbol: Symbol
    quantity: Decimal
    average_cost: Decimal = Field(ge=0)
    flow: Decimal
    booked: Decimal
    closed: Decimal


class AccountRecord(_Record):
    """Key ``account``: exactly ``Portfolio.export_state()`` of the venue's account."""

    initial_cash: Decimal
    cash: Decimal
    commissions: Decimal = Field(ge=0)
    positions: list[PositionRecord] = Field(default_factory=list)
    marks: dict[str, Decimal] = Field(default_factory=dict)
    market_marked: list[str] = Field(default_factory=list)


class OrderRecord(_Record):
    """Key ``order:<client id>``: an order the venue accepted, working or closed, with its
    matching progress, so a restored order matches on exactly as it would have."""

    client_order_id: str = Field(min_length=1)
    broker_order_id: str = Field(pattern=r"^PB[1-9][0-9]*$")
    symbol: Symbol
    side: Side
    order_type: OrderType
    quantity: Quantity
    limit_price: Price | None = None
    stop_price: Price | None = None
    time_in_force: TimeInForce
    filled: NonNegative
    triggered: bool
    day: date
    charged_per_order: bool
    status: PaperOrderStatus
    accepted_at: UtcDatetime
    updated_at: UtcDatetime
    reason: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> OrderRecord:
        try:
            validate_request(self.request())
        except InvalidOrderError as exc:
            raise ValueError(exc.message) from None
        if self.filled > self.quantity:
            raise ValueError("filled more than the order quantity")
        if self.status is PaperOrderStatus.WORKING and self.filled == self.quantity:
            raise ValueError("a fully filled order is recorded as working")
        if self.status is PaperOrderStatus.FILLED and self.filled != self.quantity:
            raise ValueError("an order recorded as filled is not filled in full")
        return self

    @classmethod
    def of(cls, w: Working, status: PaperOrderStatus, reason: str = "") -> OrderRecord:
        r = w.request
        return cls(client_order_id=w.client_order_id, broker_order_id=w.sim.order_id,
                   symbol=r.symbol, side=r.side, order_type=r.order_type, quantity=r.quantity,
                   limit_price=r.limit_price, stop_price=r.stop_price,
                   time_in_force=r.time_in_force, filled=w.sim.filled,
                   triggered=w.sim.triggered, day=w.day, charged_per_order=w.charged_per_order,
                   status=status, accepted_at=w.accepted_at, updated_at=w.updated_at,
                   reason=reason)

    def request(self) -> OrderRequest:
        return OrderRequest(symbol=self.symbol, side=self.side, quantity=self.quantity,
                            order_type=self.order_type, limit_price=self.limit_price,
                            stop_price=self.stop_price, time_in_force=self.time_in_force)

    def working(self) -> Working:
        r = self.request()
        sim = SimOrder(order_id=self.broker_order_id, side=r.side, quantity=r.quantity,
                       order_type=r.order_type, limit_price=r.limit_price,
                       stop_price=r.stop_price, time_in_force=r.time_in_force,
                       filled=self.filled, triggered=self.triggered)
        return Working(self.client_order_id, r, sim, self.day, self.accepted_at,
                       self.updated_at, self.charged_per_order)

    @property
    def broker_number(self) -> int:
        return int(self.broker_order_id[2:])


class FillRecord(_Record):
    """Key ``fill:<n>``: fill ``PF<n>`` and the high-water time up to it (see
    :func:`livetrade.brokers.paper_ledger.collect_since`)."""

    high_water: UtcDatetime
    fill: OrderFill

    @model_validator(mode="after")
    def _consistent(self) -> FillRecord:
        if self.fill.timestamp > self.high_water:
            raise ValueError("the fill is later than its high-water time")
        return self
