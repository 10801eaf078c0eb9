"""Immutable events: the only things that cross a thread boundary in livetrade.

Every producer (a feed thread, a broker thread, the scheduler) builds one of these frozen
pydantic models and hands it to the dispatcher; nothing mutable is ever shared. Money and
quantities are ``Decimal``; timestamps are timezone-aware and normalised to UTC.

Untrusted input is validated once, here, at the edge (``MarketData(...)``). Producers that
generate values themselves (the simulated feed, the paper broker) may use
``model_construct`` through :func:`trusted` to skip validation on the hot path; the dispatcher
never validates again.

Priorities (lower value is handled first; FIFO within one priority by sequence number)::

    SystemError > OrderFill (and the other order-state updates) > OrderReject
                > ScheduledTrigger > MarketData

Order-state updates from a broker (accepted, canceled, expired, cancel-rejected) share the
fill lane: they must stay in the order the broker sent them relative to fills, or an
"accepted" could be processed after the "filled" it preceded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


class Priority(IntEnum):
    """Dispatch priority of an event class; lower runs first."""

    SYSTEM_ERROR = 0
    ORDER_UPDATE = 1
    ORDER_REJECT = 2
    SCHEDULED_TRIGGER = 3
    MARKET_DATA = 4


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the sign of the position change."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


def _to_utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, converted to UTC. Naive datetimes are rejected."""

SMALLEST = Decimal("1e-18")
"""No instrument trades in steps below 10^-18 (ETH's wei); smaller numbers are garbage."""
LARGEST = Decimal("1e16")
"""No instrument trades 10^16 units or at 10^16 a unit; larger numbers are typos."""

Price = Annotated[Decimal, Field(ge=SMALLEST, lt=LARGEST, allow_inf_nan=False)]
"""A finite Decimal in [1e-18, 1e16)."""

Quantity = Annotated[Decimal, Field(ge=SMALLEST, lt=LARGEST, allow_inf_nan=False)]
"""A finite Decimal in [1e-18, 1e16) (orders and fills carry a separate ``side``)."""

NonNegative = Annotated[Decimal, Field(ge=0, lt=LARGEST * 100, allow_inf_nan=False)]
"""A finite Decimal in [0, 1e18) (volume, commission)."""

Symbol = Annotated[str, Field(min_length=1, max_length=64)]


