"""The pipeline variants the throughput suite runs: the same workload, layers on or off.

A *pipeline* takes market data from producer threads (``publish``) to handlers on one
dispatcher thread. Today there are two real variants: the bare ``Dispatcher`` with one
no-op (counting) handler, and the full ``LiveTradingEngine``. Layers that later issues add
(metrics, checkpoints, hooks) register here as ``Variant``\\ s, each with its own builder;
until then they are listed as not yet available, so the table shows the gap.

To add a layer: write a ``Pipeline`` (see :class:`EnginePipeline`; usually a subclass that
turns the layer on after building the engine), then replace its placeholder in
:data:`VARIANTS` with ``Variant(name, description, build=YourPipeline)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any, Protocol

from benchmarks.workloads import (
    NO_CONFLATION_DEPTH,
    MarkToMarket,
    build_engine,
    throughput_settings,
)
from livetrade.dispatcher import Dispatcher
from livetrade.events import Event, MarketData


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


class EnginePipeline:
    """``LiveTradingEngine`` (paper broker, no feeds) with the :class:`MarkToMarket` probe.

    Every market data event runs the engine's own handler (mark the book), the paper
    broker's (quote, mark its account, check working orders) and the strategy's.
    """

    def __init__(self, expected: int) -> None:
        self.strategy = MarkToMarket(expected)
        self.engine = build_engine(self.strategy, throughput_settings())
        self.publish: Callable[[Event], None] = self.engine.publish

    def start(self) -> None:
        self.engine.start()

    def wait_done(self, timeout_s: float) -> int | None:
        return self.strategy.finished_ns if self.strategy.done.wait(timeout_s) else None

    def handled(self) -> int:
        return self.strategy.seen

    def stop(self) -> None:
        self.engine.stop()


@dataclass(frozen=True)
class Variant:
    """One row family of the throughput table. ``build`` is None until the layer exists."""

    name: str
    description: str
    build: Callable[[int], Pipeline] | None
    unavailable: str = ""


VARIANTS: tuple[Variant, ...] = (
    Variant("bare_dispatcher", "Dispatcher + one no-op (counting) handler",
            BareDispatcherPipeline),
    Variant("full_engine", "LiveTradingEngine: engine mark + paper broker + MarkToMarket",
            EnginePipeline),
    Variant("full_engine+metrics", "full engine with the metrics layer", None,
            "no metrics layer in livetrade yet (its issue adds this variant)"),
    Variant("full_engine+checkpoint", "full engine with periodic checkpoints", None,
            "no checkpoint layer in livetrade yet (its issue adds this variant)"),
    Variant("full_engine+hooks", "full engine with event hooks", None,
            "no hooks layer in livetrade yet (its issue adds this variant)"),
)
