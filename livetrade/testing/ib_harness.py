"""A TWS peer plus a connected ``IBAdapter``, for tests and benchmarks.

    with ib_harness(library="ib_async") as h:
        h.adapter.submit_order("c1", request)
        h.events.wait_for(lambda e: e.count(OrderFill) == 1)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from livetrade.brokers.ib.adapter import IBAdapter
from livetrade.clock import Clock
from livetrade.config import IBBrokerSection
from livetrade.events import Event
from livetrade.testing.tws_peer import TWSPeer

E = TypeVar("E", bound=Event)


class EventLog:
    """A thread-safe event sink that remembers every event and lets a test wait on them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: type[E]) -> list[E]:
        with self._changed:
            return [e for e in self.events if isinstance(e, kind)]

    def count(self, kind: type[Event]) -> int:
        return len(self.of(kind))

    def wait_for(self, predicate: Callable[[EventLog], bool], timeout_s: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds or ``timeout_s`` passes; return it."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout_s)


@dataclass
class IBHarness:
    """What :func:`ib_harness` yields."""

    peer: TWSPeer
    adapter: IBAdapter
    events: EventLog

    def wait_reconnects(self, count: int, timeout_s: float = 5.0) -> bool:
        """Block until the adapter has reconnected ``count`` times in all."""
        return self.events.wait_for(
            lambda log: sum(1 for e in log.events
                            if getattr(e, "error_type", "") == "IBReconnected") >= count,
            timeout_s)


def ib_section(port: int, library: str = "ib_insync", **overrides: Any) -> IBBrokerSection:
    """An ``[broker] type = "ib"`` section with test-friendly timeouts."""
    fields: dict[str, Any] = {"type": "ib", "port": port, "client_id": 11,
                              "library": library, "symbols": ["AAPL"],
                              "connect_timeout_s": 3.0, "request_timeout_s": 2.0,
                              "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5}
    fields.update(overrides)
    return IBBrokerSection(**fields)


@contextmanager
def ib_harness(library: str = "ib_insync", clock: Clock | None = None,
               commission_wait_s: float = 2.0, connect: bool = True,
               **overrides: Any) -> Iterator[IBHarness]:
    """A fresh peer on 127.0.0.1:0 and an adapter connected to it; both closed after."""
    with TWSPeer() as peer:
        adapter = IBAdapter.from_section(ib_section(peer.port, library, **overrides), clock,
                                         commission_wait_s=commission_wait_s)
        events = EventLog()
        if connect:
            adapter.connect(events)
        try:
            yield IBHarness(peer, adapter, events)
        finally:
            adapter.disconnect()
