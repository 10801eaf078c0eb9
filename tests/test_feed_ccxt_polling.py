"""CCXTPollingFeed: ccxt's real ``binance`` class polling the exchange simulator over loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from simkit import running_sim
from wskit import EventRecorder, wait_until

from livetrade.app import build_feed
from livetrade.clock import SystemClock
from livetrade.config import CCXTPollingFeedSection
from livetrade.errors import ConfigError
from livetrade.events import Severity
from livetrade.feeds.ccxt_polling import CCXTPollingFeed, ccxt_exchange
from livetrade.feeds.health import Backoff
from livetrade.simexchange import FaultConfig, SimExchange

TICKERS = ("GET /api/v3/ticker/24hr",)


def polling_feed(sim: SimExchange, *, interval_s: float = 0.05, stale_after_s: float = 30.0,
                 backoff: Backoff | None = None, timeout_ms: int = 2000) -> CCXTPollingFeed:
    exchange = ccxt_exchange("binance", rest_url=sim.rest_url, timeout_ms=timeout_ms,
                             enable_rate_limit=False)
    return CCXTPollingFeed(exchange, ["BTC/USDT", "ETH/USDT"], interval_s=interval_s,
                           stale_after_s=stale_after_s,
                           backoff=backoff or Backoff(initial_s=0.05, max_s=0.1, jitter=0))


@contextmanager
def running(feed: CCXTPollingFeed) -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    feed.start(recorder)
    try:
        yield recorder
    finally:
        feed.stop()
        assert feed.join(3.0), "feed thread still alive 3 s after stop"


def test_publishes_each_symbol_once_then_only_what_changed() -> None:
    with running_sim() as sim:
        feed = polling_feed(sim)
        with running(feed) as got:
            first = got.wait_market(2)
            polls = feed.health().counters["polls"]
            assert wait_until(lambda: feed.health().counters["polls"] >= polls + 3)
            assert len(got.market()) == 2  # unchanged tickers publish nothing
            sim.set_price("BTC/USDT", Decimal("30100.5"))
            third = got.wait_market(3)[2]
            assert feed.health().connected
    assert {(m.symbol, m.price) for m in first} == {("BTC/USDT", Decimal("30000")),
                                                   ("ETH/USDT", Decimal("2000"))}
    assert third.symbol == "BTC/USDT" and third.price == Decimal("30100.5")
    assert isinstance(third.bid, Decimal) and isinstance(third.ask, Decimal)
    assert third.bid < third.price < third.ask and third.volume == 0
    assert feed.health().counters.get("garbage", 0) == 0 and not feed.health().connected


def test_venue_errors_report_once_back_off_and_recover() -> None:
    with running_sim() as sim:
        feed = polling_feed(sim)
        with running(feed) as got:
            got.wait_market(2)
            sim.faults.set(FaultConfig(error_rate=1.0, scope=TICKERS))
            assert wait_until(lambda: feed.health().counters.get("poll_errors", 0) >= 3)
            assert not feed.health().connected
            sim.faults.clear()
            got.wait_for(lambda evs: any(getattr(e, "error_type", "") == "FeedRecovered"
                                         for e in evs))
            sim.set_price("ETH/USDT", Decimal("2001"))
            got.wait_market(3)
    failures = got.feed_errors()
    assert len(failures) == 1  # one report per failure streak, not one per poll
    assert failures[0].error_type == "OperationFailed"  # ccxt's class for Binance -1001
    assert failures[0].severity is Severity.WARNING and failures[0].context["transient"] == "True"
    assert feed.health().reconnects == 1


def test_a_frozen_venue_is_flagged_stale_and_cleared_by_a_change() -> None:
    with running_sim() as sim:
        feed = polling_feed(sim, stale_after_s=0.3)
        with running(feed) as got:
            got.wait_market(2)
            got.wait_for(lambda evs: any(getattr(e, "error_type", "") == "FeedStale"
                                         for e in evs))
            assert feed.health().stale and feed.health().connected
            sim.set_price("BTC/USDT", Decimal("29999"))
            got.wait_market(3)
            assert not feed.health().stale
    names = [getattr(e, "error_type", "md") for e in got.snapshot()]
    assert names == ["md", "md", "FeedStale", "FeedRecovered", "md"]


@pytest.mark.parametrize("phase", ["backoff", "blocked_request"])
def test_stop_is_prompt_while_backing_off_or_blocked_on_the_venue(phase: str) -> None:
    with running_sim() as sim:
        if phase == "backoff":
            sim.faults.set(FaultConfig(error_rate=1.0, scope=TICKERS))
            feed = polling_feed(sim, backoff=Backoff(initial_s=60, max_s=60))
        else:
            sim.faults.set(FaultConfig(timeout_rate=1.0, timeout_mode="hang",
                                       timeout_hold_s=30, scope=TICKERS))
            feed = polling_feed(sim, timeout_ms=500)
        recorder = EventRecorder()
        feed.start(recorder)
        assert wait_until(lambda: feed.health().counters.get("polls", 0) >= 1)
        started = time.monotonic()
        feed.stop()
        assert feed.join(2.0)
        assert time.monotonic() - started < 2.0
        sim.faults.clear()


def test_config_section_builds_a_polling_feed_pointed_at_rest_url() -> None:
    section = CCXTPollingFeedSection.model_validate({
        "type": "ccxt_poll", "exchange": "binance", "rest_url": "http://127.0.0.1:9",
        "symbols": ["BTC/USDT"], "interval_s": 0.5, "timeout_ms": 1234,
        "stale_after_s": 7})
    feed = build_feed(section, SystemClock())
    assert isinstance(feed, CCXTPollingFeed)
    assert feed.symbols == ("BTC/USDT",) and feed.interval_s == 0.5
    assert feed.exchange.urls["api"] == {"public": "http://127.0.0.1:9/api/v3",
                                         "private": "http://127.0.0.1:9/api/v3"}
    assert feed.exchange.timeout == 1234 and feed.exchange.number is str
    assert feed.health().counters == {} and not feed.health().connected


def test_unknown_exchange_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown ccxt exchange"):
        ccxt_exchange("no_such_venue")

