"""BinanceStreamFeed end to end against ``livetrade sim-exchange`` (its real websocket and
REST front doors), and the config path that builds it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from kit import RecordingStrategy
from simkit import running_sim
from wskit import EventRecorder, wait_until

from livetrade.app import build_feed
from livetrade.clock import SystemClock
from livetrade.config import BinanceStreamFeedSection
from livetrade.engine import LiveTradingEngine
from livetrade.events import FeedError, MarketData
from livetrade.feeds.binance_stream import BinanceStreamFeed
from livetrade.feeds.health import Backoff
from livetrade.feeds.stream_settings import StreamSettings
from livetrade.simexchange import SimExchange

SETTINGS = StreamSettings(stale_after_s=30, ping_interval_s=2, ping_timeout_s=1,
                          connect_timeout_s=2, resync_timeout_s=2,
                          backoff=Backoff(initial_s=0.2, max_s=0.4, jitter=0))


def sim_feed(sim: SimExchange, streams: tuple[str, ...] = ("trade",)) -> BinanceStreamFeed:
    return BinanceStreamFeed(sim.ws_url, ["BTC/USDT", "ETH/USDT"], rest_url=sim.rest_url,
                             streams=streams, settings=SETTINGS)


def subscribed(feed: BinanceStreamFeed, connections: int) -> bool:
    """The venue acknowledged our SUBSCRIBE on the ``connections``-th connection."""
    health = feed.health()
    return health.connected and health.counters.get("control_frames", 0) >= connections


@contextmanager
def running(feed: BinanceStreamFeed) -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    feed.start(recorder)
    try:
        assert wait_until(lambda: subscribed(feed, 1))
        yield recorder
    finally:
        feed.stop()
        assert feed.join(3.0)


def test_set_price_steps_arrive_in_order_as_trades_and_quotes() -> None:
    steps = [Decimal(30000) + n for n in range(1, 21)]
    with running_sim() as sim:
        feed = sim_feed(sim, ("trade", "bookTicker"))
        with running(feed) as got:
            for price in steps:
                sim.set_price("BTC/USDT", price, volume=Decimal("0.5"))
            got.wait_market(2 * len(steps))
    trades = [m for m in got.market() if m.bid is None]
    quotes = [m for m in got.market() if m.bid is not None]
    assert [t.price for t in trades] == steps
    assert all(t.symbol == "BTC/USDT" and t.volume == Decimal("0.5") for t in trades)
    assert [q.bid is not None and q.ask is not None and q.bid < q.ask for q in quotes] == [
        True] * len(steps)
    assert feed.health().counters.get("garbage", 0) == 0


def test_survives_drop_streams_and_resyncs_the_price_set_during_the_gap() -> None:
    with running_sim() as sim:
        feed = sim_feed(sim)
        with running(feed) as got:
            sim.set_price("BTC/USDT", Decimal("30001"))
            got.wait_market(1)
            assert sim.drop_streams() == 1
            assert wait_until(lambda: not feed.health().connected)
            sim.set_price("BTC/USDT", Decimal("30002"))  # while we are away (0.2 s backoff)
            assert wait_until(lambda: subscribed(feed, 2))
            sim.set_price("BTC/USDT", Decimal("30003"))
            got.wait_for(lambda evs: any(isinstance(e, MarketData) and e.price == 30003
                                         for e in evs))
    btc = [(type(e).__name__, getattr(e, "price", None)) for e in got.snapshot()
           if getattr(e, "symbol", "BTC/USDT") == "BTC/USDT"]
    assert btc == [("MarketData", Decimal("30001")), ("FeedError", None),
                   ("MarketData", Decimal("30002")),  # REST resync: the gap's price
                   ("MarketData", Decimal("30003"))]
    eth = [m for m in got.market() if m.symbol == "ETH/USDT"]
    assert [m.price for m in eth] == [Decimal("2000")]  # resynced too
    assert got.feed_errors()[0].error_type == "StreamGap"
    assert feed.health().reconnects == 1


def test_config_builds_the_stream_feed_and_the_engine_runs_it_to_the_strategy() -> None:
    with running_sim() as sim:
        section = BinanceStreamFeedSection.model_validate({
            "type": "binance_stream", "ws_url": sim.ws_url, "rest_url": sim.rest_url,
            "symbols": ["BTC/USDT"], "streams": ["trade", "kline_1m"], "stale_after_s": 5,
            "ping_interval_s": 2, "ping_timeout_s": 1, "reconnect_initial_s": 0.05,
            "reconnect_max_s": 0.2})
        feed = build_feed(section, SystemClock())
        assert isinstance(feed, BinanceStreamFeed)
        assert feed.kinds == ("trade", "kline_1m") and feed.settings.stale_after_s == 5
        assert feed.settings.backoff.initial_s == 0.05
        strategy = RecordingStrategy()
        engine = LiveTradingEngine(strategy, feeds=[feed])
        engine.start()
        try:
            assert wait_until(lambda: subscribed(feed, 1))
            sim.set_price("BTC/USDT", Decimal("31000"))
            assert strategy.wait_for(lambda s: any(m.price == 31000
                                                   for m in s.of("market_data")), 5)
            sim.drop_streams()
            assert strategy.wait_for(lambda s: any(isinstance(e, FeedError)
                                                   for e in s.of("error")), 5)
        finally:
            engine.stop()
        assert feed.finished
    errors = strategy.of("error")
    assert [e.error_type for e in errors] == ["StreamGap"]
