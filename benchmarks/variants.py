"""The pipeline variants the throughput suite runs: the same workload, layers on or off.

A *pipeline* takes market data from producer threads (``publish``) to handlers on one
dispatcher thread. The real variants: the bare ``Dispatcher`` with one no-op (counting)
handler, the full ``LiveTradingEngine``, the engine with the state layer (periodic
checkpoints), and the engine whose strategy also trades, without and with the state layer
(then every order event is journaled synchronously on the dispatcher thread). Layers that
later issues add register here as ``Variant``\\ s, each with its own builder (the
monitoring layer: ``full_engine+metrics`` and ``full_engine+hooks``).

A variant may name another in ``compare_to``: the throughput suite then also reports its
rate as a ratio to that variant's, measured in the same repetition, which is what the
layer costs.

To add a layer: write a ``Pipeline`` (see :class:`EnginePipeline`; usually a subclass that
turns the layer on when building the engine), then replace its placeholder in
:data:`VARIANTS` with ``Variant(name, description, build=YourPipeline)``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Protocol

from benchmarks.resiliencebench import ResilientTradingPipeline
from benchmarks.statebench import state_settings
from benchmarks.workloads import (
    NO_CONFLATION_DEPTH,
    EngineRun,
    MarkToMarket,
    MarkToMarketTrader,
    build_engine,
    throughput_settings,
)
from livetrade.clock import SystemClock
from livetrade.dispatcher import Dispatcher
from livetrade.events import Event, MarketData
from livetrade.monitoring import HOOK_NAMES, EngineMonitor, MonitorEvent, MonitoringSettings
from livetrade.state.manager import StateManager

CHECKPOINT_INTERVAL_S = 0.05
"""Periodic checkpoints (and the debounce after order activity) of the state variants."""
ORDER_EVERY = 250
"""Ticks between market orders in the trading variants (one order in flight at a time)."""


class Pipeline(Protocol):
    """Producers → one consumer thread. Built for an ``expected`` number of events."""

    @property
    def publish(self) -> Callable[[Event], None]:
        """Thread-safe; what producer threads call."""
        ...

    def start(self) -> None: ...

    def wait_done(self, timeout_s: float) -> int | None:
        """Block until ``expected`` events were handled; their end time (perf ns) or None."""
        ...

    def handled(self) -> int: ...

    def stop(self) -> None:
        """Stop and release threads; blocks (bounded)."""
        ...


class BareDispatcherPipeline:
    """The real ``Dispatcher``, one handler that only counts. The engine's own floor."""

    def __init__(self, expected: int) -> None:
        self.dispatcher = Dispatcher(market_data_policy="conflate",
                                     conflate_depth=NO_CONFLATION_DEPTH)
        self.dispatcher.subscribe(MarketData, self._on_event, "bench.noop")
        self.publish: Callable[[Event], None] = self.dispatcher.publish
        self._expected = expected
        self._seen = 0
        self._done = threading.Event()
        self._finished_ns = 0

    def _on_event(self, event: Any) -> None:
        self._seen += 1
        if self._seen == self._expected:
            self._finished_ns = perf_counter_ns()
            self._done.set()

    def start(self) -> None:
        self.dispatcher.start()

    def wait_done(self, timeout_s: float) -> int | None:
        return self._finished_ns if self._done.wait(timeout_s) else None

    def handled(self) -> int:
        return self._seen

    def stop(self) -> None:
        self.dispatcher.stop(drain=True, timeout_s=60.0)


class EnginePipeline(EngineRun):
    """``LiveTradingEngine`` (paper broker, no feeds) with the :class:`MarkToMarket` probe.

    Every market data event runs the engine's own handler (mark the book), the paper
    broker's (quote, mark its account, check working orders) and the strategy's.
    """

    def __init__(self, expected: int) -> None:
        self.strategy = self._strategy(expected)
        self.state = self._state()
        self.engine = build_engine(self.strategy, throughput_settings(), state=self.state)
        # What engine.start() hands every feed (engine.publish adds a call on top).
        self.publish: Callable[[Event], None] = self.engine.dispatcher.publish

    def _strategy(self, expected: int) -> MarkToMarket:
        return MarkToMarket(expected)

    def _state(self) -> StateManager | None:
        return None


class CheckpointPipeline(EnginePipeline):
    """:class:`EnginePipeline` plus the state layer: a ``StateManager`` on a temporary
    directory, periodic checkpoints every :data:`CHECKPOINT_INTERVAL_S` (captured on the
    dispatcher thread, written by the writer thread), the journal for every order event.

    Reconciliation policy "warn": the fresh paper venue knows nothing of the positions the
    builder seeds, and "adopt_broker" would zero them (changing the workload). The
    directory is removed on :meth:`stop`.
    """

    def _state(self) -> StateManager | None:
        self._directory = Path(tempfile.mkdtemp(prefix="livetrade-bench-state-"))
        settings = state_settings(self._directory, interval_s=CHECKPOINT_INTERVAL_S,
                                  debounce_s=CHECKPOINT_INTERVAL_S, policy="warn")
        return StateManager(settings, SystemClock())

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.state is not None:
                self.state.store.close()
            shutil.rmtree(self._directory, ignore_errors=True)


