"""The bad-input drill's feed case: a hostile websocket server and the real Binance feed.

The server (``websockets.sync``: threads, no asyncio) sends, on one combined-stream
connection, good trade frames with ascending prices interleaved with every kind of bad
frame. The feed must deliver exactly the good ones, in order, and count the rest.
"""

from __future__ import annotations

import json
import random
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.sync.server import ServerConnection, serve

from livetrade.events import Event, MarketData
from livetrade.feeds.binance_stream import BinanceStreamFeed
from livetrade.feeds.stream_settings import StreamSettings

STREAM = "btcusdt@trade"
MAX_MESSAGE_BYTES = 64_000


def _trade(price: str, quantity: str = "1", symbol: str = "BTCUSDT",
           stream: str = STREAM) -> str:
    return json.dumps({"stream": stream, "data": {"e": "trade", "E": 1, "s": symbol,
                                                  "t": 1, "p": price, "q": quantity,
                                                  "T": 1_700_000_000_000, "m": False}})


def bad_frames(rng: random.Random) -> list[str | bytes]:
    """One of each kind of bad frame (random bytes vary with ``rng``)."""
    garbage = bytes(rng.randrange(256) for _ in range(64))
    return [
        garbage,                                          # binary frame of random bytes
        garbage.decode("latin-1"),                        # text that is not JSON
        "",                                               # empty text
        "[1, 2, 3]",                                      # JSON, not an object
        '{"stream": "btcusdt@trade"}',                    # no data
        '{"stream": 42, "data": {}}',                     # wrong type
        _trade("100", stream="dogeusdt@trade"),           # a stream we did not ask for
        _trade("100", symbol="ETHUSDT"),                  # data for another symbol
        _trade("NaN"), _trade("Infinity"), _trade("-1"), _trade("0"),
        _trade("1e999"), _trade("abc"), _trade("100", quantity="-5"),
        _trade("100", quantity="NaN"),
        '{"stream": "btcusdt@trade", "data": {"s": "BTCUSDT", "p": "1", "q": "1"}}',  # no T
        '{"stream": "btcusdt@trade", "data": ' + '[' * 50 + ']' * 50 + '}',  # nested junk
        _trade("1" * 5000),                               # absurd precision
        "x" * (MAX_MESSAGE_BYTES + 1),                    # oversized
        json.dumps({"code": -1121, "msg": "Invalid symbol."}),  # a venue error
    ]


def check_feed_frames(work: Path, scale: int, rng: random.Random) -> tuple[int, int, list[str]]:
    rounds = 5 * scale
    frames: list[str | bytes] = []
    good_prices: list[Decimal] = []
    bad = 0
    for n in range(rounds):
        for frame in bad_frames(rng):
            frames.append(frame)
            bad += 1
            price = Decimal(1000 + len(good_prices))
            good_prices.append(price)
            frames.append(_trade(str(price)))
        del n
    done = threading.Event()

    def handler(connection: ServerConnection) -> None:
        for frame in frames:
            connection.send(frame)
        done.wait(30)

    events: list[Event] = []
    failures: list[str] = []
    with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        feed = BinanceStreamFeed(f"ws://127.0.0.1:{port}", ["BTC/USDT"],
                                 settings=StreamSettings(max_message_bytes=MAX_MESSAGE_BYTES,
                                                         ping_interval_s=0))
        feed.start(events.append)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(isinstance(e, MarketData) for e in events) >= len(good_prices):
                break
            time.sleep(0.01)
        health = feed.health()
        done.set()
        feed.stop()
        feed.join(10)
        server.shutdown()
    delivered = [e.price for e in events if isinstance(e, MarketData)]
    if delivered != good_prices:
        failures.append(f"good frames delivered {len(delivered)}/{len(good_prices)}"
                        + ("" if len(delivered) < len(good_prices) else " (or out of order)"))
    garbage = health.counters.get("garbage", 0)
    if garbage != bad:
        failures.append(f"garbage counted {garbage}, sent {bad}: {_reasons(health.counters)}")
    if health.reconnects:
        failures.append(f"the feed reconnected {health.reconnects} time(s): a bad frame "
                        "broke the connection")
    return bad, min(garbage, bad) if not failures else garbage, failures


def _reasons(counters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counters.items()) if k.startswith("garbage"))