class Event(BaseModel):
    """Base class of every event. Frozen, rejects unknown fields, carries its priority."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    priority: ClassVar[int]


class MarketData(Event):
    """A trade/quote tick, or a bar when ``open``/``high``/``low``/``close`` are set.

    For a bar, ``price`` is the close and ``timestamp`` is the bar's time as given by the
    source (the replay feed uses the CSV's timestamp column verbatim).
    """

    priority: ClassVar[int] = Priority.MARKET_DATA
    symbol: Symbol
    timestamp: UtcDatetime
    price: Price
    volume: NonNegative = Decimal(0)
    bid: Price | None = None
    ask: Price | None = None
    open: Price | None = None
    high: Price | None = None
    low: Price | None = None
    close: Price | None = None


class OrderFill(Event):
    """An execution: ``fill_amount`` of ``symbol`` at ``fill_price``.

    ``fill_id`` is unique per broker; the order manager ignores a fill id it has seen.
    """

    priority: ClassVar[int] = Priority.ORDER_UPDATE
    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    fill_price: Price
    fill_amount: Quantity
    commission: NonNegative = Decimal(0)
    timestamp: UtcDatetime
    fill_id: str = Field(min_length=1)
    shadow: bool = False  # from the shadow paper venue while the live broker was down
    fee_in_kind: NonNegative = Decimal(0)  # fee taken in the instrument (spot: base asset)


class OrderAccepted(Event):
    """The broker acknowledged the order and it is working."""

    priority: ClassVar[int] = Priority.ORDER_UPDATE
    order_id: str
    client_order_id: str
    timestamp: UtcDatetime
    shadow: bool = False  # taken by the shadow paper venue, not the live broker


class OrderCanceled(Event):
    """The order is canceled (by us, by the broker, or an IOC/FOK remainder)."""

    priority: ClassVar[int] = Priority.ORDER_UPDATE
    order_id: str
    client_order_id: str
    timestamp: UtcDatetime
    reason: str = ""


class OrderExpired(Event):
    """The order's time in force ran out (a DAY order at the session end)."""

    priority: ClassVar[int] = Priority.ORDER_UPDATE
    order_id: str
    client_order_id: str
    timestamp: UtcDatetime


class OrderCancelRejected(Event):
    """A cancel request was refused (usually: the order already filled)."""

    priority: ClassVar[int] = Priority.ORDER_UPDATE
    order_id: str
    client_order_id: str
    reason: str
    timestamp: UtcDatetime


class OrderReject(Event):
    """The order was refused, by our risk checks or by the broker; ``reason`` says why."""

    priority: ClassVar[int] = Priority.ORDER_REJECT
    order_id: str
    client_order_id: str
    reason: str
    timestamp: UtcDatetime
    symbol: str = ""


class ScheduledTrigger(Event):
    """A scheduled job came due (market open/close, a custom interval)."""

    priority: ClassVar[int] = Priority.SCHEDULED_TRIGGER
    trigger_type: str
    name: str
    scheduled_time: UtcDatetime
    actual_time: UtcDatetime
    calendar: str = ""
    session: date | None = None  # the trading session (exchange-local date) it belongs to

    @property
    def lateness_s(self) -> float:
        """How late it fired: ``actual_time - scheduled_time`` in seconds."""
        return (self.actual_time - self.scheduled_time).total_seconds()


class SystemErrorEvent(Event):
    """Something went wrong that the strategy and operators should know about.

    Named ``SystemErrorEvent`` so importing it never shadows Python's builtin
    ``SystemError``; ``livetrade.events.SystemError`` is an alias with the story's name.
    """

    priority: ClassVar[int] = Priority.SYSTEM_ERROR
    error_type: str
    message: str
    severity: Severity = Severity.ERROR
    source: str
    timestamp: UtcDatetime
    context: dict[str, str] = Field(default_factory=dict)


class FeedError(SystemErrorEvent):
    """A problem *in* the data stream (a malformed row), reported in stream order.

    It travels in the market-data lane, so it reaches ``on_error`` between the same two
    bars on every run (a replay stays deterministic), instead of jumping the queue as
    engine errors do. It is never conflated.
    """

    priority: ClassVar[int] = Priority.MARKET_DATA


SystemError = SystemErrorEvent

ORDER_UPDATE_EVENTS: tuple[type[Event], ...] = (
    OrderFill,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderCancelRejected,
    OrderReject,
)

E = TypeVar("E", bound=Event)

_DEFAULTS: dict[type[Event], tuple[dict[str, Any], dict[str, Callable[[], Any]]]] = {}
# The setters of the four instance slots every BaseModel has, taken from BaseModel itself:
# calling a slot's descriptor is what ``object.__setattr__(event, name, value)`` ends up
# doing, minus looking the name up through the class and the wrapper call around it
# (``trade_tick`` 8.6k -> 7.3k instructions under callgrind, benchmark suite 13 §13.1). No
# event class redefines these names (tests/test_events.py pins that).
_SlotSetter = Callable[[BaseModel, Any], None]
_set_dict: _SlotSetter = BaseModel.__dict__["__dict__"].__set__
_set_fields_set: _SlotSetter = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra: _SlotSetter = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private: _SlotSetter = BaseModel.__dict__["__pydantic_private__"].__set__
_new = object.__new__  # BaseModel defines no __new__: this is what cls.__new__ resolves to


def _defaults_of(cls: type[Event]) -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    """Plain defaults, and default factories (called per event: never share a dict)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        optional = {n: f for n, f in cls.model_fields.items() if not f.is_required()}
        factories: dict[str, Callable[[], Any]] = {
            n: f.default_factory  # type: ignore[misc]
            for n, f in optional.items() if f.default_factory is not None
        }
        plain = {n: f.default for n, f in optional.items() if n not in factories}
        defaults = _DEFAULTS[cls] = (plain, factories)
    return defaults


def trusted(cls: type[E], **fields: Any) -> E:
    """Build an event without validation, for producers that generate the values themselves.

    Only for code that computes the values (never for data read from outside): it skips
    pydantic's checks to keep the hot path short. Unset optional fields get their defaults.
    The result is an ordinary frozen instance (equal to a validated one with the same
    values). pydantic's own ``model_construct`` is slower than validating, hence this.
    Every feed tick is built here, so it is written for speed: one dict merge, no loop
    unless the class has default factories.
    """
    plain, factories = _DEFAULTS.get(cls) or _defaults_of(cls)
    event = _new(cls)
    if factories:
        values = dict(plain)
        for name, factory in factories.items():
            if name not in fields:
                values[name] = factory()
        values.update(fields)
    else:
        values = {**plain, **fields}
    _set_dict(event, values)
    _set_fields_set(event, set(fields))
    _set_extra(event, None)
    _set_private(event, None)
    return event


_TRADE_FIELDS_SET: set[str] = {"symbol", "timestamp", "price", "volume"}
"""Every trade tick's ``model_fields_set``, one set shared by all of them: a set per tick
was 216 bytes allocated by a feed thread and freed by the dispatcher on the other CPU. Safe
because events are frozen (pydantic adds to it only in ``__setattr__``, which refuses), and
``model_copy`` copies it before adding; nothing may mutate ``model_fields_set`` in place."""
_TRADE_DICT: dict[str, Any] = {
    "symbol": "", "timestamp": None, "price": None, "volume": None, "bid": None, "ask": None,
    "open": None, "high": None, "low": None, "close": None}
"""Copied for each tick: cloning a dict of these keys is half the cost of a dict display."""


def trade_tick(symbol: str, timestamp: datetime, price: Decimal, volume: Decimal) -> MarketData:
    """:func:`trusted` for the commonest event of all, a trade tick (no quote, no bar).

    The same object ``trusted(MarketData, symbol=..., timestamp=..., price=..., volume=...)``
    builds, minus the keyword merging and with a shared ``model_fields_set``: every feed
    thread builds one per tick, so what this saves (hotpath suite) is paid back at every
    event. Same rule as :func:`trusted`: only for values the producer computed or already
    validated at its edge.
    """
    event: MarketData = _new(MarketData)
    values = _TRADE_DICT.copy()
    values["symbol"] = symbol
    values["timestamp"] = timestamp
    values["price"] = price
    values["volume"] = volume
    _set_dict(event, values)
    _set_fields_set(event, _TRADE_FIELDS_SET)
    _set_extra(event, None)
    _set_private(event, None)
    return event
