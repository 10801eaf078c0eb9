"""HyperliquidStreamFeed against the simulator's Hyperliquid websocket and /info (#10)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from wskit import EventRecorder, wait_until

from livetrade.app import build_feed
from livetrade.clock import SystemClock
from livetrade.config import HyperliquidStreamFeedSection
from livetrade.events import MarketData
from livetrade.feeds.health import Backoff
from livetrade.feeds.hyperliquid_stream import HyperliquidStreamFeed
from livetrade.feeds.stream_settings import StreamSettings
from livetrade.feeds.wire import BadFrame
from livetrade.simexchange import SimExchangeConfig
from livetrade.simexchange.dialects import DialectExchange, open_sim_exchange

SETTINGS = StreamSettings(stale_after_s=30, ping_interval_s=2, ping_timeout_s=1,
                          connect_timeout_s=2, resync_timeout_s=2,
                          backoff=Backoff(initial_s=0.2, max_s=0.4, jitter=0))
BTC, ETH = "BTC/USDC:USDC", "ETH/USDC:USDC"


@contextmanager
def hl_sim() -> Iterator[DialectExchange]:
    sim = open_sim_exchange(SimExchangeConfig(), "hyperliquid")
    assert isinstance(sim, DialectExchange)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def running(feed: HyperliquidStreamFeed, acks: int) -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    feed.start(recorder)
    try:
        assert wait_until(lambda: feed.health().counters.get("control_frames", 0) >= acks)
        yield recorder
    finally:
        feed.stop()
        assert feed.join(3.0)


def test_trades_arrive_in_order_per_coin() -> None:
    with hl_sim() as sim:
        feed = HyperliquidStreamFeed(sim.ws_url, [BTC, ETH], rest_url=sim.rest_url,
                                     settings=SETTINGS)
        steps = [Decimal(30000) + n for n in range(1, 11)]
        with running(feed, acks=2) as got:
            for price in steps:
                sim.set_price(BTC, price, Decimal("0.1"))
            sim.set_price(ETH, Decimal("2001"))
            got.wait_market(len(steps) + 1)
    btc = [m for m in got.market() if m.symbol == BTC]
    assert [m.price for m in btc] == steps and all(m.volume == Decimal("0.1") for m in btc)
    assert [m.price for m in got.market() if m.symbol == ETH] == [Decimal("2001")]
    assert feed.health().counters.get("garbage", 0) == 0


def test_all_mids_and_resync_after_a_drop() -> None:
    with hl_sim() as sim:
        feed = HyperliquidStreamFeed(sim.ws_url, [BTC], rest_url=sim.rest_url,
                                     kinds=("allMids",), settings=SETTINGS)
        with running(feed, acks=1) as got:
            sim.set_price(ETH, Decimal("2002"))  # allMids carries BTC too
            got.wait_market(1)
            assert sim.drop_streams() == 1
            assert wait_until(lambda: not feed.health().connected)
            sim.set_price(BTC, Decimal("30500"))  # while away
            got.wait_for(lambda evs: any(isinstance(e, MarketData) and e.price == 30500
                                         for e in evs))
    kinds = [(type(e).__name__, getattr(e, "price", None)) for e in got.snapshot()]
    assert kinds == [("MarketData", Decimal("30000")), ("FeedError", None),
                     ("MarketData", Decimal("30500"))]  # the REST resync
    assert all(m.symbol == BTC for m in got.market())


def test_foreign_coins_and_error_channels_are_garbage() -> None:
    feed = HyperliquidStreamFeed("ws://127.0.0.1:1", [BTC], settings=SETTINGS)
    assert feed.decode({"channel": "subscriptionResponse", "data": {}}) == []
    for frame, reason in (({"channel": "trades", "data": [{"coin": "DOGE"}]}, "unknown_stream"),
                          ({"channel": "error", "data": "bad"}, "venue_error"),
                          ({"channel": "l2Book", "data": {}}, "unknown_stream")):
        with pytest.raises(BadFrame) as caught:
            feed.decode(frame)
        assert caught.value.reason == reason


def test_config_section_builds_the_feed() -> None:
    section = HyperliquidStreamFeedSection.model_validate({
        "type": "hyperliquid_stream", "ws_url": "ws://127.0.0.1:1", "symbols": [BTC],
        "kinds": ["trades", "allMids"]})
    feed = build_feed(section, SystemClock())
    assert isinstance(feed, HyperliquidStreamFeed)
    assert feed.stream_url() == "ws://127.0.0.1:1/ws" and feed.kinds == ("trades", "allMids")
    assert len(feed.subscribe_frames()) == 2
