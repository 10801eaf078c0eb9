"""Hooks run off the dispatcher thread: a hook sleeping 1 s per call leaves the dispatch
latency histogram untouched, a raising hook is counted and the others still run, a full
hook queue drops monitoring events (counted) while every trading event is handled."""

from __future__ import annotations

import threading

from kit import RecordingStrategy, md, wait_until
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from livetrade.brokers.paper import PaperBroker
from livetrade.engine import LiveTradingEngine
from livetrade.events import MarketData
from livetrade.monitoring import EngineMonitor, MonitorEvent, MonitoringSettings
from livetrade.orders import ClientOrderIdGenerator


def buy_every_tick(strategy: RecordingStrategy, event: MarketData) -> None:
    strategy.ctx.buy(event.symbol, 1)


def latency_buckets(monitor: EngineMonitor) -> dict[str, float]:
    text = generate_latest(monitor.registry).decode()
    return {s.labels["le"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "livetrade_dispatch_latency_seconds" for s in f.samples
            if s.name.endswith("_bucket")}


def engine_with(monitor: EngineMonitor, strategy: RecordingStrategy) -> LiveTradingEngine:
    return LiveTradingEngine(strategy, broker=PaperBroker(), monitor=monitor,
                             order_ids=ClientOrderIdGenerator("h"))


def test_a_hook_sleeping_one_second_per_call_does_not_delay_dispatch() -> None:
    release = threading.Event()
    calls: list[MonitorEvent] = []

    def slow(event: MonitorEvent) -> None:
        calls.append(event)
        release.wait(1.0)  # 1 s per call (cut short at the end of the test)

    monitor = EngineMonitor(MonitoringSettings(heartbeat_interval_s=60, poll_interval_s=60))
    monitor.register_hook("on_order_filled", slow)
    strategy = RecordingStrategy(on_bar=buy_every_tick)
    engine = engine_with(monitor, strategy)
    engine.start()
    try:
        for i in range(20):
            engine.publish(md("AAPL", 100 + i))
        assert strategy.wait_for(lambda s: len(s.of("fill")) == 20)
        assert wait_until(lambda: engine.dispatcher.queue_depth == 0)
        buckets = latency_buckets(monitor)
        assert len(calls) < 20  # 20 s of hook work queued: the hook is still busy
    finally:
        release.set()
        engine.stop()
    dispatched = engine.dispatcher.stats().dispatched
    assert buckets["+Inf"] == dispatched
    # Inline, 20 one-second hooks would hold every event behind a fill for a second or
    # more; off the dispatcher thread none waits that long.
    assert buckets["1.0"] == dispatched
    assert len(calls) == 20  # delivered at stop: nothing dropped


def test_a_raising_hook_is_counted_and_the_others_still_run() -> None:
    seen: list[str] = []

    def bad(event: MonitorEvent) -> None:
        raise RuntimeError("hook bug")

    monitor = EngineMonitor()
    monitor.register_hook("on_order_submitted", bad)
    monitor.register_hook("on_order_submitted", lambda e: seen.append(e.data["symbol"]))
    strategy = RecordingStrategy(on_bar=buy_every_tick)
    engine = engine_with(monitor, strategy)
    engine.start()
    try:
        for _ in range(3):
            engine.publish(md("MSFT", 300))
        assert wait_until(lambda: len(seen) == 3)
    finally:
        engine.stop()
    assert monitor.hooks.errors == 3
    assert monitor.metrics.hook_errors.labels("on_order_submitted")._value.get() == 3


def test_a_full_hook_queue_drops_monitoring_events_never_trading_events() -> None:
    gate = threading.Event()
    monitor = EngineMonitor(MonitoringSettings(hook_queue_size=2))
    def blocked(event: MonitorEvent) -> None:
        gate.wait(5)

    monitor.register_hook("on_order_filled", blocked)
    strategy = RecordingStrategy(on_bar=buy_every_tick)
    engine = engine_with(monitor, strategy)
    engine.start()
    try:
        for i in range(10):
            engine.publish(md("AAPL", 100 + i))
        assert strategy.wait_for(lambda s: len(s.of("fill")) == 10)
        assert wait_until(lambda: monitor.hooks.dropped >= 7)
    finally:
        gate.set()
        engine.stop()
    assert engine.status().fills == 10
    assert monitor.hooks.dropped + monitor.hooks.delivered == 10
    assert monitor.metrics.hook_events_dropped._value.get() == monitor.hooks.dropped
