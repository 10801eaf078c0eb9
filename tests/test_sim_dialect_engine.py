"""The engine runs ``examples/sma_crossover.py:SmaCrossover`` end to end against the Bybit
and the Hyperliquid dialects: market data from each venue's stream feed
(``BybitStreamFeed``, ``HyperliquidStreamFeed``), orders through the ``CCXTAdapter`` (ccxt's
real ``bybit`` / ``hyperliquid`` class; on Hyperliquid every action is signed and verified)
on a linear perpetual, and the final position equals the simulator's. A dropped submit
through the adapter leaves exactly one order on either venue.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from wskit import wait_until

from livetrade.brokers.ccxt.capabilities import capabilities
from livetrade.brokers.ccxt.factory import ccxt_adapter_from_section
from livetrade.clock import SystemClock
from livetrade.config import CCXTBrokerSection
from livetrade.engine import LiveTradingEngine
from livetrade.errors import AmbiguousOutcomeError
from livetrade.events import Event, MarketData, OrderFill, Side
from livetrade.feeds.bybit_stream import BybitStreamFeed
from livetrade.feeds.health import Backoff
from livetrade.feeds.hyperliquid_stream import HyperliquidStreamFeed
from livetrade.feeds.stream_settings import StreamSettings
from livetrade.feeds.ws_base import WebSocketFeed
from livetrade.orders import OrderRequest
from livetrade.resilience import RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.simexchange import FaultConfig, SimExchangeConfig
from livetrade.simexchange.dialects import DialectExchange, open_sim_exchange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from sma_crossover import SmaCrossover

D = Decimal


@dataclass(frozen=True)
class Venue:
    """What differs between the two dialects for these tests."""

    dialect: str
    perp: str
    quote: str
    feed: Callable[..., WebSocketFeed]
    order_path: str  # the submit endpoint, for the dropped-answer fault


VENUES = [Venue("bybit", "BTC/USDT:USDT", "USDT", BybitStreamFeed, "POST /v5/order/create"),
          Venue("hyperliquid", "BTC/USDC:USDC", "USDC", HyperliquidStreamFeed,
                "POST /exchange")]
by_dialect = pytest.mark.parametrize("venue", VENUES, ids=[v.dialect for v in VENUES])


class CountingSma(SmaCrossover):
    """The example strategy, counting what it saw so the test can wait on conditions."""

    def __init__(self) -> None:
        super().__init__(fast=2, slow=4, quantity="0.01")
        self.ticks = 0
        self.fills: list[OrderFill] = []
        self.changed = threading.Condition()

    def on_market_data(self, event: MarketData) -> None:
        super().on_market_data(event)
        with self.changed:
            self.ticks += 1
            self.changed.notify_all()

    def on_fill(self, fill: OrderFill) -> None:
        super().on_fill(fill)
        with self.changed:
            self.fills.append(fill)
            self.changed.notify_all()


@by_dialect
def test_sma_crossover_trades_a_perpetual_end_to_end(venue: Venue) -> None:
    perp = venue.perp
    sim = open_sim_exchange(SimExchangeConfig(), venue.dialect)
    assert isinstance(sim, DialectExchange)
    sim.start()
    section = CCXTBrokerSection(
        type="ccxt", exchange=venue.dialect, rest_url=sim.rest_url,
        api_key=SecretStr(sim.api_key), api_secret=SecretStr(sim.api_secret),
        symbols=[perp], quote_currency=venue.quote, poll_interval_s=0.05,
        enable_rate_limit=False, timeout_ms=5000)
    adapter = ccxt_adapter_from_section(section, SystemClock())
    feed = venue.feed(sim.ws_url, [perp], rest_url=sim.rest_url, settings=StreamSettings(
        stale_after_s=30, ping_interval_s=2, ping_timeout_s=1, connect_timeout_s=2,
        backoff=Backoff(initial_s=0.2, max_s=0.4, jitter=0)))
    strategy = CountingSma()
    engine = LiveTradingEngine(strategy, broker=adapter, feeds=[feed])
    engine.start()
    try:
        assert wait_until(lambda: feed.health().counters.get("control_frames", 0) >= 1)

        def tick(price: str, fills: int) -> None:
            with strategy.changed:
                before = strategy.ticks
                sim.set_price(perp, D(price), D(1))
                assert strategy.changed.wait_for(
                    lambda: strategy.ticks > before and len(strategy.fills) >= fills, 5.0)

        for price in ("30000", "30000", "30000", "30000"):
            tick(price, 0)
        tick("30100", 1)  # above slow: buy 0.01 (Hyperliquid: an Ioc at last + 5%)
        tick("29900", 2)  # crosses below: sell the position
        tick("30000", 2)
        tick("30300", 3)  # above again: buy 0.01 and hold it
        assert engine.wait_until_idle(5.0)
        status = engine.status()
        held_at_venue = sim.positions()
        held = adapter.get_positions()
        poll_errors = adapter.poll_errors
    finally:
        engine.stop()
        sim.stop()

    assert [(f.side.value, f.fill_amount, f.fill_price) for f in strategy.fills] == [
        ("buy", D("0.01"), D("30100")), ("sell", D("0.01"), D("29900")),
        ("buy", D("0.01"), D("30300"))]
    assert status.positions.get(perp) == D("0.01")
    assert held_at_venue[perp].quantity == D("0.01") and held == {perp: D("0.01")}
    assert held_at_venue[perp].realized_pnl == D("-2")  # bought 30100, sold 29900
    assert poll_errors == 0


@by_dialect
def test_a_dropped_submit_through_the_adapter_leaves_exactly_one_order(venue: Venue) -> None:
    perp = venue.perp
    sim = open_sim_exchange(SimExchangeConfig(faults=FaultConfig(
        timeout_rate=1.0, timeout_hold_s=0.2, scope=(venue.order_path,))), venue.dialect)
    assert isinstance(sim, DialectExchange)
    sim.start()
    section = CCXTBrokerSection(
        type="ccxt", exchange=venue.dialect, rest_url=sim.rest_url,
        api_key=SecretStr(sim.api_key), api_secret=SecretStr(sim.api_secret),
        symbols=[perp], poll_interval_s=0.05, enable_rate_limit=False, timeout_ms=1500)
    adapter = ccxt_adapter_from_section(section, SystemClock())
    events: list[Event] = []
    adapter.connect(events.append)
    try:
        broker = ResilientBroker(adapter, ResilienceSettings(
            retry=RetryPolicy(attempts=2, initial_s=0.01),
            submit_retry=RetryPolicy(attempts=3, initial_s=0.01)))
        request = OrderRequest(perp, Side.BUY, D("0.01"))
        with pytest.raises(AmbiguousOutcomeError):
            adapter.submit_order("amb-0", request)  # the bare adapter: outcome unknown
        broker.submit_order("amb-1", request)  # resolved by lookup, never sent twice
        caps = capabilities(venue.dialect)
        placed = [o.client_order_id for o in sim.venue_orders()]
        assert placed == [caps.client_order_id("amb-0"), caps.client_order_id("amb-1")]
        sim.faults.clear()
        assert wait_until(lambda: {e.client_order_id for e in events
                                   if isinstance(e, OrderFill)} == {"amb-0", "amb-1"})
        assert sim.positions()[perp].quantity == D("0.02")
    finally:
        adapter.disconnect()
        sim.stop()
