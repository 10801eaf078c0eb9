"""Shared pieces of the state benchmarks: the book, the state settings, engines on a store.

Used by suite 6 (:mod:`benchmarks.suites.checkpoints`), by the throughput variants with the
state layer (:mod:`benchmarks.variants`) and by the crash child
(:mod:`benchmarks.restore_child`), so all of them build the same engines the same way.

**The book of size N** (:func:`build_book`) is built through the real engine in synchronous
drive mode over the paper broker: one quote (price 100, volume 2) for each of N symbols,
then per symbol one GTC limit buy of 2 at 100. The venue fills 1 on arrival (its
participation is 0.5 of the quote's volume) and the rest (1) rests. So the book holds N
positions and N open, partially filled orders, each with its fill in its lifecycle. With a
state manager attached, every order writes three journal entries on the way (intent, ack,
fill), synchronously, exactly as in a live run.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.clock import Clock
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.events import MarketData, OrderType, Side, trusted
from livetrade.state.manager import Captured, StateManager, StateSettings
from livetrade.state.reconcile import Policy
from livetrade.strategy import Strategy

ACCOUNT_ID = "bench"
STRATEGY_ID = "checkpoints"
BOOK_PRICE = Decimal(100)
BOOK_QUOTE_VOLUME = Decimal(2)
BOOK_ORDER_QUANTITY = Decimal(2)
PROBE_SYMBOL = "ZPROBE"
"""The symbol of the first tick after a restart: in no book, so it fills nothing."""

VENUE = PaperBrokerConfig(initial_cash=Decimal(10**9), participation=Decimal("0.5"))
"""Enough cash for 10,000 positions; participation makes each book order fill half."""


def book_symbol(k: int) -> str:
    return f"B{k:05d}"


def tick(symbol: str, price: Decimal = BOOK_PRICE, volume: Decimal = Decimal(0)) -> MarketData:
    """A tick built the way feeds build them (``trusted``, wall-clock timestamp)."""
    return trusted(MarketData, symbol=symbol, timestamp=datetime.now(UTC), price=price,
                   volume=volume)


def state_settings(directory: Path, *, interval_s: float = 0.0, debounce_s: float = 0.5,
                   policy: Policy = "adopt_broker") -> StateSettings:
    """The bench account's ``[state]``: ``interval_s`` 0 means no periodic checkpoint."""
    return StateSettings(directory=directory, account_id=ACCOUNT_ID, strategy_id=STRATEGY_ID,
                         checkpoint_interval_s=interval_s, debounce_s=debounce_s,
                         reconcile_policy=policy)


class StashingState(StateManager):
    """A StateManager whose ``submit`` keeps the capture instead of queueing it.

    For drive mode, where no writer thread runs: ``engine.process(CheckpointDue(...))``
    then captures on the calling thread through the engine's real handler, and the bench
    takes the capture from :attr:`stashed` to time the writer's work itself.
    """

    def __init__(self, settings: StateSettings, clock: Clock) -> None:
        super().__init__(settings, clock)
        self.stashed: list[Captured] = []

    def submit(self, captured: Captured) -> None:
        self.stashed.append(captured)


class BookKeeper(Strategy):
    """Holds a little strategy state of its own (it round-trips through checkpoints)."""

    def __init__(self) -> None:
        self.ticks = 0

    def on_market_data(self, event: MarketData) -> None:
        self.ticks += 1

    def get_state(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "name": "book-keeper"}

    def set_state(self, state: dict[str, Any]) -> None:
        self.ticks = int(state.get("ticks", 0))


class FirstTick(Strategy):
    """Signals the first market data it handles; accepts whatever state it is given."""

    def __init__(self) -> None:
        self.first = threading.Event()
        self.first_ns = 0
        self.restored: dict[str, Any] = {}

    def on_market_data(self, event: MarketData) -> None:
        if not self.first.is_set():
            self.first_ns = perf_counter_ns()
            self.first.set()

    def set_state(self, state: dict[str, Any]) -> None:
        self.restored = dict(state)


def drive_engine(strategy: Strategy, broker: PaperBroker, clock: Clock,
                 state: StateManager | None) -> LiveTradingEngine:
    """An engine for synchronous drive mode (no threads; the caller processes)."""
    settings = EngineSettings(market_data_policy="unbounded",
                              closed_orders_kept=10_000)
    return LiveTradingEngine(strategy, broker=broker, clock=clock, settings=settings,
                             state=state)


def quote_book(engine: LiveTradingEngine, n: int) -> None:
    """First step of the book: one quote for each of its ``n`` symbols (drive mode)."""
    engine.process(*[tick(book_symbol(k), BOOK_PRICE, BOOK_QUOTE_VOLUME) for k in range(n)])


def add_book_order(engine: LiveTradingEngine, k: int) -> int:
    """Second step, per symbol: the limit buy, processed until its fill is booked.

    Returns how long that took (submit → risk → journal → venue → ack and fill handled,
    each journaled when a state manager is attached), in ns.
    """
    started = perf_counter_ns()
    engine.context.submit_order(book_symbol(k), Side.BUY, BOOK_ORDER_QUANTITY, OrderType.LIMIT,
                                limit_price=BOOK_PRICE)
    engine.process()
    return perf_counter_ns() - started


def build_book(engine: LiveTradingEngine, n: int) -> list[int]:
    """Drive a started (``start_sync``) engine to the book of size ``n``; see the module
    docstring. Returns :func:`add_book_order`'s time for each order."""
    quote_book(engine, n)
    return [add_book_order(engine, k) for k in range(n)]
