"""The monitoring endpoint over loopback HTTP: /metrics parsed by prometheus_client's own
parser after a scripted run, /healthz on a wedged dispatcher, /readyz reasons, the bearer
token, and the loopback-only bind."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kit import D, RecordingStrategy, md, wait_until
from prometheus_client.parser import text_string_to_metric_families

from livetrade.brokers.paper import PaperBroker
from livetrade.engine import LiveTradingEngine
from livetrade.errors import ConfigError
from livetrade.events import MarketData
from livetrade.monitoring import EngineMonitor, MonitoringSettings
from livetrade.orders import ClientOrderIdGenerator
from livetrade.risk import RiskLimits


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, keyed by name and sorted labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@contextmanager
def running(strategy: RecordingStrategy, settings: MonitoringSettings | None = None,
            risk: RiskLimits | None = None) -> Iterator[tuple[LiveTradingEngine, str]]:
    monitor = EngineMonitor(settings or MonitoringSettings(
        http_port=0, heartbeat_interval_s=0.05, poll_interval_s=0.05))
    engine = LiveTradingEngine(strategy, broker=PaperBroker(), monitor=monitor,
                               order_ids=ClientOrderIdGenerator("m"), risk_limits=risk)
    engine.start()
    try:
        assert monitor.http is not None
        yield engine, monitor.http.url
    finally:
        engine.stop()


def trade_every_tenth(strategy: RecordingStrategy, event: MarketData) -> None:
    n = len(strategy.of("market_data"))
    if n % 10 == 0:
        strategy.ctx.buy(event.symbol, 1)
    if n == 25:
        strategy.ctx.buy(event.symbol, 10_000)  # over the risk limit: rejected


def test_metrics_after_a_scripted_run_match_what_happened() -> None:
    strategy = RecordingStrategy(on_bar=trade_every_tenth)
    with running(strategy, risk=RiskLimits(max_order_quantity=D(100))) as (engine, url):
        for i in range(50):
            engine.publish(md("AAPL", 100 + i % 3))
        assert strategy.wait_for(lambda s: len(s.of("fill")) == 5 and len(s.of("reject")) == 1)
        assert wait_until(lambda: engine.dispatcher.queue_depth == 0)
        engine.monitor._stop.set()  # type: ignore[union-attr]  # no heartbeats mid-scrape
        status, text = get(f"{url}/metrics")
        dispatched = engine.dispatcher.stats().dispatched
    assert status == 200
    values = samples(text)
    assert values[("livetrade_orders_total", (("event", "submitted"),))] == 5
    assert values[("livetrade_orders_total", (("event", "filled"),))] == 5
    assert values[("livetrade_orders_total", (("event", "rejected"),))] == 1
    assert values[("livetrade_fills_total", ())] == 5
    assert values[("livetrade_fill_latency_seconds_count", ())] == 5
    assert values[("livetrade_events_total", (("type", "MarketData"),))] == 50
    assert values[("livetrade_dispatch_latency_seconds_count", ())] == dispatched
    assert values[("livetrade_dispatch_latency_seconds_bucket", (("le", "+Inf"),))] == dispatched
    assert values[("livetrade_position", (("symbol", "AAPL"),))] == 5
    assert values[("livetrade_mode", (("mode", "live"),))] == 1
    assert values[("livetrade_queue_depth", ())] == 0


def test_healthz_goes_unhealthy_while_a_handler_blocks_the_dispatcher() -> None:
    release = threading.Event()
    entered = threading.Event()

    def wedge(strategy: RecordingStrategy, event: MarketData) -> None:
        if event.price == 666:
            entered.set()
            release.wait(10)

    settings = MonitoringSettings(http_port=0, heartbeat_interval_s=0.02,
                                  poll_interval_s=0.02, liveness_timeout_s=0.2)
    with running(RecordingStrategy(on_bar=wedge), settings) as (engine, url):
        assert wait_until(lambda: get(f"{url}/healthz")[0] == 200)
        engine.publish(md("AAPL", 666))
        assert entered.wait(5)
        assert wait_until(lambda: get(f"{url}/healthz")[0] == 503, timeout_s=5)
        assert "heartbeat" in get(f"{url}/healthz")[1]
        release.set()
        assert wait_until(lambda: get(f"{url}/healthz")[0] == 200, timeout_s=5)


def test_readyz_lists_every_failing_reason() -> None:
    with running(RecordingStrategy()) as (engine, url):
        assert get(f"{url}/readyz") == (200, "ready\n")
        engine.monitor.breaker_state_changed("binance", "orders", "closed", "open")  # type: ignore[union-attr]
        engine.engage_kill_switch("drill")
        status, body = get(f"{url}/readyz")
    assert status == 503
    assert "mode is halted: drill" in body
    assert "breaker binance:orders is open" in body


def test_token_protects_everything_but_healthz_and_never_leaks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-token-value"
    monkeypatch.setenv("LT_TEST_TOKEN", secret)
    settings = MonitoringSettings(http_port=0, token_env="LT_TEST_TOKEN")
    with running(RecordingStrategy(), settings) as (_, url):
        for path in ("/metrics", "/readyz", "/status"):
            assert get(f"{url}{path}")[0] == 401
            assert get(f"{url}{path}", token="wrong")[0] == 401
        assert get(f"{url}/healthz")[0] == 200
        bodies = [get(f"{url}{p}", token=secret) for p in ("/metrics", "/readyz", "/status")]
    assert [code for code, _ in bodies] == [200, 200, 200]
    assert all(secret not in body for _, body in bodies)
    document = json.loads(bodies[2][1])
    assert document["mode"] == "live" and document["state"] == "running"


def test_refuses_a_non_loopback_address_unless_allowed() -> None:
    refused = MonitoringSettings(http_port=0, bind_host="0.0.0.0")
    engine = LiveTradingEngine(RecordingStrategy(), broker=PaperBroker(),
                               monitor=EngineMonitor(refused))
    with pytest.raises(ConfigError, match="allow_non_loopback"):
        engine.start()
    allowed = MonitoringSettings(http_port=0, bind_host="0.0.0.0", allow_non_loopback=True)
    with running(RecordingStrategy(), allowed) as (_, url):
        port = url.rsplit(":", 1)[1]
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
