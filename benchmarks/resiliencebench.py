"""The resilience layer on the dispatcher's hot path: ``full_engine+orders+resilience``.

Why: retries, breakers and deadlines must cost the dispatcher nothing, because they run
on the broker's execution thread, never on the dispatcher. The variant proves it by
measurement: the same trading workload as ``full_engine+orders`` with its paper broker
wrapped exactly as ``livetrade.app.guard_broker`` wraps a live one —
``ShadowingBroker(ResilientBroker(paper), shadow paper)`` — so every order goes through
the executor thread, a breaker and a deadline thread, and every tick also marks the
shadow venue (what shadow mode needs to be ready).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from benchmarks.workloads import SYMBOLS, EngineRun, MarkToMarketTrader, throughput_settings
from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.clock import SystemClock
from livetrade.engine import LiveTradingEngine
from livetrade.events import Event, Side
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.resilience.shadow import DegradeSettings, ShadowingBroker


class ResilientTradingPipeline(EngineRun):
    """``full_engine+orders`` with the broker guarded as in production (see module doc)."""

    def __init__(self, expected: int, order_every: int) -> None:
        clock = SystemClock()
        self.strategy = MarkToMarketTrader(expected, order_every)
        live = ResilientBroker(PaperBroker(clock=clock), ResilienceSettings(), clock=clock)
        shadow = PaperBroker(PaperBrokerConfig(initial_cash=Decimal(10) ** 12), clock=clock)
        broker = ShadowingBroker(live, shadow, DegradeSettings(), clock=clock)
        self.engine = LiveTradingEngine(self.strategy, broker=broker,
                                        settings=throughput_settings(), clock=clock)
        for symbol in SYMBOLS:  # as benchmarks.workloads.build_engine seeds the book
            self.engine.portfolio.apply_fill(symbol, Side.BUY, Decimal(10), Decimal(100),
                                             Decimal(0))
        self.strategy.equity = self.engine.portfolio.equity
        self.publish: Callable[[Event], None] = self.engine.dispatcher.publish
