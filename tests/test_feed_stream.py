"""BinanceStreamFeed against a test websocket server: parsing, reconnect, resync, staleness.

Real sockets on 127.0.0.1 and the real websocket-client; the servers are in ``wskit``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from wskit import (
    EventRecorder,
    SilentServer,
    StreamServer,
    TickerServer,
    server_frame,
    servers,
    trade_frame,
    wait_until,
)

from livetrade.events import FeedError, MarketData, Severity, SystemErrorEvent
from livetrade.feeds.binance_stream import BinanceStreamFeed
from livetrade.feeds.health import Backoff
from livetrade.feeds.stream_settings import StreamSettings
from livetrade.feeds.wire import BadFrame, decimal_field

FAST = StreamSettings(stale_after_s=5.0, ping_interval_s=2.0, ping_timeout_s=1.0,
                      connect_timeout_s=2.0, resync_timeout_s=2.0,
                      backoff=Backoff(initial_s=0.02, max_s=0.1, jitter=0.0))


@contextmanager
def running(feed: BinanceStreamFeed) -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    feed.start(recorder)
    try:
        yield recorder
    finally:
        feed.stop()
        assert feed.join(3.0), "feed thread still alive 3 s after stop"


def make_feed(stream: StreamServer, rest: TickerServer | None = None, *,
              symbols: tuple[str, ...] = ("BTC/USDT",), streams: tuple[str, ...] = ("trade",),
              settings: StreamSettings = FAST, **kw: Any) -> BinanceStreamFeed:
    return BinanceStreamFeed(stream.url, symbols, rest_url=rest.url if rest else None,
                             streams=streams, settings=settings, **kw)


def combined(stream: str, data: dict[str, Any]) -> str:
    return json.dumps({"stream": stream, "data": data})


def test_trade_book_and_closed_kline_frames_become_decimal_market_data() -> None:
    with servers() as (stream, rest):
        feed = make_feed(stream, rest, symbols=("BTC/USDT", "ETH/USDT"),
                         streams=("trade", "bookTicker", "kline_1m"))
        with running(feed) as got:
            stream.wait_open(1)
            assert stream.paths[0] == ("/stream?streams=btcusdt@trade/btcusdt@bookTicker/"
                                       "btcusdt@kline_1m/ethusdt@trade/ethusdt@bookTicker/"
                                       "ethusdt@kline_1m")
            stream.send_trade("BTCUSDT", "30000.10", "0.25", t_ms=1_700_000_000_123)
            stream.send(combined("ethusdt@bookTicker", {"u": 7, "s": "ETHUSDT",
                                                        "b": "1999.5", "B": "3",
                                                        "a": "2000.5", "A": "4"}))
            kline = {"t": 1_700_000_040_000, "T": 1_700_000_099_999, "s": "BTCUSDT", "i": "1m",
                     "o": "1", "h": "3", "l": "0.5", "c": "2", "v": "10", "x": False}
            stream.send(combined("btcusdt@kline_1m", {"e": "kline", "E": 1, "s": "BTCUSDT",
                                                      "k": kline}))
            stream.send(combined("btcusdt@kline_1m", {"e": "kline", "E": 1, "s": "BTCUSDT",
                                                      "k": {**kline, "x": True}}))
            trade, quote, bar = got.wait_market(3)
    assert trade == MarketData(symbol="BTC/USDT", price=Decimal("30000.10"),
                               volume=Decimal("0.25"),
                               timestamp=datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC))
    assert (quote.symbol, quote.bid, quote.ask, quote.price) == (
        "ETH/USDT", Decimal("1999.5"), Decimal("2000.5"), Decimal("2000.0"))
    assert (bar.open, bar.high, bar.low, bar.close, bar.price, bar.volume) == (
        Decimal(1), Decimal(3), Decimal("0.5"), Decimal(2), Decimal(2), Decimal(10))
    assert bar.timestamp == datetime(2023, 11, 14, 22, 15, tzinfo=UTC)  # bar end: T + 1 ms
    assert all(isinstance(v, Decimal) for v in (trade.price, trade.volume, quote.bid))
    assert feed.health().counters["events"] == 3
    assert feed.health().counters.get("garbage", 0) == 0


def test_subscribes_on_open_and_counts_the_ack_as_a_control_frame() -> None:
    with servers() as (stream, _rest):
        feed = make_feed(stream)
        with running(feed) as got:
            stream.wait_open(1)
            frame = json.loads(next(m for _, m in stream.received))
            assert frame["method"] == "SUBSCRIBE" and frame["params"] == ["btcusdt@trade"]
            stream.send(json.dumps({"result": None, "id": frame["id"]}))
            stream.send_trade("BTCUSDT", "1")
            got.wait_market(1)
            assert feed.health().counters["control_frames"] == 1
            assert feed.health().connected


def test_forced_disconnect_reconnects_resubscribes_and_resyncs_before_new_stream_data() -> None:
    with servers({"BTCUSDT": "30500"}) as (stream, rest):
        feed = make_feed(stream, rest)
        with running(feed) as got:
            stream.wait_open(1)
            stream.send_trade("BTCUSDT", "30000")
            got.wait_market(1)
            stream.drop()
            stream.wait_open(2)  # the second connection subscribed again
            stream.send_trade("BTCUSDT", "30600")
            got.wait_market(3)
            health = feed.health()
    kinds = [(type(e).__name__, getattr(e, "error_type", None), getattr(e, "price", None))
             for e in got.snapshot()]
    assert kinds == [("MarketData", None, Decimal("30000")),
                     ("FeedError", "StreamGap", None),
                     ("MarketData", None, Decimal("30500")),   # REST resync, before the stream
                     ("MarketData", None, Decimal("30600"))]
    resynced = got.market()[1]
    assert (resynced.bid, resynced.ask, resynced.volume) == (
        Decimal("30499"), Decimal("30501"), Decimal(0))
    assert rest.requests == ["/api/v3/ticker/24hr?symbol=BTCUSDT"]
    assert stream.subscribed(1) and stream.subscribed(2)
    assert health.reconnects == 1 and health.counters["resyncs"] == 1


def test_a_failing_resync_is_reported_and_the_stream_resumes() -> None:
    with servers() as (stream, rest):
        rest.fail_with = 503
        feed = make_feed(stream, rest)
        with running(feed) as got:
            stream.wait_open(1)
            stream.drop()
            stream.wait_open(2)
            stream.send_trade("BTCUSDT", "42")
            got.wait_market(1)
    assert [e.error_type for e in got.feed_errors()] == ["StreamGap", "ResyncFailed"]
    assert feed.health().counters["resync_failures"] == 1


def test_many_disconnects_back_off_exponentially_up_to_the_cap() -> None:
    delays: list[float] = []

    def recording_sleep(seconds: float) -> None:
        delays.append(seconds)
        time.sleep(seconds)  # at most 40 ms: stop stays prompt

    with servers() as (stream, _rest):
        feed = make_feed(stream, sleep=recording_sleep, settings=StreamSettings(
            ping_interval_s=0, backoff=Backoff(initial_s=0.01, max_s=0.04, jitter=0.0)))
        with running(feed):
            for n in range(1, 5):
                stream.wait_open(n)
                stream.drop()
            stream.wait_open(5)
            assert feed.health().reconnects == 4
    # no data came on any connection, so the attempt count never resets
    assert delays[:4] == [0.01, 0.02, 0.04, 0.04]


def test_staleness_is_flagged_once_and_cleared_by_fresh_data() -> None:
    with servers() as (stream, _rest):
        feed = make_feed(stream, settings=StreamSettings(stale_after_s=0.3, ping_interval_s=0))
        with running(feed) as got:
            stream.wait_open(1)
            stream.send_trade("BTCUSDT", "1")
            got.wait_market(1)
            got.wait_for(lambda evs: any(getattr(e, "error_type", "") == "FeedStale"
                                         for e in evs), timeout_s=3)
            assert feed.health().stale and not feed.health().healthy
            time.sleep(0.4)  # a second silence period: still one alert per episode
            assert len(got.errors("FeedStale")) == 1
            stream.send_trade("BTCUSDT", "2")
            got.wait_market(2)
            assert not feed.health().stale
    stale = got.errors("FeedStale")[0]
    assert stale.severity is Severity.WARNING and not isinstance(stale, FeedError)
    assert stale.source == "feed:binance_stream"
    names = [getattr(e, "error_type", "md") for e in got.snapshot()]
    assert names == ["md", "FeedStale", "FeedRecovered", "md"]
    assert feed.health().counters["stale_episodes"] == 1


def test_a_resync_after_a_stale_silence_ends_the_stale_episode() -> None:
    with servers({"BTCUSDT": "31000"}) as (stream, rest):
        feed = make_feed(stream, rest, settings=StreamSettings(
            stale_after_s=0.3, ping_interval_s=0, backoff=Backoff(initial_s=0.02, jitter=0)))
        with running(feed) as got:
            stream.wait_open(1)
            stream.send_trade("BTCUSDT", "30000")
            got.wait_for(lambda evs: any(getattr(e, "error_type", "") == "FeedStale"
                                         for e in evs), timeout_s=3)
            stream.drop()
            got.wait_market(2)
            assert not feed.health().stale
    names = [getattr(e, "error_type", "md") for e in got.snapshot()]
    assert names[:5] == ["md", "FeedStale", "StreamGap", "FeedRecovered", "md"]
    assert got.market()[1].price == Decimal("31000")


GARBAGE: list[tuple[str, str | bytes, bool | None]] = [
    ("not_json", "\x00\x01 not json {", None),
    ("not_utf8", bytes([0xFF, 0xFE, 0x80, 0x81]), True),
    ("binary", bytes(range(256)), None),
    ("oversize", "x" * 70_000, None),
    ("bad_shape", "[1, 2, 3]", None),
    ("bad_shape", json.dumps({"stream": "btcusdt@trade", "data": "nope"}), None),
    ("bad_shape", json.dumps({"data": {}}), None),
    ("unknown_stream", json.dumps({"stream": "dogeusdt@trade", "data": {}}), None),
    ("bad_number", json.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "s": "BTCUSDT", "p": "NaN", "q": "1", "T": 1}}), None),
    ("bad_number", json.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "s": "BTCUSDT", "p": "1e999", "q": "1", "T": 1}}), None),
    ("bad_number", json.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "s": "BTCUSDT", "p": "-3", "q": "1", "T": 1}}), None),
    ("bad_number", json.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "s": "BTCUSDT", "p": "1", "q": "1", "T": "soon"}}), None),
    ("not_json", '{"stream": "btcusdt@trade", "data": {"p": NaN}}', None),
    ("not_json", "[" * 30_000 + "]" * 30_000, None),  # deeper than json can recurse
    ("venue_error", json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": 1}),
     None),
]


def test_garbage_frames_are_counted_by_reason_and_good_frames_around_them_delivered() -> None:
    with servers() as (stream, _rest):
        settings = StreamSettings(ping_interval_s=0, max_message_bytes=64_000)
        feed = make_feed(stream, settings=settings)
        with running(feed) as got:
            stream.wait_open(1)
            for n, (_reason, frame, text) in enumerate(GARBAGE):
                stream.send_trade("BTCUSDT", str(n + 1))
                stream.send(frame, text=text)
            stream.send_trade("BTCUSDT", "999")
            got.wait_market(len(GARBAGE) + 1)
            health = feed.health()
    assert [m.price for m in got.market()] == [Decimal(n + 1) for n in range(len(GARBAGE))] + [
        Decimal(999)]
    assert all(isinstance(e, MarketData) for e in got.snapshot())
    expected: dict[str, int] = {}
    for reason, _frame, _text in GARBAGE:
        expected[f"garbage.{reason}"] = expected.get(f"garbage.{reason}", 0) + 1
    assert {k: v for k, v in health.counters.items() if k.startswith("garbage.")} == expected
    assert health.counters["garbage"] == len(GARBAGE)
    assert health.reconnects == 0 and stream.opened == 1  # never dropped the connection


def test_answers_server_pings_and_its_own_pings_get_pongs() -> None:
    with servers() as (stream, _rest):
        feed = make_feed(stream, settings=StreamSettings(ping_interval_s=0.2,
                                                         ping_timeout_s=0.1))
        with running(feed):
            stream.wait_open(1)
            pongs = [c.ping(b"are-you-there") for c in stream.live()]
            assert all(p.wait(2) for p in pongs)  # websocket-client answered our ping
            assert wait_until(lambda: feed.health().counters.get("pongs_received", 0) >= 2)
            assert feed.health().counters["pings_received"] == 1
            assert feed.health().reconnects == 0


def test_a_peer_that_never_answers_pings_is_dropped_and_reconnected() -> None:
    silent = SilentServer()
    try:
        feed = BinanceStreamFeed(silent.url, ["BTC/USDT"], settings=StreamSettings(
            ping_interval_s=0.2, ping_timeout_s=0.1, stale_after_s=30,
            backoff=Backoff(initial_s=0.01, max_s=0.02)))
        with running(feed):
            assert wait_until(lambda: feed.health().reconnects >= 1, timeout_s=4)
            assert feed.health().counters["disconnects"] >= 1
    finally:
        silent.close()


@pytest.mark.parametrize("phase", ["backoff", "connected", "handshake", "resync"])
def test_stop_is_prompt_in_every_phase(phase: str) -> None:
    silent = SilentServer()
    try:
        with servers() as (stream, rest):
            url = stream.url
            settings = FAST
            if phase == "backoff":
                stream.close()  # nothing listens: connect fails, the feed waits 60 s
                settings = StreamSettings(backoff=Backoff(initial_s=60, max_s=60))
            elif phase == "handshake":
                url = silent.url  # TCP accepted, handshake answered, then silence
            feed = BinanceStreamFeed(url, ["BTC/USDT"], rest_url=rest.url, settings=settings)
            recorder = EventRecorder()
            feed.start(recorder)
            if phase == "backoff":
                assert wait_until(lambda: feed.health().counters.get("backoff_waits", 0) >= 1)
            elif phase == "connected":
                stream.wait_open(1)
            elif phase == "handshake":
                assert wait_until(lambda: silent.accepted >= 1)
            else:
                rest.delay_s = 0.5
                stream.wait_open(1)
                stream.drop()
                assert wait_until(lambda: len(rest.requests) >= 1)
            started = time.monotonic()
            feed.stop()
            assert feed.join(2.0)
            assert time.monotonic() - started < 2.0
            assert not [t.name for t in threading.enumerate()
                        if t.name.startswith("livetrade-feed-binance_stream")]
    finally:
        silent.close()


def test_health_before_start_and_after_stop_says_disconnected() -> None:
    with servers() as (stream, _rest):
        feed = make_feed(stream)
        assert not feed.health().connected and feed.health().last_message_age_s is None
        with running(feed) as got:
            stream.wait_open(1)
            stream.send_trade("BTCUSDT", "5")
            got.wait_market(1)
            assert feed.health().connected and feed.health().healthy
            age = feed.health().last_message_age_s
            assert age is not None and age >= 0
        assert not feed.health().connected
        assert not any(isinstance(e, SystemErrorEvent) for e in got.snapshot())


@pytest.mark.parametrize("text", ["1e9", "NaN", "Infinity", "-1", "+1", "1.2.3", "", ".",
                                  " 1", "0x1", "١٢", "²", "9" * 62])
def test_only_plain_decimal_strings_are_numbers(text: str) -> None:
    with pytest.raises(BadFrame) as caught:
        decimal_field({"p": text}, "p", positive=False)
    assert caught.value.reason == "bad_number"


@pytest.mark.parametrize(("text", "value"), [("30000.10", "30000.10"), (".5", "0.5"),
                                             ("0.00000001", "1E-8"), ("7", "7")])
def test_plain_decimal_strings_keep_their_exact_value(text: str, value: str) -> None:
    assert decimal_field({"p": text}, "p", positive=True) == Decimal(value)


def test_frames_that_arrive_together_with_nothing_after_them_are_all_delivered() -> None:
    # Three trades in the handshake's own TCP write, then silence: the feed reads them in
    # one go, so the read loop must take the second and third from memory instead of
    # waiting on select for bytes that never come.
    frames = b"".join(server_frame(trade_frame("BTCUSDT", f"3000{k}", trade_id=k))
                      for k in range(3))
    silent = SilentServer(greeting=frames)
    try:
        feed = BinanceStreamFeed(silent.url, ["BTC/USDT"], settings=StreamSettings(
            ping_interval_s=0, stale_after_s=30, backoff=Backoff(initial_s=0.01, max_s=0.02)))
        with running(feed) as got:
            ticks = got.wait_market(3, timeout_s=3.0)
    finally:
        silent.close()
    assert [t.price for t in ticks] == [Decimal("30000"), Decimal("30001"), Decimal("30002")]