class TradingPipeline(EnginePipeline):
    """:class:`EnginePipeline` whose strategy also sends a market order every
    :data:`ORDER_EVERY` ticks (:class:`~benchmarks.workloads.MarkToMarketTrader`)."""

    def _strategy(self, expected: int) -> MarkToMarket:
        return MarkToMarketTrader(expected, ORDER_EVERY)


class TradingCheckpointPipeline(CheckpointPipeline):
    """:class:`TradingPipeline` with the state layer of :class:`CheckpointPipeline`: every
    order event is journaled (one SQLite transaction each, on the dispatcher thread) and
    order activity triggers debounced checkpoints on top of the periodic ones."""

    def _strategy(self, expected: int) -> MarkToMarket:
        return MarkToMarketTrader(expected, ORDER_EVERY)


SCRAPE_INTERVAL_S = 1.0
"""How often the metrics variants render ``/metrics`` (Prometheus scrapes every 15 s)."""


class MetricsPipeline(EnginePipeline):
    """:class:`EnginePipeline` with an ``EngineMonitor`` attached (per-event latency
    histogram, heartbeats, condition polling, no HTTP server) and a scraper thread that
    renders the whole registry every :data:`SCRAPE_INTERVAL_S`, as Prometheus would."""

    def __init__(self, expected: int) -> None:
        super().__init__(expected)
        self.monitor = EngineMonitor(MonitoringSettings())
        self.monitor.attach(self.engine)
        self.engine.monitor = self.monitor  # what monitor= in the constructor does
        self._scraping = threading.Event()
        self._scraper = threading.Thread(target=self._scrape, name="bench-scraper",
                                         daemon=True)
        self.scrapes = 0

    def _scrape(self) -> None:
        from prometheus_client import generate_latest

        while not self._scraping.wait(SCRAPE_INTERVAL_S):
            generate_latest(self.monitor.registry)
            self.scrapes += 1

    def start(self) -> None:
        super().start()
        self._scraper.start()

    def stop(self) -> None:
        self._scraping.set()
        self._scraper.join(10.0)
        super().stop()


class HooksPipeline(MetricsPipeline):
    """:class:`MetricsPipeline` whose strategy trades (as :class:`TradingPipeline`), with
    a counting hook registered on every hook name: each order event also crosses the
    bounded hook queue to the hook thread."""

    def __init__(self, expected: int) -> None:
        super().__init__(expected)
        self.hook_calls = 0
        for name in HOOK_NAMES:
            self.monitor.register_hook(name, self._count)

    def _count(self, event: MonitorEvent) -> None:
        self.hook_calls += 1

    def _strategy(self, expected: int) -> MarkToMarket:
        return MarkToMarketTrader(expected, ORDER_EVERY)


@dataclass(frozen=True)
class Variant:
    """One row family of the throughput table. ``build`` is None until the layer exists.

    ``compare_to``: the name of the variant this one adds a layer to (its same-run
    baseline), or empty.
    """

    name: str
    description: str
    build: Callable[[int], Pipeline] | None
    unavailable: str = ""
    compare_to: str = ""


VARIANTS: tuple[Variant, ...] = (
    Variant("bare_dispatcher", "Dispatcher + one no-op (counting) handler",
            BareDispatcherPipeline),
    Variant("full_engine", "LiveTradingEngine: engine mark + paper broker + MarkToMarket",
            EnginePipeline),
    Variant("full_engine+metrics",
            f"full engine + EngineMonitor (latency histogram, heartbeats), registry "
            f"rendered every {SCRAPE_INTERVAL_S:g} s", MetricsPipeline,
            compare_to="full_engine"),
    Variant("full_engine+checkpoint",
            f"full engine + StateManager on a temp dir, checkpoint every "
            f"{CHECKPOINT_INTERVAL_S * 1000:.0f} ms (no orders: the journal stays idle)",
            CheckpointPipeline, compare_to="full_engine"),
    Variant("full_engine+orders",
            f"full engine, strategy also sends a market order every {ORDER_EVERY:,} ticks",
            TradingPipeline, compare_to="full_engine"),
    Variant("full_engine+orders+checkpoint",
            "full_engine+orders + StateManager: every order event journaled, checkpoints "
            f"every {CHECKPOINT_INTERVAL_S * 1000:.0f} ms and after order activity",
            TradingCheckpointPipeline, compare_to="full_engine+orders"),
    Variant("full_engine+orders+resilience",
            "full_engine+orders, broker guarded as in production: ShadowingBroker("
            "ResilientBroker(paper), shadow paper) - retries, breakers, deadlines, shadow",
            lambda n: ResilientTradingPipeline(n, ORDER_EVERY),
            compare_to="full_engine+orders"),
    Variant("full_engine+hooks",
            "full_engine+orders + EngineMonitor with a counting hook on every hook name",
            HooksPipeline, compare_to="full_engine+orders"),
)
