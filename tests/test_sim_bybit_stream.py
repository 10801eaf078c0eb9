"""BybitStreamFeed against the simulator's Bybit websocket and REST front doors (#10)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from wskit import EventRecorder, wait_until

from livetrade.app import build_feed
from livetrade.clock import SystemClock
from livetrade.config import BybitStreamFeedSection
from livetrade.errors import ConfigError
from livetrade.events import MarketData
from livetrade.feeds.bybit_stream import BybitStreamFeed
from livetrade.feeds.health import Backoff
from livetrade.feeds.stream_settings import StreamSettings
from livetrade.feeds.wire import BadFrame
from livetrade.simexchange import SimExchangeConfig
from livetrade.simexchange.dialects import DialectExchange, open_sim_exchange

SETTINGS = StreamSettings(stale_after_s=30, ping_interval_s=2, ping_timeout_s=1,
                          connect_timeout_s=2, resync_timeout_s=2,
                          backoff=Backoff(initial_s=0.2, max_s=0.4, jitter=0))
PERP, ETH_PERP = "BTC/USDT:USDT", "ETH/USDT:USDT"
D = Decimal


@contextmanager
def bybit_sim() -> Iterator[DialectExchange]:
    sim = open_sim_exchange(SimExchangeConfig(), "bybit")
    assert isinstance(sim, DialectExchange)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def running(feed: BybitStreamFeed, acks: int = 1) -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    feed.start(recorder)
    try:
        assert wait_until(lambda: feed.health().counters.get("control_frames", 0) >= acks)
        yield recorder
    finally:
        feed.stop()
        assert feed.join(3.0)


def test_linear_trades_and_tickers_arrive_in_order() -> None:
    with bybit_sim() as sim:
        feed = BybitStreamFeed(sim.ws_url, [PERP, ETH_PERP], rest_url=sim.rest_url,
                               kinds=("publicTrade", "tickers"), settings=SETTINGS)
        steps = [Decimal(30000) + n for n in range(1, 11)]
        with running(feed) as got:
            for price in steps:
                sim.set_price(PERP, price, Decimal("0.25"))
            sim.set_price("BTC/USDT", Decimal("1"))  # the spot twin: another connection
            got.wait_market(2 * len(steps))
    trades = [m for m in got.market() if m.bid is None]
    quotes = [m for m in got.market() if m.bid is not None]
    assert [t.price for t in trades] == steps
    assert all(t.symbol == PERP and t.volume == Decimal("0.25") for t in trades)
    assert [q.price for q in quotes] == steps
    assert all(q.bid is not None and q.ask is not None and q.bid < q.price < q.ask
               for q in quotes)
    assert feed.health().counters.get("garbage", 0) == 0


def test_reconnects_after_a_drop_and_resyncs_the_gap_price_over_rest() -> None:
    with bybit_sim() as sim:
        feed = BybitStreamFeed(sim.ws_url, ["BTC/USDT"], rest_url=sim.rest_url,
                               settings=SETTINGS)
        with running(feed) as got:
            sim.set_price("BTC/USDT", Decimal("30001"))
            got.wait_market(1)
            assert sim.drop_streams() == 1
            assert wait_until(lambda: not feed.health().connected)
            sim.set_price("BTC/USDT", Decimal("30002"))  # while away
            assert wait_until(lambda: feed.health().counters.get("control_frames", 0) >= 2)
            sim.set_price("BTC/USDT", Decimal("30003"))
            got.wait_for(lambda evs: any(isinstance(e, MarketData) and e.price == 30003
                                         for e in evs))
    assert [(type(e).__name__, getattr(e, "price", None)) for e in got.snapshot()] == [
        ("MarketData", Decimal("30001")), ("FeedError", None),
        ("MarketData", Decimal("30002")), ("MarketData", Decimal("30003"))]
    assert feed.health().reconnects == 1


def test_unknown_topics_and_refused_subscriptions_are_garbage_not_data() -> None:
    feed = BybitStreamFeed("ws://127.0.0.1:1", [PERP], settings=SETTINGS)
    for frame, reason in (({"topic": "publicTrade.XRPUSDT", "data": []}, "unknown_stream"),
                          ({"op": "subscribe", "success": False, "ret_msg": "no"},
                           "venue_error"),
                          ({"topic": "publicTrade.BTCUSDT", "data": {}}, "bad_shape")):
        with pytest.raises(BadFrame) as caught:
            feed.decode(frame)
        assert caught.value.reason == reason
    with pytest.raises(ConfigError):
        BybitStreamFeed("ws://127.0.0.1:1", ["BTC/USDT", PERP])


def test_config_section_builds_the_feed() -> None:
    section = BybitStreamFeedSection.model_validate({
        "type": "bybit_stream", "ws_url": "ws://127.0.0.1:1", "rest_url": "http://127.0.0.1:1",
        "symbols": [PERP], "kinds": ["publicTrade", "tickers"], "stale_after_s": 5,
        "reconnect_initial_s": 0.05})
    feed = build_feed(section, SystemClock())
    assert isinstance(feed, BybitStreamFeed)
    assert feed.category == "linear" and feed.settings.stale_after_s == 5
    assert feed.stream_url() == "ws://127.0.0.1:1/v5/public/linear"
    with pytest.raises(ConfigError):
        build_feed(section.model_copy(update={"kinds": ["orderbook.50"]}), SystemClock())


def test_linear_ticker_deltas_merge_onto_the_last_snapshot() -> None:
    feed = BybitStreamFeed("ws://127.0.0.1:1", [PERP], kinds=("tickers",), settings=SETTINGS)
    snapshot = {"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": 1_700_000_000_000,
                "data": {"symbol": "BTCUSDT", "lastPrice": "30000", "bid1Price": "29999.9",
                         "ask1Price": "30000.1"}}
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1_700_000_000_100,
             "data": {"symbol": "BTCUSDT", "lastPrice": "30001.5"}}
    first, = feed.decode(snapshot)
    merged, = feed.decode(delta)
    assert (first.price, first.bid, first.ask) == (D("30000"), D("29999.9"), D("30000.1"))
    assert (merged.price, merged.bid, merged.ask) == (D("30001.5"), D("29999.9"),
                                                      D("30000.1"))
    feed.subscribe_frames()  # a reconnect: deltas must wait for a new snapshot
    assert feed.decode(delta)[0].bid is None
