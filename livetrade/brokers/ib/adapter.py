"""IBAdapter: Interactive Brokers (TWS / IB Gateway) through ib_insync or ib_async.

Thread model: ib_insync is asyncio inside, and that stays inside this package. The adapter
owns one :class:`IBLoop` thread; the ``IB`` object and every piece of order state live on
it (:class:`IBSession`). The blocking ``BrokerAdapter`` methods, called from the engine's
threads, hand their work to that thread and wait with a timeout; events come back through
the sink. No other thread gets an event loop.

Example::

    adapter = ib_adapter_from_section(IBBrokerSection(type="ib", port=7497), SystemClock())
    adapter.connect(dispatcher.publish)
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import TypeVar

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.brokers.ib.contracts import ContractBook, ContractSpec, spec_table
from livetrade.brokers.ib.loop import IBLoop
from livetrade.brokers.ib.session import IBSession, SessionSettings
from livetrade.clock import Clock, SystemClock
from livetrade.config import IBBrokerSection
from livetrade.errors import ConfigError, EngineStateError, TransientBrokerError
from livetrade.events import OrderFill
from livetrade.orders import OrderRequest

T = TypeVar("T")
LIBRARIES = ("ib_insync", "ib_async")
_MARGIN_S = 1.0  # the loop's own timeouts fire first; this only guards a stuck loop


def load_library(name: str) -> ModuleType:
    """The IB client library by name; both expose the same API."""
    if name not in LIBRARIES:
        raise ConfigError(f"unknown IB library {name!r}; choose one of {', '.join(LIBRARIES)}")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"IB library {name!r} is not installed (pip install {name})",
                          library=name) from exc


class IBAdapter(BrokerAdapter):
    """``BrokerAdapter`` for IB; see the module docstring for the thread model.

    Keeps the base contract: blocking methods, ``orderRef`` = our client order id (so
    every order and execution is matched back after a reconnect or restart), a submit
    whose answer never came raises ``AmbiguousOutcomeError`` and is resolved with
    :meth:`get_order`, reconnection with backoff by itself.
    """

    name = "ib"
    inline = False

    def __init__(self, settings: SessionSettings, specs: Mapping[str, ContractSpec],
                 exchange: str = "SMART", library: str = "ib_insync",
                 clock: Clock | None = None, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.settings = settings
        self.library = library
        self._specs = dict(specs)
        self._exchange = exchange
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep  # the session's reconnect wait; injected so tests can record it
        self._loop: IBLoop | None = None
        self._session: IBSession | None = None

    @classmethod
    def from_section(cls, section: IBBrokerSection, clock: Clock | None = None,
                     commission_wait_s: float = 2.0, *,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> IBAdapter:
        settings = SessionSettings(
            host=section.host, port=section.port, client_id=section.client_id,
            account=section.account or "", currency=section.currency,
            connect_timeout_s=section.connect_timeout_s,
            request_timeout_s=section.request_timeout_s,
            reconnect_initial_s=section.reconnect_initial_s,
            reconnect_max_s=section.reconnect_max_s, market_data=section.market_data,
            market_data_type=section.market_data_type, commission_wait_s=commission_wait_s)
        specs = spec_table(section.symbols, section.contracts, section.exchange,
                           section.currency)
        return cls(settings, specs, section.exchange, section.library, clock, sleep=sleep)

    # ------------------------------------------------------------------ life
    def connect(self, sink: EventSink) -> None:
        """Start the IB thread, connect, qualify contracts, sync. Blocks."""
        if self._loop is not None:
            raise EngineStateError("IB adapter already connected")
        lib = load_library(self.library)
        loop = IBLoop()
        loop.start()
        self._loop = loop
        contracts = ContractBook(self._specs, self._exchange, self.settings.currency)

        async def make() -> IBSession:
            return IBSession(lib, self.settings, contracts, sink, self._clock,
                             sleep=self._sleep)

        session = self._session = loop.call(make, self.settings.connect_timeout_s)
        try:
            loop.call(session.connect, self.settings.connect_timeout_s * 2 + _MARGIN_S)
        except BaseException:
            # Close the socket on its own loop (an IB object left connected would try
            # from its finaliser, after the loop is gone), then end the thread.
            try:
                loop.call(session.close, self.settings.request_timeout_s)
            finally:
                self._teardown()
            raise

    def disconnect(self) -> None:
        """Close the session and end the IB thread. Idempotent. Blocks."""
        loop, session = self._loop, self._session
        if loop is None:
            return
        try:
            if session is not None:
                loop.call(session.close, self.settings.request_timeout_s)
        finally:
            self._teardown()

    def _teardown(self) -> None:
        if self._loop is not None:
            self._loop.stop()
        self._loop = None
        self._session = None

    # ------------------------------------------------------------------ crossing
    def _call(self, work: Callable[[IBSession], Awaitable[T]], ambiguous: bool = False) -> T:
        loop, session = self._loop, self._session
        if loop is None or session is None:
            raise TransientBrokerError("IB adapter is not connected")
        try:
            return loop.call(lambda: work(session),
                             self.settings.request_timeout_s + _MARGIN_S, ambiguous)
        except ConnectionError as exc:  # ib_insync: the socket went away mid-call
            raise TransientBrokerError(f"IB connection lost: {exc}") from exc

    def _read(self, read: Callable[[IBSession], T]) -> T:
        async def run(session: IBSession) -> T:
            return read(session)
        return self._call(run)

    # ------------------------------------------------------------------ orders
    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        """Place the order; returns once TWS acknowledged it. Blocks."""
        self._call(lambda s: s.submit(client_order_id, request), ambiguous=True)

    def cancel_order(self, client_order_id: str) -> None:
        """Ask TWS to cancel; the outcome arrives as an event. Blocks."""
        self._call(lambda s: s.cancel(client_order_id))

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this ``orderRef`` (open, or known from its executions). Blocks."""
        return self._read(lambda s: s.order(client_order_id))

    # ------------------------------------------------------------------ queries
    def get_positions(self) -> Mapping[str, Decimal]:
        return self._read(lambda s: s.positions())

    def get_open_orders(self) -> list[BrokerOrder]:
        return self._read(lambda s: s.open_orders())

    def get_account_info(self) -> AccountInfo:
        return self._read(lambda s: s.account_info())

    def get_account_values(self) -> dict[str, Decimal]:
        """Every numeric account value in the account currency (``NetLiquidation``,
        ``TotalCashValue``, ``BuyingPower``...), as TWS last reported it. Blocks."""
        return self._read(lambda s: s.account_values())

    def get_fills(self, since: datetime) -> list[OrderFill]:
        return self._read(lambda s: s.fills_since(since))

    def subscribe_market_data(self, symbols: Iterable[str]) -> None:
        """Stream last-price ticks for ``symbols`` into the sink as ``MarketData``."""
        wanted = list(symbols)
        self._call(lambda s: s.subscribe(wanted))

    # ------------------------------------------------------------------ observation
    @property
    def connected(self) -> bool:
        """True while the session is up and synchronised. Blocks (briefly)."""
        if self._loop is None or self._session is None:
            return False
        return self._read(lambda s: s.ready.is_set() and not s.link_down)

    @property
    def reconnects(self) -> int:
        return self._read(lambda s: s.reconnects)

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the session is up again (after a reconnect) or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.connected:
                    return True
            except TransientBrokerError:
                return False
            time.sleep(0.01)
        return False

    @property
    def loop_thread_ident(self) -> int | None:
        """The IB thread's ident (the only thread with an event loop), for checks."""
        thread = self._loop.thread if self._loop is not None else None
        return thread.ident if thread is not None else None


def ib_adapter_from_section(section: IBBrokerSection, clock: Clock) -> BrokerAdapter:
    """What ``livetrade.app.build_broker`` calls for ``[broker] type = "ib"``."""
    load_library(section.library)  # a missing library is a config problem, found early
    return IBAdapter.from_section(section, clock)
