"""What the CCXT adapter remembers about its orders: ids both ways, symbols, fills seen.

The venue speaks its own order ids; the engine speaks client order ids. Every order the
adapter sent or found open is tracked here until it is finished and its fills are in.
``seen`` holds every fill id already handed to the engine (bounded), so a trade reported
by the order response, then by polling, then again after a reconnect, counts once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Tracked:
    """One order the adapter follows."""

    client_order_id: str
    symbol: str
    venue_id: str = ""
    quantity: Decimal = Decimal(0)
    filled: Decimal = Decimal(0)
    done: bool = False  # the venue says it is closed (filled, canceled, expired, rejected)
    final_sent: bool = False  # our terminal event (cancel/expiry) was emitted
    fills: set[str] = field(default_factory=set)
    misses: int = 0  # lookups by client id that found nothing (an answer that was lost)
    next_lookup_poll: int = 0  # the poll at which a lost answer is looked up again
    catch_ups: int = 0  # times its trades were read by order (fills the cursor passed)
    next_catch_up_poll: int = 0


class OrderTracker:
    """Thread-safe maps between our ids and the venue's, and the fills already reported."""

    def __init__(self, seen_capacity: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._by_client: dict[str, Tracked] = {}
        self._by_venue: dict[str, str] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_capacity = seen_capacity
        # venue id -> client id of every order seen, finished ones included (bounded): a
        # trade names only the venue's order id, and asking the venue per finished order
        # at every reconciliation costs request weight the account may not have.
        self._names: OrderedDict[str, str] = OrderedDict()

    def track(self, client_order_id: str, symbol: str, quantity: Decimal,
              venue_id: str = "") -> Tracked:
        with self._lock:
            entry = self._by_client.get(client_order_id)
            if entry is None:
                entry = self._by_client[client_order_id] = Tracked(client_order_id, symbol,
                                                                   quantity=quantity)
            if venue_id:
                entry.venue_id = venue_id
                self._by_venue[venue_id] = client_order_id
                self._name(venue_id, client_order_id)
            return entry

    def remember(self, venue_id: str, client_order_id: str) -> None:
        """Keep the client id of a venue order found by lookup (not followed)."""
        with self._lock:
            self._name(venue_id, client_order_id)

    def _name(self, venue_id: str, client_order_id: str) -> None:
        self._names[venue_id] = client_order_id
        self._names.move_to_end(venue_id)
        if len(self._names) > self._seen_capacity:
            self._names.popitem(last=False)

    def get(self, client_order_id: str) -> Tracked | None:
        with self._lock:
            return self._by_client.get(client_order_id)

    def client_id_for(self, venue_id: str) -> str | None:
        """The client id of an order being followed (trades of it are reported)."""
        with self._lock:
            return self._by_venue.get(venue_id)

    def name_of(self, venue_id: str) -> str | None:
        """The client id of any order seen, finished or followed."""
        with self._lock:
            return self._by_venue.get(venue_id) or self._names.get(venue_id)

    def active(self) -> list[Tracked]:
        """Orders whose story is not complete: still open at the venue, or closed with
        fills or the final event not yet handed to the engine."""
        with self._lock:
            return [t for t in self._by_client.values() if not t.final_sent]

    def symbols(self) -> set[str]:
        with self._lock:
            return {t.symbol for t in self._by_client.values() if not t.final_sent}

    def first_sighting(self, fill_id: str, client_order_id: str, quantity: Decimal) -> bool:
        """``True`` once per fill id; records the quantity on its order."""
        with self._lock:
            if fill_id in self._seen:
                return False
            self._seen[fill_id] = None
            if len(self._seen) > self._seen_capacity:
                self._seen.popitem(last=False)
            entry = self._by_client.get(client_order_id)
            if entry is not None:
                entry.fills.add(fill_id)
                entry.filled += quantity
            return True

    def filled_at_least(self, client_order_id: str, quantity: Decimal) -> None:
        """The order's trades, all read at once, add up to ``quantity``."""
        with self._lock:
            entry = self._by_client.get(client_order_id)
            if entry is not None and entry.filled < quantity:
                entry.filled = quantity

    def rename(self, old: str, new: str) -> None:
        """An order tracked under the venue's form of its id learns our id."""
        with self._lock:
            entry = self._by_client.pop(old, None)
            if entry is None or new in self._by_client:
                if entry is not None:
                    self._by_client[old] = entry
                return
            entry.client_order_id = new
            self._by_client[new] = entry
            if entry.venue_id:
                self._by_venue[entry.venue_id] = new
                self._name(entry.venue_id, new)

    def forget(self, client_order_id: str) -> None:
        """Stop following an order the venue never took (refused, or never landed)."""
        with self._lock:
            entry = self._by_client.pop(client_order_id, None)
            if entry is not None:
                self._by_venue.pop(entry.venue_id, None)

    def forget_finished(self) -> None:
        """Drop orders whose story is complete (keeps the maps small)."""
        with self._lock:
            for cid in [c for c, t in self._by_client.items() if t.done and t.final_sent]:
                entry = self._by_client.pop(cid)
                self._by_venue.pop(entry.venue_id, None)
