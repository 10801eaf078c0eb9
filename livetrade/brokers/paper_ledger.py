"""What the paper venue remembers, and the change it builds before remembering it.

:class:`PaperBroker <livetrade.brokers.paper.PaperBroker>` keeps its working orders and
account in memory for matching; everything else it knows (closed orders, past fills) is in
a :class:`Ledger`: :class:`MemoryLedger` here (bounded), or the venue's own store
(:class:`~livetrade.brokers.paper_store.VenueStore`, which then persists everything).

Every change is first built as a :class:`Batch` without touching the venue. The venue
applies it in memory, has the ledger record it (with a store: one transaction), and only
then emits its events, so nobody ever hears of a change that was not recorded.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from livetrade.brokers.base import BrokerOrder
from livetrade.events import Event, MarketData, OrderFill, Side, trusted
from livetrade.matching import SimOrder
from livetrade.orders import OrderRequest
from livetrade.portfolio import Portfolio


class PaperOrderStatus(StrEnum):
    WORKING = "working"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class PaperOrder(BrokerOrder):
    """An order the paper venue knows, working or closed (the answer of ``get_order``)."""

    status: PaperOrderStatus
    accepted_at: datetime
    updated_at: datetime
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status is PaperOrderStatus.WORKING


@dataclass(frozen=True)
class Working:
    """A working order and its matching progress. Frozen: a change is a new value in a
    :class:`Batch` until the venue applies it."""

    client_order_id: str
    request: OrderRequest
    sim: SimOrder
    day: date  # UTC date the order was accepted on (for DAY expiry)
    accepted_at: datetime
    updated_at: datetime
    charged_per_order: bool = False

    @property
    def symbol(self) -> str:
        return self.request.symbol

    def view(self, status: PaperOrderStatus, reason: str = "") -> PaperOrder:
        return PaperOrder(self.client_order_id, self.sim.order_id, self.request, self.sim.filled,
                          status, self.accepted_at, self.updated_at, reason)


class Batch:
    """One change of the venue, built without touching it (see the module docstring).

    ``next_order_id``/``next_fill_id`` are the counters after the change; ``resting`` holds
    new or changed working orders, ``closed`` the orders that stop working, with why.
    A plain slotted class: one is built for every order and every fill.
    """

    __slots__ = ("closed", "events", "fills", "next_fill_id", "next_order_id", "resting")

    def __init__(self, next_order_id: int, next_fill_id: int) -> None:
        self.next_order_id = next_order_id
        self.next_fill_id = next_fill_id
        self.events: list[Event] = []
        self.resting: dict[str, Working] = {}
        self.closed: dict[str, tuple[Working, PaperOrderStatus, str]] = {}
        self.fills: list[OrderFill] = []

    def close(self, working: Working, status: PaperOrderStatus, reason: str = "") -> None:
        self.resting.pop(working.client_order_id, None)
        self.closed[working.client_order_id] = (working, status, reason)

    @property
    def empty(self) -> bool:
        return not (self.events or self.resting or self.closed)


class VenueView(NamedTuple):
    """The venue's state right after a batch was applied: what a ledger may persist.

    A named tuple, not a frozen dataclass: one is built per order change, on the dispatcher
    thread, and the memory ledger never reads it."""

    working: Mapping[str, Working]
    account: Portfolio
    last: Mapping[str, MarketData]
    next_order_id: int
    next_fill_id: int


class Ledger(Protocol):
    """Where the venue's history lives. Called under the venue's lock.

    ``record`` runs after a batch was applied in memory; if it raises, the batch was not
    recorded (and a store's venue reloads). ``close`` gets ``None`` when the venue is in
    no state to be written.
    """

    def knows(self, client_order_id: str) -> bool: ...
    def closed_order(self, client_order_id: str) -> PaperOrder | None: ...
    def fills_since(self, since: datetime) -> list[OrderFill]: ...
    def record(self, batch: Batch, venue: VenueView) -> None: ...
    def close(self, venue: VenueView | None) -> None: ...


class FillRow(NamedTuple):
    """A kept fill: about a third of the event's size, since a long in-memory run's
    history is mostly these."""

    high_water: datetime  # the latest fill time up to and including this fill
    fill_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    commission: Decimal
    timestamp: datetime

    def event(self) -> OrderFill:
        return trusted(OrderFill, order_id=self.order_id, client_order_id=self.client_order_id,
                       symbol=self.symbol, side=self.side, fill_price=self.price,
                       fill_amount=self.amount, commission=self.commission,
                       timestamp=self.timestamp, fill_id=self.fill_id)


def collect_since(rows: Iterable[tuple[datetime, OrderFill | FillRow]],
                  since: datetime) -> list[OrderFill]:
    """Walk ``(high_water, fill)`` rows newest first; the fills at or after ``since``,
    oldest first.

    The walk stops at the first row whose high-water time is before ``since``, since every
    earlier fill is older still. Using the high-water mark rather than the fill's own time
    keeps that exact even if the clock went backwards between two fills.
    """
    found: list[OrderFill] = []
    for high_water, fill in rows:
        if high_water < since:
            break
        event = fill.event() if isinstance(fill, FillRow) else fill
        if event.timestamp >= since:
            found.append(event)
    found.reverse()
    return found


class _ClosedRow(NamedTuple):
    """A closed order the memory ledger keeps: :class:`PaperOrder`'s fields after the client
    order id, in its order. One tuple, where the record would be an object and its dict."""

    order_id: str
    request: OrderRequest
    filled: Decimal
    status: PaperOrderStatus
    accepted_at: datetime
    updated_at: datetime
    reason: str


class MemoryLedger:
    """History of a venue without a store: the newest closed orders and fills, bounded."""

    def __init__(self, fill_history: int, closed_order_history: int) -> None:
        # A closed order as a row; its PaperOrder view is built only when asked for
        # (get_order), not for every order that closes.
        self._closed: OrderedDict[str, _ClosedRow] = OrderedDict()
        self._closed_capacity = closed_order_history
        self._fills: deque[FillRow] = deque(maxlen=fill_history)
        self._high_water: datetime | None = None

    def knows(self, client_order_id: str) -> bool:
        return client_order_id in self._closed

    def closed_order(self, client_order_id: str) -> PaperOrder | None:
        row = self._closed.get(client_order_id)
        return None if row is None else PaperOrder(client_order_id, *row)

    def fills_since(self, since: datetime) -> list[OrderFill]:
        return collect_since(((row.high_water, row) for row in reversed(self._fills)), since)

    def record(self, batch: Batch, venue: VenueView) -> None:
        closed = self._closed
        for cid, (w, status, reason) in batch.closed.items():
            sim = w.sim
            closed[cid] = _ClosedRow(sim.order_id, w.request, sim.filled, status, w.accepted_at,
                                     w.updated_at, reason)
            if len(closed) > self._closed_capacity:
                closed.popitem(last=False)
        for f in batch.fills:
            if self._high_water is None or f.timestamp > self._high_water:
                self._high_water = f.timestamp
            self._fills.append(FillRow(self._high_water, f.fill_id, f.order_id,
                                       f.client_order_id, f.symbol, f.side, f.fill_price,
                                       f.fill_amount, f.commission, f.timestamp))

    def close(self, venue: VenueView | None) -> None:
        """Nothing to release."""
