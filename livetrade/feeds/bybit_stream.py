"""Bybit v5 public market data over websocket: the venue part of :class:`WebSocketFeed`.

Works against Bybit (``wss://stream.bybit.com``, testnet ``wss://stream-testnet.bybit.com``)
and ``livetrade sim-exchange --dialect bybit``. One connection per category: spot symbols
("BTC/USDT") read ``/v5/public/spot``, linear perpetuals ("BTC/USDT:USDT") read
``/v5/public/linear``; one feed serves one category. Topics:

* ``publicTrade.<id>`` → a tick per trade: ``price`` p, ``volume`` v, at the trade time T;
* ``tickers.<id>`` → a quote: ``price`` lastPrice, ``bid``/``ask`` from bid1Price/ask1Price,
  at the frame's ``ts``. Linear tickers arrive as a snapshot then deltas with only the
  changed fields: the feed merges them per symbol and publishes the merged view.

After a reconnect, ``GET /v5/market/tickers?category=..&symbol=..`` per symbol gives the
resync quote. Heartbeats are websocket pings (the base class); Bybit also documents a JSON
``{"op": "ping"}`` every 20 s, which a connection that carries trades does not need.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from livetrade.clock import Clock
from livetrade.config import BybitStreamFeedSection
from livetrade.errors import ConfigError, DataFeedError
from livetrade.events import MarketData, trade_tick, trusted
from livetrade.feeds.base import DataFeed
from livetrade.feeds.stream_settings import StreamSettings, stream_settings
from livetrade.feeds.wire import BadFrame, as_object, decimal_field, fetch_json, ms_field
from livetrade.feeds.ws_base import WebSocketFeed

KINDS = ("publicTrade", "tickers")
_ARGS_PER_FRAME = 10  # Bybit spot accepts at most 10 topics per subscribe frame


def bybit_id(symbol: str) -> str:
    """"BTC/USDT" or "BTC/USDT:USDT" → "BTCUSDT"."""
    return symbol.split(":", 1)[0].replace("/", "").upper()


def category_of(symbols: Sequence[str]) -> str:
    """"linear" when every symbol is a perpetual ("BASE/QUOTE:SETTLE"), "spot" when none."""
    perps = {":" in s for s in symbols}
    if perps == {True}:
        return "linear"
    if perps == {False}:
        return "spot"
    raise ConfigError("a Bybit stream serves one category: spot or linear symbols, not both",
                      ["use one bybit_stream feed per category"])


class BybitStreamFeed(WebSocketFeed):
    """Bybit v5 public topics → ``MarketData``; robust (see ``ws_base``)."""

    name = "bybit_stream"

    def __init__(self, ws_url: str, symbols: Sequence[str], *, rest_url: str | None = None,
                 kinds: Sequence[str] = ("publicTrade",),
                 settings: StreamSettings | None = None, clock: Clock | None = None,
                 sleep: Callable[[float], object] | None = None) -> None:
        super().__init__(settings or StreamSettings(), clock=clock, sleep=sleep)
        if not symbols or not kinds:
            raise ConfigError("BybitStreamFeed needs at least one symbol and one kind")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ConfigError(f"unsupported Bybit topic kind {bad[0]!r}",
                              [f"kinds: use {', '.join(KINDS)}"])
        self.category = category_of(symbols)
        self.ws_url = ws_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self.symbols = tuple(symbols)
        self._by_id = {bybit_id(s): s for s in self.symbols}
        self._topics = [f"{kind}.{bybit_id(s)}" for s in self.symbols for kind in kinds]
        self._tickers: dict[str, dict[str, Any]] = {}
        self._req = 0

    # -- WebSocketFeed hooks ------------------------------------------------------------------
    def stream_url(self) -> str:
        return f"{self.ws_url}/v5/public/{self.category}"

    def subscribe_frames(self) -> list[str]:
        self._tickers.clear()  # deltas after a reconnect start from a fresh snapshot
        frames = []
        for start in range(0, len(self._topics), _ARGS_PER_FRAME):
            self._req += 1
            frames.append(json.dumps({"op": "subscribe", "req_id": str(self._req),
                                      "args": self._topics[start:start + _ARGS_PER_FRAME]}))
        return frames

    def decode(self, payload: Any) -> list[MarketData]:
        frame = as_object(payload, "frame")
        if "op" in frame and "topic" not in frame:
            if frame.get("success") is False:
                raise BadFrame("venue_error", str(frame.get("ret_msg"))[:200])
            return []  # subscribe ack or pong
        topic = frame.get("topic")
        if not isinstance(topic, str) or "." not in topic:
            raise BadFrame("bad_shape", "no 'topic' in a data frame")
        kind, _, wire_id = topic.partition(".")
        symbol = self._by_id.get(wire_id)
        if symbol is None or kind not in KINDS:
            raise BadFrame("unknown_stream", topic[:80])
        if kind == "publicTrade":
            trades = frame.get("data")
            if not isinstance(trades, list):
                raise BadFrame("bad_shape", "publicTrade data is not a list")
            return [self._trade(symbol, wire_id, as_object(t, "trade")) for t in trades]
        data = as_object(frame.get("data"), "ticker")
        merged = data if frame.get("type") != "delta" else {
            **self._tickers.get(wire_id, {}), **data}
        self._tickers[wire_id] = merged
        return [self._quote(symbol, merged, frame)]

    def resync(self, timeout_s: float) -> list[MarketData]:
        if self.rest_url is None:
            return []
        deadline = time.monotonic() + timeout_s
        out = []
        for symbol in self.symbols:
            if self.stopping:
                break
            answer = self._get({"category": self.category, "symbol": bybit_id(symbol)},
                               deadline)
            try:
                body = as_object(answer, "answer")
                if body.get("retCode") != 0:
                    raise BadFrame("venue_error", str(body.get("retMsg"))[:200])
                items = as_object(body.get("result"), "result").get("list")
                if not isinstance(items, list) or not items:
                    raise BadFrame("bad_shape", "no ticker in the answer")
                ticker = as_object(items[0], "ticker")
                self._tickers[bybit_id(symbol)] = ticker
                out.append(self._quote(symbol, ticker, body))
            except BadFrame as bad:
                raise DataFeedError("bad /v5/market/tickers answer", symbol=symbol,
                                    reason=bad.reason, detail=bad.detail) from bad
        return out

    # -- shapes -------------------------------------------------------------------------------
    @staticmethod
    def _trade(symbol: str, wire_id: str, t: dict[str, Any]) -> MarketData:
        if t.get("s") != wire_id:
            raise BadFrame("bad_shape", f"trade symbol {str(t.get('s'))[:20]!r}")
        return trade_tick(symbol, ms_field(t, "T"), decimal_field(t, "p", positive=True),
                          decimal_field(t, "v", positive=False))

    def _quote(self, symbol: str, t: dict[str, Any], frame: dict[str, Any]) -> MarketData:
        stamp_key = "ts" if "ts" in frame else "time"
        when = ms_field(frame, stamp_key) if stamp_key in frame else self._clock.now()
        bid = decimal_field(t, "bid1Price", positive=False) if "bid1Price" in t else None
        ask = decimal_field(t, "ask1Price", positive=False) if "ask1Price" in t else None
        return trusted(MarketData, symbol=symbol, timestamp=when,
                       price=decimal_field(t, "lastPrice", positive=True),
                       bid=bid if bid else None, ask=ask if ask else None)

    def _get(self, params: dict[str, str], deadline: float) -> Any:
        """``GET /v5/market/tickers``, bounded by ``deadline`` (monotonic). Blocks."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DataFeedError("resync ran out of time")
        url = f"{self.rest_url}/v5/market/tickers?{urllib.parse.urlencode(params)}"
        return fetch_json(url, remaining)


def bybit_feed_from_section(section: BybitStreamFeedSection, clock: Clock) -> DataFeed:
    """The feed a ``[[feeds]] type = "bybit_stream"`` table describes."""
    settings = stream_settings(section, "bybit_stream")
    return BybitStreamFeed(section.ws_url, section.symbols, rest_url=section.rest_url,
                 kinds=section.kinds, settings=settings, clock=clock)
