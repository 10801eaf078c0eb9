"""The test kit: builders every test module shares, so each test states only what matters.

Money and quantities go in as strings or ints and come out as ``Decimal``; times are fixed
UTC instants (``at(seconds)``), never the wall clock.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.clock import ManualClock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import (
    Event,
    MarketData,
    OrderFill,
    OrderReject,
    ScheduledTrigger,
    Side,
    SystemErrorEvent,
)
from livetrade.order_manager import OrderManager
from livetrade.orders import ClientOrderIdGenerator, OrderRequest
from livetrade.risk import KillSwitch, RiskChecker, RiskLimits
from livetrade.strategy import Strategy

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
"""Every test's epoch: a fixed UTC instant."""

Num = Decimal | int | str


def D(value: Num) -> Decimal:
    """``Decimal`` from an int or a string (never a float)."""
    return value if isinstance(value, Decimal) else Decimal(value)


def at(seconds: float = 0) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def manual_clock(start: datetime = T0) -> ManualClock:
    """A clock fixed at ``start`` (UTC) that moves only when told to."""
    return ManualClock(start)


def md(
    symbol: str = "AAPL",
    price: Num = 100,
    *,
    ts: datetime | None = None,
    volume: Num = 0,
) -> MarketData:
    """A validated tick."""
    return MarketData(symbol=symbol, timestamp=ts or T0, price=D(price), volume=D(volume))


def bar(
    symbol: str = "AAPL",
    *,
    open: Num,
    high: Num,
    low: Num,
    close: Num,
    ts: datetime | None = None,
    volume: Num = 0,
) -> MarketData:
    """A validated bar: ``price`` is the close."""
    return MarketData(symbol=symbol, timestamp=ts or T0, price=D(close), volume=D(volume),
                      open=D(open), high=D(high), low=D(low), close=D(close))


def fill(
    client_order_id: str = "t-1",
    *,
    fill_id: str = "F1",
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    price: Num = 100,
    amount: Num = 1,
    commission: Num = 0,
    order_id: str = "B1",
    ts: datetime | None = None,
) -> OrderFill:
    """A validated fill."""
    return OrderFill(order_id=order_id, client_order_id=client_order_id, symbol=symbol,
                     side=side, fill_price=D(price), fill_amount=D(amount),
                     commission=D(commission), timestamp=ts or T0, fill_id=fill_id)


def request(
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    quantity: Num = 10,
    **kwargs: Any,
) -> OrderRequest:
    """An order request; ``kwargs`` are the remaining ``OrderRequest`` fields."""
    return OrderRequest(symbol=symbol, side=side, quantity=D(quantity), **kwargs)


