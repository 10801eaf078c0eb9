"""Orders: the request a strategy makes, the lifecycle state machine, and snapshots.

The state machine is a table, not scattered ``if``\\ s, so it can be read, tested
exhaustively and checked by property tests. An order only moves along an edge of
``TRANSITIONS``; anything else raises ``OrderStateError``::

    PENDING_SUBMIT -> SUBMITTED -> ACCEPTED -> PARTIALLY_FILLED -> FILLED
          |               |           |              |
          v               v           v              v
       REJECTED     (any of the working states) -> PENDING_CANCEL -> CANCELED
                                                    working states -> EXPIRED

A fill may arrive while a cancel is pending (the race every venue has); it is applied and the
order stays PENDING_CANCEL until the cancel is confirmed or the order is filled. A refused
cancel returns the order to the working state it left; a reject may overtake a cancel request
sent before the broker answered the submit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from livetrade.errors import InvalidOrderError, OrderStateError
from livetrade.events import SMALLEST, OrderType, Side, TimeInForce


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "pending_submit"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_open(self) -> bool:
        return self not in TERMINAL_STATES


S = OrderStatus
TERMINAL_STATES = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
_WORKING = {S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL}

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_SUBMIT: frozenset({S.SUBMITTED, S.REJECTED}),
    # A fast broker may report a fill or cancel before its acknowledgement arrives.
    S.SUBMITTED: frozenset(
        {S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.REJECTED,
         S.EXPIRED}
    ),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    # A cancel can be refused (back to the working state it left, SUBMITTED included) or be
    # overtaken by fills, or by the broker's reject of an order it never accepted.
    S.PENDING_CANCEL: frozenset(
        {S.PENDING_CANCEL, S.CANCELED, S.FILLED, S.EXPIRED, S.SUBMITTED, S.ACCEPTED,
         S.PARTIALLY_FILLED, S.REJECTED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def check_transition(current: OrderStatus, new: OrderStatus, client_order_id: str = "") -> None:
    """Raise ``OrderStateError`` unless ``current -> new`` is an edge of the state machine."""
    if new not in TRANSITIONS[current]:
        raise OrderStateError(
            f"invalid order transition {current.value} -> {new.value}",
            client_order_id=client_order_id,
        )


@dataclass(frozen=True)
class OrderRequest:
    """What a strategy asks for. Validated by :func:`validate_request` before anything else."""

    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    # Set on the instance by validate_request once it passed (see there); not a field.
    _validated: ClassVar[bool] = False


_MAX_EXPONENT = 15  # no instrument trades 10^16 units or at 10^16 a unit; typos do


def _positive(value: Decimal | None, name: str) -> Decimal:
    if value is None:
        raise InvalidOrderError(f"{name} is required for this order type", field=name)
    if not isinstance(value, Decimal):
        raise InvalidOrderError(f"{name} must be a Decimal, got {type(value).__name__}",
                                field=name)
    if not value.is_finite() or value <= 0:
        raise InvalidOrderError(f"{name} must be a positive finite number, got {value}",
                                field=name)
    if value.adjusted() > _MAX_EXPONENT:
        raise InvalidOrderError(f"{name} {value} is implausibly large (over 1e{_MAX_EXPONENT})",
                                field=name)
    if value < SMALLEST:
        raise InvalidOrderError(f"{name} {value} is implausibly small (under {SMALLEST})",
                                field=name)
    return value


_mark = object.__setattr__


def validate_request(request: OrderRequest) -> None:
    """Raise ``InvalidOrderError`` if the request is malformed; return quietly if not.

    A request that passed is marked as such (it is immutable, so it stays valid): the
    order manager's check and the broker's own edge check then cost one validation, not
    two. The mark is not a dataclass field, so equality, ``repr`` and ``replace`` are
    unaffected (a replaced copy is validated afresh).
    """
    if request._validated:
        return
    _check(request)
    _mark(request, "_validated", True)


def _check(request: OrderRequest) -> None:
    if not request.symbol:
        raise InvalidOrderError("symbol must not be empty", field="symbol")
    _positive(request.quantity, "quantity")
    kind = request.order_type
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        _positive(request.limit_price, "limit_price")
    elif request.limit_price is not None:
        raise InvalidOrderError(f"limit_price is not allowed on a {kind.value} order",
                                field="limit_price")
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        _positive(request.stop_price, "stop_price")
    elif request.stop_price is not None:
        raise InvalidOrderError(f"stop_price is not allowed on a {kind.value} order",
                                field="stop_price")


@dataclass
class Order:
    """The order manager's mutable record of one order. Only the order manager touches it."""

    client_order_id: str
    request: OrderRequest
    created_at: datetime
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    broker_order_id: str = ""
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    reject_reason: str = ""
    updated_at: datetime | None = None
    fill_ids: set[str] = field(default_factory=set)
    status_before_cancel: OrderStatus | None = None
    shadow: bool = False  # taken by the shadow paper venue while the live broker was down

    @property
    def remaining_quantity(self) -> Decimal:
        return self.request.quantity - self.filled_quantity

    def snapshot(self) -> OrderSnapshot:
        r = self.request
        return OrderSnapshot(
            client_order_id=self.client_order_id,
            broker_order_id=self.broker_order_id,
            symbol=r.symbol,
            side=r.side,
            order_type=r.order_type,
            quantity=r.quantity,
            limit_price=r.limit_price,
            stop_price=r.stop_price,
            time_in_force=r.time_in_force,
            status=self.status,
            filled_quantity=self.filled_quantity,
            average_fill_price=self.average_fill_price,
            commission=self.commission,
            reject_reason=self.reject_reason,
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
            shadow=self.shadow,
        )


@dataclass(frozen=True)
class OrderSnapshot:
    """An immutable view of an order, safe to hand to strategies and other threads."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    filled_quantity: Decimal
    average_fill_price: Decimal
    commission: Decimal
    reject_reason: str
    created_at: datetime
    updated_at: datetime
    shadow: bool = False

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status.is_open


class ClientOrderIdGenerator:
    """Engine-issued client order ids: ``<prefix>-<n>``, unique per prefix.

    The id is the idempotency key a broker adapter uses to find out whether an order it is
    unsure about already exists, so it must never repeat for one account. Live runs use a
    prefix derived from the start time; replays a fixed one (determinism). The crash
    recovery layer persists ``next_sequence`` and restores it. Kept short: some venues
    cap client ids at 32-36 characters.
    """

    def __init__(self, prefix: str = "lt", start: int = 1) -> None:
        if not prefix or len(prefix) > 16 or not prefix.replace("_", "").isalnum():
            raise ValueError("prefix must be 1-16 letters, digits or underscores")
        self.prefix = prefix
        self._next = start

    @property
    def next_sequence(self) -> int:
        return self._next

    def ensure_after(self, client_order_id: str) -> None:
        """Never issue ``client_order_id`` (or an earlier one of this prefix) again:
        recovery calls this for every id it finds in the journal."""
        prefix, _, number = client_order_id.rpartition("-")
        if prefix == self.prefix and number.isdigit() and int(number) >= self._next:
            self._next = int(number) + 1

    def __call__(self) -> str:
        n = self._next
        self._next = n + 1
        return f"{self.prefix}-{n}"


def run_prefix() -> str:
    """A client-order-id prefix for a live run: start time plus random bits, so two runs
    started in the same second (without restored state) never share ids. 12 characters."""
    import secrets
    import time

    return f"lt{int(time.time()) % 16**7:07x}{secrets.randbelow(16**3):03x}"
