"""The monitor hears what the resilience and state layers do: broker request latency and
errors per operation, retries, checkpoint durations; and a failed start stops it."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultkit import FlakyVenue
from kit import RecordingStrategy, md, wait_until
from test_monitoring_http import get, samples

from livetrade.clock import SystemClock
from livetrade.engine import LiveTradingEngine
from livetrade.errors import StateError
from livetrade.events import MarketData
from livetrade.monitoring import EngineMonitor, MonitoringSettings
from livetrade.orders import ClientOrderIdGenerator
from livetrade.resilience import RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.state.manager import StateManager, StateSettings
from livetrade.state.store import StateStore


def settings() -> MonitoringSettings:
    return MonitoringSettings(http_port=0, heartbeat_interval_s=0.05, poll_interval_s=0.05)


def value(page: str, name: str, **labels: str) -> float:
    return samples(page).get((name, tuple(sorted(labels.items()))), 0.0)


def test_broker_requests_errors_and_retries_reach_the_metrics() -> None:
    venue = FlakyVenue()
    broker = ResilientBroker(venue, ResilienceSettings(
        retry=RetryPolicy(attempts=3, initial_s=0.01)), sleep=lambda s: None)
    monitor = EngineMonitor(settings())
    def buy(strategy: RecordingStrategy, event: MarketData) -> None:
        strategy.ctx.buy(event.symbol, 1)

    strategy = RecordingStrategy(on_bar=buy)
    engine = LiveTradingEngine(strategy, broker=broker, monitor=monitor,
                               order_ids=ClientOrderIdGenerator("w"))
    engine.start()
    try:
        engine.publish(md("AAPL", 100))
        assert wait_until(lambda: len(strategy.of("fill")) == 1, 10)
        venue.lookups_fail = 1  # one failing lookup, then an answer: one retry
        assert engine.broker.get_order("w-1") is not None
        assert monitor.http is not None
        page = get(monitor.http.url + "/metrics")[1]
        assert value(page, "livetrade_broker_request_duration_seconds_count",
                     operation="submit") == 1
        assert value(page, "livetrade_broker_errors_total", operation="lookup",
                     kind="TransientBrokerError") == 1
        assert value(page, "livetrade_broker_retries_total", operation="lookup") == 1
    finally:
        engine.stop()


def test_checkpoint_durations_reach_the_metrics(tmp_path: Path) -> None:
    state = StateManager(StateSettings(directory=tmp_path, checkpoint_interval_s=0.05),
                         SystemClock())
    monitor = EngineMonitor(settings())
    engine = LiveTradingEngine(RecordingStrategy(), monitor=monitor, state=state)
    engine.start()
    try:
        assert wait_until(lambda: state.checkpoints_written >= 2, 10)
        assert monitor.http is not None
        page = get(monitor.http.url + "/metrics")[1]
        assert value(page, "livetrade_checkpoint_duration_seconds_count") >= 2
    finally:
        engine.stop()


def test_a_start_that_fails_stops_the_monitor_it_started(tmp_path: Path) -> None:
    StateStore(tmp_path, account_id="someone-else", strategy_id="s").close()
    monitor = EngineMonitor(settings())
    with pytest.raises(StateError):
        engine = LiveTradingEngine(RecordingStrategy(), monitor=monitor, state=StateManager(
            StateSettings(directory=tmp_path, account_id="me", strategy_id="s"),
            SystemClock()))
        engine.start()
    assert monitor.http is None or not _serving(monitor.http.url)


def _serving(url: str) -> bool:
    try:
        get(url + "/healthz")
    except OSError:
        return False
    return True


def test_handler_durations_are_sampled_into_a_summary_per_handler() -> None:
    monitor = EngineMonitor(settings())
    strategy = RecordingStrategy()
    engine = LiveTradingEngine(strategy, monitor=monitor)
    engine.start()
    try:
        for i in range(256):
            engine.publish(md("AAPL", 100 + i % 5))
        assert wait_until(lambda: len(strategy.of("market_data")) == 256, 15)
        assert monitor.http is not None
        page = get(monitor.http.url + "/metrics")[1]
        count = value(page, "livetrade_handler_duration_seconds_count",
                      handler="strategy.on_market_data")
        total = value(page, "livetrade_handler_duration_seconds_sum",
                      handler="strategy.on_market_data")
        assert 4 <= count <= 8  # one event in 64 (plus heartbeats sharing the counter)
        assert total > 0
    finally:
        engine.stop()