class RecordingRouter:
    """An order router that notes what it was asked to do, and fails when told to.

    ``send_error``/``cancel_error``: raised (once noted) by every ``send``/``cancel``.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, OrderRequest]] = []
        self.canceled: list[str] = []
        self.send_error: Exception | None = None
        self.cancel_error: Exception | None = None

    def send(self, client_order_id: str, request: OrderRequest) -> None:
        self.sent.append((client_order_id, request))
        if self.send_error is not None:
            raise self.send_error

    def cancel(self, client_order_id: str) -> None:
        self.canceled.append(client_order_id)
        if self.cancel_error is not None:
            raise self.cancel_error


def order_manager(
    limits: RiskLimits | None = None,
    *,
    position: Num = 0,
    price: Num | None = 100,
    closed_capacity: int = 10_000,
    clock: ManualClock | None = None,
    kill_switch: KillSwitch | None = None,
) -> tuple[OrderManager, RecordingRouter, list[Event]]:
    """An order manager over a recording router; what it publishes lands in the list.

    Every symbol's position is ``position`` and its reference price ``price``.
    """
    clock = clock or manual_clock()
    published: list[Event] = []
    manager = OrderManager(
        clock=clock, publish=published.append,
        risk=RiskChecker(limits or RiskLimits(), clock, kill_switch),
        position_of=lambda s: D(position),
        price_of=lambda s: None if price is None else D(price),
        ids=ClientOrderIdGenerator("t"), closed_capacity=closed_capacity,
    )
    router = RecordingRouter()
    manager.attach_router(router)
    return manager, router, published


class RecordingStrategy(Strategy):
    """Records every callback, in order, in ``calls`` as ``(name, payload)``.

    ``on_bar`` (if given) runs after recording each market data event, with the strategy
    itself, so a test can place orders or raise exactly where it needs to. ``seen`` is set
    on every callback so threaded tests can wait for progress instead of sleeping.
    """

    def __init__(self, on_bar: Callable[[RecordingStrategy, MarketData], None] | None = None
                 ) -> None:
        self.on_bar = on_bar
        self.calls: list[tuple[str, object]] = []
        self.seen = threading.Condition()

    def _record(self, name: str, payload: object) -> None:
        with self.seen:
            self.calls.append((name, payload))
            self.seen.notify_all()

    def of(self, name: str) -> list[Any]:
        """The payloads of every ``name`` callback, in order."""
        with self.seen:
            return [payload for n, payload in self.calls if n == name]

    @property
    def names(self) -> list[str]:
        with self.seen:
            return [n for n, _ in self.calls]

    def wait_for(self, predicate: Callable[[RecordingStrategy], bool],
                 timeout_s: float = 10.0) -> bool:
        """Block until ``predicate(self)`` holds or ``timeout_s`` passes; return it."""
        with self.seen:
            return self.seen.wait_for(lambda: predicate(self), timeout_s)

    def on_start(self) -> None:
        self._record("start", None)

    def on_market_data(self, event: MarketData) -> None:
        self._record("market_data", event)
        if self.on_bar is not None:
            self.on_bar(self, event)

    def on_fill(self, fill: OrderFill) -> None:
        self._record("fill", fill)

    def on_reject(self, reject: OrderReject) -> None:
        self._record("reject", reject)

    def on_schedule(self, trigger: ScheduledTrigger) -> None:
        self._record("schedule", trigger)

    def on_error(self, error: SystemErrorEvent) -> None:
        self._record("error", error)

    def on_stop(self) -> None:
        self._record("stop", None)


class RecordingPaperBroker(PaperBroker):
    """The real paper broker, also noting which client order ids reached it."""

    def __init__(self, config: PaperBrokerConfig | None = None,
                 clock: ManualClock | None = None) -> None:
        super().__init__(config, clock)
        self.submitted: list[str] = []
        self.cancel_requests: list[str] = []

    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        self.submitted.append(client_order_id)
        super().submit_order(client_order_id, request)

    def cancel_order(self, client_order_id: str) -> None:
        self.cancel_requests.append(client_order_id)
        super().cancel_order(client_order_id)


def sync_engine(
    strategy: Strategy,
    *,
    clock: ManualClock | None = None,
    broker_config: PaperBrokerConfig | None = None,
    risk_limits: RiskLimits | None = None,
    settings: EngineSettings | None = None,
) -> tuple[LiveTradingEngine, RecordingPaperBroker]:
    """An engine in synchronous drive mode over the paper broker, already started."""
    clock = clock or manual_clock()
    broker = RecordingPaperBroker(broker_config, clock=clock)
    engine = LiveTradingEngine(strategy, broker=broker, clock=clock,
                               order_ids=ClientOrderIdGenerator("t"),
                               risk_limits=risk_limits, settings=settings)
    engine.start_sync()
    return engine, broker


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout_s``; for state no condition signals."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def join_all(threads: list[threading.Thread], timeout_s: float = 10.0) -> None:
    """Join ``threads`` within one overall deadline; fail if any is still alive."""
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"threads still running after {timeout_s}s: {alive}"


@contextmanager
def frequent_thread_switches(interval_s: float = 1e-6) -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, to provoke interleavings."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
