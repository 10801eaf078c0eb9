"""Shared workload pieces: ticks, probe strategies, engine builders, log setup.

The probe strategies do representative strategy work and nothing more. For every tick,
:class:`MarkToMarket` reads the engine's last price for the symbol
(``self.ctx.last_price``, one ``RLock`` round) and marks the book to market with
``Portfolio.equity()`` (another ``RLock`` round and a ``Decimal`` sum over the held
positions; the builder seeds one position per symbol so the sum is not empty). It does not
take ``ctx.portfolio`` (a full immutable snapshot), which is the expensive read; the hotpath
suite prices that separately.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from time import perf_counter_ns
from typing import TextIO

import structlog

from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import (
    MarketData,
    OrderFill,
    OrderReject,
    Side,
    SystemErrorEvent,
    trade_tick,
    trusted,
)
from livetrade.logs import LogFormat, close_logging, configure_logging, resume_logging
from livetrade.risk import RiskLimits
from livetrade.state.manager import StateManager
from livetrade.strategy import Strategy

SYMBOLS: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD")
NO_CONFLATION_DEPTH = 10**12
"""A conflation watermark no run reaches: every event reaches the strategy."""

Progress = Callable[[str], None]


class TickSource:
    """Builds ticks the way feeds do: a fresh ``datetime.now(UTC)``, prices from a fixed walk.

    ``trusted(i)`` uses :func:`livetrade.events.trade_tick` (what the simulated feed and the
    websocket trade decoders do); ``validated(i)`` runs pydantic validation (what the CSV
    reader does).
    Symbols take turns; prices cycle through 256 pre-built ``Decimal`` values so the
    producer measures event construction, not ``Decimal`` arithmetic.
    """

    def __init__(self, symbols: tuple[str, ...] = SYMBOLS) -> None:
        self.symbols = symbols
        self._n = len(symbols)
        self.prices = [Decimal(10_000 + (k * 37) % 500) / 100 for k in range(256)]
        self.volume = Decimal(5)

    def trusted(self, i: int) -> MarketData:
        return trade_tick(self.symbols[i % self._n], datetime.now(UTC), self.prices[i & 255],
                          self.volume)

    def validated(self, i: int) -> MarketData:
        return MarketData(symbol=self.symbols[i % self._n], timestamp=datetime.now(UTC),
                          price=self.prices[i & 255], volume=self.volume)


class MarkToMarket(Strategy):
    """Reads the last price and the book's equity on every tick; signals after ``expected``.

    See the module docstring for exactly what it does. ``equity`` is injected by
    :func:`build_engine` (the engine's ``Portfolio.equity``).
    """

    def __init__(self, expected: int = 0) -> None:
        self.expected = expected
        self.seen = 0
        self.done = threading.Event()
        self.finished_ns = 0
        self.equity: Callable[[], Decimal] = lambda: Decimal(0)
        self.last_equity = Decimal(0)

    def on_market_data(self, event: MarketData) -> None:
        last = self.ctx.last_price(event.symbol)
        if last is not None:
            self.last_equity = self.equity()
        self.seen += 1
        if self.seen == self.expected:
            self.finished_ns = perf_counter_ns()
            self.done.set()


class MarkToMarketTrader(MarkToMarket):
    """:class:`MarkToMarket` that also sends a market order every ``order_every`` ticks.

    Buys and sells alternate (the book stays near flat), one order in flight at a time:
    the order path (risk, paper broker, OrderAccepted and OrderFill events, fill booking)
    and, with a state manager, the write-ahead journal of every order event.
    """

    def __init__(self, expected: int, order_every: int) -> None:
        super().__init__(expected)
        self.order_every = order_every
        self.orders = 0
        self._buy = True
        self._in_flight = False

    def on_market_data(self, event: MarketData) -> None:
        super().on_market_data(event)
        if self._in_flight or self.seen % self.order_every:
            return
        self._in_flight = True
        self.orders += 1
        self.ctx.submit_order(event.symbol, Side.BUY if self._buy else Side.SELL, Decimal(1))
        self._buy = not self._buy

    def on_fill(self, fill: OrderFill) -> None:
        self._in_flight = False

    def on_reject(self, reject: OrderReject) -> None:
        self._in_flight = False


class LatencyProbe(MarkToMarket):
    """:class:`MarkToMarket` that stamps when it started and finished the k-th tick.

    With one producer, no conflation and FIFO within a priority, the k-th tick handled is
    the k-th published, so the producer's k-th publish stamp pairs with these.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__(0)
        self.started_ns = [0] * capacity
        self.done_ns = [0] * capacity
        self._capacity = capacity

    def on_market_data(self, event: MarketData) -> None:
        t0 = perf_counter_ns()
        k = self.seen
        last = self.ctx.last_price(event.symbol)
        if last is not None:
            self.last_equity = self.equity()
        self.seen = k + 1
        if k < self._capacity:
            self.started_ns[k] = t0
            self.done_ns[k] = perf_counter_ns()


class InjectionProbe(MarkToMarket):
    """Counts (and times) the fills and system errors a benchmark injected from outside."""

    SOURCE = "bench.injector"

    def __init__(self) -> None:
        super().__init__(0)
        self.fill_sent_ns: dict[str, int] = {}
        self.error_sent_ns: dict[str, int] = {}
        self.fill_latency_ns: list[int] = []
        self.error_latency_ns: list[int] = []

    def on_fill(self, fill: OrderFill) -> None:
        sent = self.fill_sent_ns.get(fill.fill_id)
        if sent is not None:
            self.fill_latency_ns.append(perf_counter_ns() - sent)

    def on_error(self, error: SystemErrorEvent) -> None:
        if error.source == self.SOURCE:
            sent = self.error_sent_ns.get(error.context.get("id", ""))
            if sent is not None:
                self.error_latency_ns.append(perf_counter_ns() - sent)


class RoundTripProbe(Strategy):
    """Sends a market order every ``order_every`` ticks, one at a time; times each fill."""

    def __init__(self, order_every: int) -> None:
        self.order_every = order_every
        self.ticks = 0
        self.samples: list[int] = []
        self.sent_ns: dict[str, int] = {}
        self.rejects = 0
        self._long = False
        self._in_flight = False

    def on_market_data(self, event: MarketData) -> None:
        self.ticks += 1
        if self._in_flight or self.ticks % self.order_every:
            return
        self._in_flight = True
        side = Side.SELL if self._long else Side.BUY
        started = perf_counter_ns()
        cid = self.ctx.submit_order(event.symbol, side, Decimal(1))
        self.sent_ns[cid] = started

    def on_fill(self, fill: OrderFill) -> None:
        now = perf_counter_ns()
        sent = self.sent_ns.pop(fill.client_order_id, None)
        if sent is not None:
            self.samples.append(now - sent)
        self._long = fill.side is Side.BUY
        self._in_flight = False

    def on_reject(self, reject: OrderReject) -> None:
        self.rejects += 1
        self._in_flight = False


class EngineRun:
    """Start, wait for, count and stop an engine driving a :class:`MarkToMarket` probe: the
    part every engine variant of suite 2 shares (they differ in how the engine is built).
    Events enter through ``engine.dispatcher.publish``, what ``engine.start()`` hands every
    feed, so the variants compare the same path."""

    engine: LiveTradingEngine
    strategy: MarkToMarket

    def start(self) -> None:
        self.engine.start()

    def wait_done(self, timeout_s: float) -> int | None:
        return self.strategy.finished_ns if self.strategy.done.wait(timeout_s) else None

    def handled(self) -> int:
        return self.strategy.seen

    def stop(self) -> None:
        self.engine.stop()


def injected_fill(i: int, symbol: str = SYMBOLS[0]) -> OrderFill:
    """A fill for an order the engine never sent (booked anyway, with a warning event)."""
    return trusted(OrderFill, order_id=f"BX{i}", client_order_id=f"bench-{i}", symbol=symbol,
                   side=Side.BUY if i % 2 == 0 else Side.SELL, fill_price=Decimal(100),
                   fill_amount=Decimal(1), commission=Decimal(0),
                   timestamp=datetime.now(UTC), fill_id=f"BF{i}")


def injected_error(i: int) -> SystemErrorEvent:
    return trusted(SystemErrorEvent, error_type="BenchmarkInjected", message=f"injected {i}",
                   source=InjectionProbe.SOURCE, timestamp=datetime.now(UTC),
                   context={"id": str(i)})


REPRESENTATIVE_LIMITS = RiskLimits(
    max_order_quantity=Decimal(1_000),
    max_order_notional=Decimal(10_000_000),
    max_position_quantity=Decimal(100_000),
    max_open_orders=1_000,
    max_orders_per_second=1_000_000,
)
"""Every risk check enabled (none binding), so the order path pays for all of them."""


def build_engine(
    strategy: Strategy,
    settings: EngineSettings,
    *,
    risk_limits: RiskLimits | None = None,
    seed_positions: bool = True,
    state: StateManager | None = None,
) -> LiveTradingEngine:
    """A real engine with the paper broker and no feeds; the caller publishes.

    ``seed_positions`` books one long position per symbol before start, so marking the
    book to market has something to sum. ``state`` attaches the state layer (journal and
    checkpoints); the fresh paper venue knows nothing of the seeded positions, so give it
    reconciliation policy "warn" to keep them.
    """
    engine = LiveTradingEngine(strategy, settings=settings, risk_limits=risk_limits,
                               state=state)
    if seed_positions:
        for symbol in SYMBOLS:
            engine.portfolio.apply_fill(symbol, Side.BUY, Decimal(10), Decimal(100), Decimal(0))
    if isinstance(strategy, MarkToMarket):
        strategy.equity = engine.portfolio.equity
    return engine


def throughput_settings(stop_timeout_s: float = 60.0) -> EngineSettings:
    """Live policy ("conflate") with the watermark out of reach: every event is handled."""
    return EngineSettings(market_data_policy="conflate", conflate_depth=NO_CONFLATION_DEPTH,
                          stop_timeout_s=stop_timeout_s)


@contextmanager
def engine_logging(level: str = "warning", fmt: LogFormat = "json", *,
                   background: bool = True) -> Iterator[None]:
    """Configure livetrade's logging to render into /dev/null; restore the old config after.

    Rendering still happens (so enabled log lines cost what they cost in production: on
    the background writer thread, as ``livetrade run`` configures it, or with
    ``background=False`` on the calling thread), the output just goes nowhere. structlog's
    config is process-wide, hence the restore; the writer thread is closed (after writing
    its queue) before the sink is.
    """
    saved = structlog.get_config()
    sink: TextIO = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        configure_logging(fmt, level, stream=sink, background=background)
        yield
    finally:
        close_logging()
        structlog.configure(**saved)
        resume_logging()  # an enclosing engine_logging's writer was closed on entry
        sink.close()
